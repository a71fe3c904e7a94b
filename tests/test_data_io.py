"""dataio.stage_files.read_stage: real files, and bad files rejected clearly."""
import logging
import os
import pickle
import shutil

import numpy as np
import pandas as pd
import pytest

from helpers import FIXTURES, FULL_MAX_IDXS
from dataio import schema
from dataio.stage_files import DataError, read_stage
from dataio.frames import arrays_to_frame, write_pickle
from dataio.schema import IdMaxima

MAXIMA = IdMaxima.from_config(FULL_MAX_IDXS)


@pytest.mark.slow
@pytest.mark.parametrize("name, rows, campaigns", [
    ("paddlerec_sample_stage1.pkl", 586, 5),
    ("reproduction_sample_stage2.pkl", 5000, 86)])
def test_shared_fixtures_read(tmp_path, name, rows, campaigns):
    source = FIXTURES / name
    if not source.is_file():
        pytest.skip("shared fixture %s is not available" % source)
    # read through a link in tmp_path: whatever read_stage may write beside
    # the file it reads (a cache) lands here, not in the read-only shared/
    path = tmp_path / name
    path.symlink_to(source)
    stage = read_stage(str(path), MAXIMA)
    assert len(stage) == rows
    assert stage.static.shape == (rows, 7)
    assert stage.dynamic.shape == (rows, 50)
    assert stage.lengths.shape == (rows, 7)
    assert stage.ad.shape == (rows, 6)
    assert stage.label.shape == stage.aid.shape == (rows, )
    assert len(np.unique(stage.aid)) == campaigns
    assert set(np.unique(stage.label)) == {1}          # as released
    df = pd.read_pickle(path)
    np.testing.assert_array_equal(stage.aid, df["aid"].to_numpy())
    np.testing.assert_array_equal(stage.static[:, 2], df["LBS"].to_numpy())
    np.testing.assert_array_equal(stage.ad[:, 4], df["productId"].to_numpy())
    for j, (field, width) in enumerate(schema.DYNAMIC_FIELDS):
        n = stage.lengths[:, j]
        assert n.min() >= 0 and n.max() <= width
        np.testing.assert_array_equal(n, df[field + "_length"].to_numpy())
        block = stage.dynamic[:, schema.DYNAMIC_OFFSETS[j]:
                              schema.DYNAMIC_OFFSETS[j] + width]
        raw = np.stack(df[field].to_numpy())
        valid = np.arange(width)[None, :] < n[:, None]
        # valid ids kept, padded positions zeroed (released pad: max - 2)
        np.testing.assert_array_equal(block[valid], raw[valid])
        assert np.all(block[~valid] == 0)
        assert np.any(raw[~valid] == FULL_MAX_IDXS[1][j] - 2) or valid.all()
        assert block.max() <= FULL_MAX_IDXS[1][j]
    inputs = stage.inputs()
    assert [a.dtype for a in inputs] == [np.int64] * 4
    # a second read (from a cache, if there is one) gives the same arrays
    again = read_stage(str(path), MAXIMA)
    for field in ("label", "aid", "static", "dynamic", "lengths", "ad"):
        np.testing.assert_array_equal(getattr(again, field),
                                      getattr(stage, field))


def test_reading_a_shared_fixture_writes_nothing_into_shared():
    """shared/ is read-only for the project (shared/README.md)."""
    path = FIXTURES / "paddlerec_sample_stage1.pkl"
    if not path.is_file():
        pytest.skip("shared fixture %s is not available" % path)
    before = set(os.listdir(FIXTURES))
    try:
        read_stage(str(path), MAXIMA)
        assert set(os.listdir(FIXTURES)) == before
    finally:  # undo what a failing run wrote
        for extra in set(os.listdir(FIXTURES)) - before:
            shutil.rmtree(FIXTURES / extra, ignore_errors=True)


# ------------------------------------------------------ frames written here
def good_arrays(n=6, seed=0):
    rng = np.random.default_rng(seed)
    static = np.stack([rng.integers(0, m + 1, n) for m in FULL_MAX_IDXS[0]], 1)
    dynamic = np.concatenate([rng.integers(0, min(m, 50) + 1, (n, w))
                              for m, w in zip(FULL_MAX_IDXS[1],
                                              schema.DYNAMIC_LENGTHS)], 1)
    lengths = np.stack([rng.integers(0, w + 1, n)
                        for w in schema.DYNAMIC_LENGTHS], 1)
    ad = np.stack([rng.integers(0, m + 1, n) for m in FULL_MAX_IDXS[2]], 1)
    return dict(label=rng.integers(0, 2, n), aid=rng.integers(1, 4, n),
                static=static, dynamic=dynamic, lengths=lengths, ad=ad)


def good_frame(list_cells=False, **kw):
    arrays = good_arrays(**kw)
    pads = [m - 2 for m in FULL_MAX_IDXS[1]]
    return arrays_to_frame(pad_ids=pads, list_cells=list_cells, **arrays), arrays


def write_pickled(df, tmp_path, name="bad_stage1.pkl"):
    path = tmp_path / name
    write_pickle(df, str(path))
    return str(path)


def test_list_and_array_cells_read_the_same(tmp_path):
    arrays_df, arrays = good_frame(list_cells=False)
    lists_df, _ = good_frame(list_cells=True)
    assert isinstance(arrays_df["kw1"].iloc[0], np.ndarray)
    assert isinstance(lists_df["kw1"].iloc[0], list)
    a = read_stage(write_pickled(arrays_df, tmp_path, "a.pkl"), MAXIMA)
    b = read_stage(write_pickled(lists_df, tmp_path, "b.pkl"), MAXIMA)
    for field in ("label", "aid", "static", "dynamic", "lengths", "ad"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    valid = np.concatenate([np.arange(w)[None, :] < arrays["lengths"][:, [j]]
                            for j, w in enumerate(schema.DYNAMIC_LENGTHS)], 1)
    np.testing.assert_array_equal(a.dynamic[valid], arrays["dynamic"][valid])
    assert np.all(a.dynamic[~valid] == 0)


def test_stricter_max_idxs_on_a_second_read_is_an_error(tmp_path):
    df, arrays = good_frame()
    path = write_pickled(df, tmp_path)
    read_stage(path, MAXIMA)                # accepted, maybe cached
    top = int(arrays["static"][:, 2].max())
    strict = [list(m) for m in FULL_MAX_IDXS]
    strict[0][2] = top - 1
    with pytest.raises(DataError, match="'LBS'"):
        read_stage(path, IdMaxima.from_config(strict))


def test_padded_positions_may_hold_any_id(tmp_path):
    df, _ = good_frame()
    df.loc[0, "kw1_length"] = 2
    cell = np.array(df.at[0, "kw1"])
    cell[2:] = 10 ** 9                       # far above max_idxs: not checked
    df.at[0, "kw1"] = cell
    stage = read_stage(write_pickled(df, tmp_path), MAXIMA)
    off = schema.DYNAMIC_OFFSETS[3]
    assert list(stage.dynamic[0, off + 2:off + 5]) == [0, 0, 0]


def bad(tmp_path, df, *needles):
    path = write_pickled(df, tmp_path)
    with pytest.raises(DataError) as info:
        read_stage(path, MAXIMA)
    message = str(info.value)
    assert path in message
    for needle in needles:
        assert needle in message, message
    return message


def test_missing_column(tmp_path):
    df, _ = good_frame()
    bad(tmp_path, df.drop(columns=["topic2_length"]), "topic2_length", "missing")


def test_list_of_wrong_length(tmp_path):
    df, _ = good_frame()
    df.at[3, "interest2"] = np.arange(9)
    bad(tmp_path, df, "'interest2'", "10 ids", "row 3")


@pytest.mark.parametrize("value", [11, -1])
def test_length_out_of_range(tmp_path, value):
    df, _ = good_frame()
    df.loc[2, "interest3_length"] = value
    bad(tmp_path, df, "'interest3_length'", "row 2")


def test_static_id_above_max(tmp_path):
    df, _ = good_frame()
    df.loc[4, "LBS"] = 856
    bad(tmp_path, df, "'LBS'", "855", "row 4")


def test_ad_id_negative(tmp_path):
    df, _ = good_frame()
    df.loc[1, "productType"] = -1
    bad(tmp_path, df, "'productType'", "row 1")


def test_dynamic_id_above_max(tmp_path):
    df, _ = good_frame()
    df.loc[5, "topic1_length"] = 5
    cell = np.array(df.at[5, "topic1"])
    cell[4] = 10003                                # max is 10002
    df.at[5, "topic1"] = cell
    bad(tmp_path, df, "'topic1'", "10002", "row 5")


def test_label_two(tmp_path):
    df, _ = good_frame()
    df.loc[0, "label"] = 2
    bad(tmp_path, df, "'label'", "row 0")


def test_label_minus_one_is_read_as_zero_with_a_warning(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    df, arrays = good_frame()
    df["label"] = [-1, 1, -1, 0, 1, 1]
    path = write_pickled(df, tmp_path)
    stage = read_stage(path, MAXIMA)
    assert stage.label.tolist() == [0, 1, 0, 0, 1, 1]
    warned = [r.getMessage() for r in caplog.records
              if r.levelno == logging.WARNING]
    assert any(path in m and "-1" in m and "2 label" in m for m in warned)


@pytest.mark.parametrize("column", ["age", "kw2_length", "aid", "campaignId"])
def test_nan_in_a_scalar_column(tmp_path, column):
    df, _ = good_frame()
    df[column] = df[column].astype(float)
    df.loc[3, column] = np.nan
    bad(tmp_path, df, repr(column), "row 3")


def test_fractional_value_in_a_scalar_column(tmp_path):
    df, _ = good_frame()
    df["age"] = df["age"].astype(float)
    df.loc[2, "age"] = 1.5
    bad(tmp_path, df, "'age'", "row 2")


def test_fractional_id_in_a_list_column(tmp_path):
    df, _ = good_frame()
    df.loc[0, "interest1_length"] = 10
    df.at[0, "interest1"] = np.array([3.7] + [1.0] * 9)
    bad(tmp_path, df, "'interest1'", "row 0")


def test_not_a_dataframe(tmp_path):
    path = tmp_path / "list_stage1.pkl"
    write_pickle([1, 2, 3], str(path))
    with pytest.raises(DataError, match="DataFrame"):
        read_stage(str(path), MAXIMA)


class _Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch %s" % self.marker, ))


def test_hostile_pickle_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil_stage1.pkl"
    path.write_bytes(pickle.dumps({"frame": _Hostile(marker)}))
    with pytest.raises(ValueError, match="os|posix|system"):
        read_stage(str(path), MAXIMA)
    assert not marker.exists()
    # the control: plain unpickling does run the command
    pickle.loads(path.read_bytes())
    assert marker.exists()
