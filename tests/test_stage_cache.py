"""The columnar cache of stage files: hits, misses, invalidation, atomicity."""
import os
import sys

import numpy as np
import pytest

from helpers import ROOT, SMALL_MAX_IDXS, random_inputs
from dataio import schema
from dataio import stage_cache
from dataio.stage_files import DataError, read_stage
from dataio.frames import arrays_to_frame, write_pickle

MAXIMA = schema.IdMaxima.from_config(SMALL_MAX_IDXS)


def write_stage(path, n=60, seed=0):
    rng = np.random.default_rng(seed)
    static, dynamic, lengths, ad = random_inputs(rng, n)
    write_pickle(arrays_to_frame(rng.integers(0, 2, n), rng.integers(1, 4, n),
                                 static, dynamic, lengths, ad), str(path))


def assert_same(a, b):
    for field in ("label", "aid", "static", "dynamic", "lengths", "ad"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    rows = np.array([3, 0, 3, 7])
    for x, y in zip(a.inputs(rows), b.inputs(rows)):
        np.testing.assert_array_equal(x, y)


def test_second_read_hits_the_cache_and_matches(tmp_path, monkeypatch):
    src, cache = tmp_path / "x_stage1.pkl", tmp_path / "cache"
    write_stage(src)
    first = read_stage(str(src), MAXIMA, cache_dir=str(cache))
    entries = os.listdir(cache)
    assert len(entries) == 1 and entries[0].startswith("x_stage1.pkl.")

    # a hit must not unpickle: make any unpickling fail loudly
    import dataio.safe_pickle as safe_pickle
    monkeypatch.setattr(safe_pickle, "read_pickle_safely",
                        lambda path: pytest.fail("cache miss: unpickled"))
    second = read_stage(str(src), MAXIMA, cache_dir=str(cache))
    assert_same(first, second)
    # a view of the memory-mapped file, not a copy in memory
    base = second.dynamic
    while base is not None and not isinstance(base, np.memmap):
        base = base.base
    assert base is not None
    # narrowed to the smallest integer type that holds the ids
    assert second.dynamic.dtype.itemsize < 8 and second.label.dtype == np.int8


@pytest.mark.slow
def test_hit_does_not_import_pandas(tmp_path):
    src, cache = tmp_path / "x_stage1.pkl", tmp_path / "cache"
    write_stage(src)
    read_stage(str(src), MAXIMA, cache_dir=str(cache))
    code = ("import sys; "
            "from dataio import schema; from dataio.stage_files import read_stage; "
            "s = read_stage(%r, schema.IdMaxima.from_config(%r), cache_dir=%r); "
            "print(len(s), 'pandas' in sys.modules)" %
            (str(src), SMALL_MAX_IDXS, str(cache)))
    import subprocess
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True, cwd=str(ROOT)).stdout.split()
    assert out == ["60", "False"]


@pytest.mark.parametrize("change", ["rewrite", "truncate", "touch"])
def test_changed_source_invalidates(tmp_path, change):
    src, cache = tmp_path / "x_stage1.pkl", tmp_path / "cache"
    write_stage(src, seed=0)
    read_stage(str(src), MAXIMA, cache_dir=str(cache))
    if change == "rewrite":
        write_stage(src, n=61, seed=1)
    elif change == "truncate":
        with open(src, "r+b") as f:
            f.truncate(os.path.getsize(src) // 2)
    else:
        st = os.stat(src)
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    if change == "truncate":
        with pytest.raises(ValueError, match="corrupt or truncated"):
            read_stage(str(src), MAXIMA, cache_dir=str(cache))
        return
    stage = read_stage(str(src), MAXIMA, cache_dir=str(cache))
    assert len(stage) == (61 if change == "rewrite" else 60)
    # the stale entry of the same file is gone, only the new one remains
    assert len(os.listdir(cache)) == 1


def test_half_written_entry_is_never_used(tmp_path):
    src, cache = tmp_path / "x_stage1.pkl", tmp_path / "cache"
    write_stage(src)
    good = read_stage(str(src), MAXIMA, cache_dir=str(cache))
    entry = os.path.join(cache, os.listdir(cache)[0])
    # a crash between writing the arrays and meta.json (or a damaged entry)
    os.remove(os.path.join(entry, "meta.json"))
    assert stage_cache.load(str(cache), str(src)) is None
    again = read_stage(str(src), MAXIMA, cache_dir=str(cache))
    assert_same(good, again)
    # an array file cut short
    with open(os.path.join(entry, "features.npy"), "r+b") as f:
        f.truncate(100)
    assert stage_cache.load(str(cache), str(src)) is None
    assert_same(good, read_stage(str(src), MAXIMA, cache_dir=str(cache)))


def test_temporary_folders_are_not_entries(tmp_path):
    src, cache = tmp_path / "x_stage1.pkl", tmp_path / "cache"
    write_stage(src)
    os.makedirs(cache / ".tmp-crashed")
    stage = read_stage(str(src), MAXIMA, cache_dir=str(cache))
    assert len(stage) == 60


def test_cached_ids_are_checked_against_a_changed_config(tmp_path):
    src, cache = tmp_path / "x_stage1.pkl", tmp_path / "cache"
    write_stage(src)
    read_stage(str(src), MAXIMA, cache_dir=str(cache))
    smaller = [list(m) for m in SMALL_MAX_IDXS]
    smaller[1][3] = 2  # kw1 now only up to id 2
    with pytest.raises(DataError, match="kw1"):
        read_stage(str(src), schema.IdMaxima.from_config(smaller),
                   cache_dir=str(cache))


def test_read_only_folder_gets_no_cache(tmp_path, caplog):
    folder = tmp_path / "ro"
    folder.mkdir()
    src = folder / "x_stage1.pkl"
    write_stage(src)
    os.chmod(folder, 0o555)
    try:
        stage = read_stage(str(src), MAXIMA)
    finally:
        os.chmod(folder, 0o755)
    assert len(stage) == 60
    assert not (folder / ".cache").exists()
    assert "read-only" in caplog.text


def test_old_leftovers_are_removed_and_a_fresh_one_is_left_to_its_writer(
        tmp_path):
    src, cache = tmp_path / "x_stage1.pkl", tmp_path / "cache"
    write_stage(src)
    os.makedirs(cache / ".tmp-crashed")
    os.makedirs(cache / ".tmp-in-progress")   # another process, writing now
    old = os.path.getmtime(cache / ".tmp-crashed") - \
        stage_cache.LEFTOVER_AGE_S - 5
    os.utime(cache / ".tmp-crashed", (old, old))
    read_stage(str(src), MAXIMA, cache_dir=str(cache))
    assert not (cache / ".tmp-crashed").exists()
    assert (cache / ".tmp-in-progress").exists()


def test_an_entry_another_process_stored_first_is_kept(tmp_path, caplog):
    src, cache = tmp_path / "x_stage1.pkl", tmp_path / "cache"
    write_stage(src)
    read_stage(str(src), MAXIMA, cache_dir=str(cache))
    arrays, meta = stage_cache.load(str(cache), str(src))
    arrays = {k: np.array(v) for k, v in arrays.items()}
    # a second writer of the same entry (two ranks at once): it succeeds,
    # says nothing, and the entry stays whole
    with caplog.at_level("WARNING"):
        assert stage_cache.store(str(cache), str(src), arrays, meta)
    assert "cannot write" not in caplog.text
    assert [n for n in os.listdir(cache) if n.startswith(".tmp-")] == []
    again, _ = stage_cache.load(str(cache), str(src))
    np.testing.assert_array_equal(again["features"], arrays["features"])


def test_same_named_files_of_two_folders_keep_their_own_entries(tmp_path):
    """/a/train_data/x_stage1.pkl and /b/train_data/x_stage1.pkl sharing
    runner.cache_dir: each keeps its entry, neither evicts the other."""
    cache = tmp_path / "cache"
    a = tmp_path / "a" / "train_data" / "x_stage1.pkl"
    b = tmp_path / "b" / "train_data" / "x_stage1.pkl"
    for i, src in enumerate((a, b)):
        src.parent.mkdir(parents=True)
        write_stage(src, n=60 + i, seed=i)
    read_stage(str(a), MAXIMA, cache_dir=str(cache))
    read_stage(str(b), MAXIMA, cache_dir=str(cache))
    assert stage_cache.load(str(cache), str(a)) is not None   # a hit
    assert stage_cache.load(str(cache), str(b)) is not None
    assert len(read_stage(str(a), MAXIMA, cache_dir=str(cache))) == 60
    assert len(read_stage(str(b), MAXIMA, cache_dir=str(cache))) == 61


def dead_pid():
    import subprocess
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def leftover(cache, pid, age_s=0):
    """A temporary folder as process ``pid`` of this host names it."""
    folder = cache / (stage_cache.temporary_prefix(pid) + "abcd1234")
    os.makedirs(folder / "features.npy")
    if age_s:
        old = os.path.getmtime(folder) - age_s
        os.utime(folder, (old, old))
    return folder


@pytest.mark.slow
def test_a_dead_writers_leftover_is_removed_at_the_next_start(tmp_path,
                                                              caplog):
    src, cache = tmp_path / "x_stage1.pkl", tmp_path / "cache"
    write_stage(src)
    killed = leftover(cache, dead_pid())     # just now: no age to wait for
    with caplog.at_level("INFO"):
        read_stage(str(src), MAXIMA, cache_dir=str(cache))
    assert not killed.exists()
    assert "removed leftovers of an interrupted cache write in %s: %s" % (
        cache, killed.name) in caplog.text


def test_a_live_writers_folder_is_kept_however_old(tmp_path):
    src, cache = tmp_path / "x_stage1.pkl", tmp_path / "cache"
    write_stage(src)
    # another rank of a collective run, still writing a large entry
    writing = leftover(cache, os.getppid(),
                       age_s=stage_cache.LEFTOVER_AGE_S + 60)
    read_stage(str(src), MAXIMA, cache_dir=str(cache))
    assert writing.exists()


def test_a_writer_names_its_folder_by_host_and_pid(tmp_path, monkeypatch):
    import socket
    src, cache = tmp_path / "x_stage1.pkl", tmp_path / "cache"
    write_stage(src)
    seen = []
    real = np.save
    monkeypatch.setattr(np, "save", lambda path, array: (
        seen.append(os.path.basename(os.path.dirname(path))),
        real(path, array)))
    read_stage(str(src), MAXIMA, cache_dir=str(cache))
    assert seen and seen[0].startswith(".tmp-" + socket.gethostname())
    assert "-%d-" % os.getpid() in seen[0]
    assert seen[0].startswith(stage_cache.temporary_prefix())


def test_a_leftover_under_this_processs_own_pid_is_an_earlier_ones(tmp_path):
    # pids repeat (a container's process often has the same one every run)
    src, cache = tmp_path / "x_stage1.pkl", tmp_path / "cache"
    write_stage(src)
    earlier = leftover(cache, os.getpid())
    read_stage(str(src), MAXIMA, cache_dir=str(cache))
    assert not earlier.exists()


def test_an_entry_of_the_layout_before_path_tags_is_dropped(tmp_path):
    src, cache = tmp_path / "x_stage1.pkl", tmp_path / "cache"
    write_stage(src)
    os.makedirs(cache / "x_stage1.pkl.0123456789abcdef")  # no run finds it
    os.makedirs(cache / "y_stage1.pkl.0123456789abcdef")  # another file's
    read_stage(str(src), MAXIMA, cache_dir=str(cache))
    names = sorted(os.listdir(cache))
    assert "x_stage1.pkl.0123456789abcdef" not in names
    assert "y_stage1.pkl.0123456789abcdef" in names and len(names) == 2


@pytest.mark.slow
def test_a_dead_writers_leftover_goes_on_a_cache_hit_too(tmp_path, caplog):
    """Removed at the next start, whether that start writes the cache or
    only reads it."""
    src, cache = tmp_path / "x_stage1.pkl", tmp_path / "cache"
    write_stage(src)
    read_stage(str(src), MAXIMA, cache_dir=str(cache))   # the entry
    killed = leftover(cache, dead_pid())
    with caplog.at_level("INFO"):
        assert len(read_stage(str(src), MAXIMA, cache_dir=str(cache))) == 60
    assert stage_cache.load(str(cache), str(src)) is not None   # a hit
    assert not killed.exists()
    assert "removed leftovers of an interrupted cache write in %s: %s" % (
        cache, killed.name) in caplog.text
