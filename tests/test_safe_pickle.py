"""dataio.safe_pickle: real files load, hostile files run nothing."""
import datetime
import os
import pickle
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dataio.safe_pickle import (CorruptPickleError, UnsafePickleError,
                                     read_pickle_safely)

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


@pytest.mark.parametrize("name, rows", [("paddlerec_sample_stage1.pkl", 586),
                                        ("reproduction_sample_stage2.pkl", 5000)])
def test_pandas1_fixture_loads_like_pandas(name, rows):
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"shared fixture {path} is not available")
    df = read_pickle_safely(path)
    assert isinstance(df, pd.DataFrame)
    assert df.shape == (rows, 29)
    assert isinstance(df["interest1"].iloc[0], np.ndarray)
    pd.testing.assert_frame_equal(df, pd.read_pickle(path))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_current_pandas_frame_with_array_and_list_cells_round_trips(tmp_path, protocol):
    df = pd.DataFrame({
        "label": [1, 0, 1],
        "kw1": [np.arange(5), np.zeros(5, dtype=np.int64), np.array([7, 8, 9, 1, 1])],
        "topic1": [[1, 2, 3, 4, 5], [0] * 5, []],
        "name": ["a", None, "c"],
        "score": [0.5, 1.5, np.nan],
    })
    path = tmp_path / "frame.pkl"
    df.to_pickle(path, protocol=protocol)
    got = read_pickle_safely(path)
    pd.testing.assert_frame_equal(got, df)
    assert isinstance(got["kw1"].iloc[0], np.ndarray)
    assert got["topic1"].iloc[2] == []


def test_pandas_1_2_timestamp_layout_uses_compat_fallback(tmp_path):
    # pandas <= 1.2 reduced Timestamp to (value, freq, tz); the C unpickler
    # cannot rebuild that, only pandas' compat REDUCE does.
    class OldTimestamp:
        def __reduce__(self):
            return pd.Timestamp, (1577836800000000000, "D", datetime.timezone.utc)

    path = tmp_path / "ts.pkl"
    path.write_bytes(pickle.dumps(OldTimestamp(), protocol=4))
    assert read_pickle_safely(path) == pd.Timestamp("2020-01-01", tz="UTC")


class _Call:
    """Pickles as a call of ``func(*args)``, the way a hostile file is made."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _raw_call(module, name, arg):
    """Protocol-0 bytes calling module.name(arg), for names __reduce__ can't spell."""
    return f"c{module}\n{name}\n(V{arg}\ntR.".encode()


def _touch_code(marker):
    return f"open({str(marker)!r}, 'w').close()"


def _nested_in_frame(marker):
    cmd = _Call(os.system, "touch " + shlex.quote(str(marker)))
    return pickle.dumps(pd.DataFrame({"aid": [1, 2], "note": ["ok", cmd]}), protocol=5)


def _via_pandas_read_pickle(marker):
    inner = marker.with_name("inner.pkl")
    inner.write_bytes(pickle.dumps(_Call(os.system, "touch " + shlex.quote(str(marker)))))
    return _raw_call("pandas", "read_pickle", inner)


def _via_dataframe_method(marker):
    return pickle.dumps(_Call(pd.DataFrame.to_csv, pd.DataFrame({"a": [1]}), str(marker)),
                        protocol=5)


# (refused global as the message must name it, builder of the file's bytes).
_SYSTEM = f"{os.system.__module__}.system"  # posix.system on Linux
HOSTILE = {
    "os.system": (_SYSTEM, lambda m: pickle.dumps(
        _Call(os.system, "touch " + shlex.quote(str(m))))),
    "os.system by name": ("os.system", lambda m: _raw_call(
        "os", "system", "touch " + shlex.quote(str(m)))),
    "posix.system proto2": ("posix.system", lambda m: pickle.dumps(
        _Call(os.system, "touch " + shlex.quote(str(m))), protocol=2)),
    "eval": ("builtins.eval", lambda m: pickle.dumps(_Call(eval, _touch_code(m)))),
    "exec": ("builtins.exec", lambda m: pickle.dumps(_Call(exec, _touch_code(m)))),
    "Popen": ("subprocess.Popen", lambda m: pickle.dumps(
        _Call(subprocess.Popen, ["touch", str(m)]))),
    "check_call": ("subprocess.check_call", lambda m: pickle.dumps(
        _Call(subprocess.check_call, ["touch", str(m)]))),
    "nested in DataFrame": (_SYSTEM, _nested_in_frame),
    "pandas.read_pickle": ("pandas.read_pickle", _via_pandas_read_pickle),
    "DataFrame.to_csv": (f"{pd.DataFrame.to_csv.__module__}.{pd.DataFrame.to_csv.__qualname__}",
                         _via_dataframe_method),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_payload_is_live_under_plain_pickle(tmp_path, case):
    # Guards the test below: each payload really does create the marker.
    marker = tmp_path / "MARKER"
    result = pickle.loads(HOSTILE[case][1](marker))
    if isinstance(result, subprocess.Popen):
        result.wait()
    assert marker.exists()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_payload_is_refused_and_runs_nothing(tmp_path, case):
    refused, build = HOSTILE[case]
    marker = tmp_path / "MARKER"
    path = tmp_path / "hostile.pkl"
    path.write_bytes(build(marker))
    with pytest.raises(UnsafePickleError) as info:
        read_pickle_safely(path)
    assert str(path) in str(info.value)
    assert f"global {refused}" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("module, name", [
    ("builtins", "getattr"), ("builtins", "__import__"), ("builtins", "open"),
    ("functools", "partial"), ("operator", "attrgetter"), ("importlib", "import_module"),
    ("sys", "exit"), ("numpy", "load"), ("pandas", "eval"), ("pandas", "ExcelWriter"),
    ("pandas", "HDFStore"), ("pandas.io.parsers.readers", "TextFileReader"),
])
def test_other_dangerous_globals_are_refused(tmp_path, module, name):
    path = tmp_path / "hostile.pkl"
    path.write_bytes(_raw_call(module, name, "x"))
    with pytest.raises(UnsafePickleError, match=f"global {module}.{name}"):
        read_pickle_safely(path)


def test_refused_module_is_not_even_imported(tmp_path, monkeypatch):
    marker = tmp_path / "MARKER"
    (tmp_path / "evil_on_import.py").write_text(_touch_code(marker) + "\nf = print\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "hostile.pkl"
    path.write_bytes(_raw_call("evil_on_import", "f", "x"))
    with pytest.raises(UnsafePickleError, match="evil_on_import.f"):
        read_pickle_safely(path)
    assert not marker.exists()
    assert "evil_on_import" not in sys.modules


def _frame_bytes():
    return pickle.dumps(pd.DataFrame({"a": np.arange(1000), "kw1": [np.arange(5)] * 1000}),
                        protocol=5)


@pytest.mark.parametrize("content", [
    pytest.param(lambda: _frame_bytes()[: len(_frame_bytes()) // 2], id="truncated"),
    pytest.param(lambda: b"\x80\x05" + bytes(range(256)) * 4, id="garbage"),
    pytest.param(lambda: b"label,aid\n1,2\n", id="csv-not-pickle"),
    pytest.param(lambda: b"", id="empty"),
])
def test_corrupt_file_raises_corrupt_pickle_error(tmp_path, content):
    path = tmp_path / "broken.pkl"
    path.write_bytes(content())
    with pytest.raises(CorruptPickleError, match="corrupt or truncated") as info:
        read_pickle_safely(path)
    assert str(path) in str(info.value)


def test_missing_file_raises_file_not_found_naming_it(tmp_path):
    path = tmp_path / "nope.pkl"
    with pytest.raises(FileNotFoundError) as info:
        read_pickle_safely(path)
    assert str(path) in str(info.value)
