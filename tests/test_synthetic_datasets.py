"""synthetic/datasets.py: the one layout of generated stage files, the
sample data's included, and make_data's reuse and refusal rules."""
import json
from dataclasses import replace

import numpy as np

from helpers import ROOT
from synthetic import datasets, generator

TINY = replace(generator.SAMPLE, n_users=300, n_train=3, train_rows_median=30,
               train_rows_range=(20, 40), n_hot=2, hot_seeds=(10, 20),
               n_cold=2, cold_seeds=(5, 10), candidates=30)


def test_the_sample_data_is_in_the_layout():
    for rel in datasets.layout().values():
        assert (ROOT / "data" / rel).is_file(), rel
    assert datasets.layout("test_hot")["test_hot_stage2"] == \
        "test_hot/test_hot_stage2.pkl"


def test_make_data_writes_reuses_and_regenerates(tmp_path):
    from dataio.stage_files import read_frame
    folder = tmp_path / "d"
    stats, reused = datasets.make_data(str(folder), TINY, 3)
    assert not reused
    stages = generator.generate(TINY, 3)
    for name, rel in datasets.layout("test_hot").items():
        frame = read_frame(str(folder / rel))
        np.testing.assert_array_equal(frame["label"].to_numpy(),
                                      stages[name]["label"])
        assert stats[name]["rows"] == len(stages[name]["label"])
    assert (folder / "max_idxs.yaml").is_file()
    assert 0.5 < stats["oracle_gauc"]["test_hot_stage2"] <= 1.0
    # the same spec and seed: reused, files untouched
    mtime = (folder / "train" / "train_stage1.pkl").stat().st_mtime_ns
    again, reused = datasets.make_data(str(folder), TINY, 3)
    assert reused and again == json.loads(json.dumps(stats))
    assert (folder / "train" / "train_stage1.pkl").stat().st_mtime_ns == mtime
    # another seed: replaced
    other, reused = datasets.make_data(str(folder), TINY, 4)
    assert not reused and other != stats


def test_sized_spec_has_the_asked_size():
    spec = datasets.sized_spec(3000, 12, 2, None, smoke=True)
    stages = generator.generate(spec, 7)
    assert abs(len(stages["train_stage1"]["label"]) - 3000) < 300
    assert len(np.unique(stages["train_stage1"]["aid"])) == 12
    assert len(np.unique(stages["test_hot_stage1"]["aid"])) == 2
    assert "test_cold_stage1" not in stages
    assert spec.max_idxs() == datasets.SMOKE_MAX_IDXS
