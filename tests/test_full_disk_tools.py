"""A full disk under expansion, export and the meta-test: one line naming
the output, the disk and the way on (free space, or another --out /
runner.infer_result_path), nothing half-written, and where it is cheap the
check comes before the work. Tools run in-process on a small tmpfs (needs
root; skipped with the reason otherwise)."""
import errno
import logging
import os

import numpy as np
import pytest

from dataio.frames import arrays_to_frame
from helpers import errors, random_inputs, tmpfs
from support.expansion import tool

PAGE = 4096


@pytest.fixture
def disk_512k(tmp_path):
    yield from tmpfs(tmp_path, "512k")


def fill(disk, pages_left=0):
    """Fill ``disk`` up, then free ``pages_left`` pages (a tmpfs counts
    pages; empty files and folders take none)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * PAGE)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    size = os.path.getsize(filler)
    os.truncate(filler, size - pages_left * PAGE)


def big_campaign(folder, candidates=2000):
    """A campaign of 30 labelled seeds and many candidates: its scores.csv
    takes many pages, its audience.csv one."""
    rng = np.random.default_rng(5)
    seeds = arrays_to_frame(np.arange(30) % 2, np.full(30, 9),
                            *random_inputs(rng, 30))
    seeds.insert(0, "uid", np.arange(30))
    cands = arrays_to_frame(np.arange(candidates) % 2, np.full(candidates, 9),
                            *random_inputs(rng, candidates))
    cands.insert(0, "uid", np.arange(1000, 1000 + candidates))
    seeds.to_pickle(folder / "seeds.pkl")
    cands.to_pickle(folder / "cands.pkl")
    return folder / "seeds.pkl", folder / "cands.pkl"


def test_expand_onto_a_full_disk_is_refused_before_any_work(
        disk_512k, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    seeds, cands = big_campaign(tmp_path)
    fill(disk_512k)
    out = disk_512k / "aud"
    # no checkpoint there: any work would fail on it first
    assert tool("expand", tmp_path / "nowhere", "--seeds", seeds,
                "--candidates", cands, "--out", out) == 1
    (line, ) = errors(caplog)
    assert "the folder of --out %s is not writable: No space left on " \
        "device: free space on its disk, or set --out to another folder" % \
        disk_512k in line
    assert sorted(os.listdir(disk_512k)) == ["filler"]


@pytest.mark.slow
def test_expand_filling_the_disk_names_the_output_and_keeps_nothing(
        disk_512k, tmp_path, checkpoint, caplog):
    caplog.set_level(logging.INFO)
    seeds, cands = big_campaign(tmp_path)
    fill(disk_512k, pages_left=2)   # the probe and audience.csv fit
    out = disk_512k / "aud"
    assert tool("expand", checkpoint, "--seeds", seeds, "--candidates", cands,
                "--out", out) == 1
    (line, ) = errors(caplog)
    assert line == (
        "no space left on device writing %s (--out): free space on its "
        "disk, or choose another --out; no output was written; %s not made"
        % (out, out))
    assert sorted(os.listdir(disk_512k)) == ["filler"]


def test_export_onto_a_full_disk_is_refused_before_saving(
        disk_512k, checkpoint, caplog):
    caplog.set_level(logging.INFO)
    fill(disk_512k, pages_left=4)
    out = disk_512k / "serving"
    assert tool("export", checkpoint, "--out", out) == 1
    (line, ) = errors(caplog)
    assert "the folder of --out %s has 0.0 MB free; about" % disk_512k \
        in line and "MB is needed for the exported model" in line
    assert "set --out to a folder with room" in line
    assert sorted(os.listdir(disk_512k)) == ["filler"]


@pytest.mark.slow
def test_a_serving_model_cut_short_by_a_full_disk_is_an_error(disk_512k):
    """paddle.jit.save itself says nothing when the weights do not fit."""
    from audience import serving
    from dygraph_model import DygraphModel
    from helpers import small_config
    config = small_config()
    model = DygraphModel().create_model(config)
    weights = serving.full_weights(model, dict(model.state_dict()))
    fill(disk_512k, pages_left=3)
    with pytest.raises(OSError) as err:
        serving.save(serving.ServingModel(model, weights),
                     str(disk_512k / "model"))
    assert err.value.errno == errno.ENOSPC
    assert err.value.filename == str(disk_512k / "model.pdiparams")
    assert "cut short" in str(err.value)
