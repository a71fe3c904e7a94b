"""The marketer options under the collective launcher: two processes with
--exclude, --tiers and --overlap write what one process writes, in both
input forms (campaigns split across ranks in form 1, a user table's chunks
in form 2)."""
import json

import numpy as np
import pandas as pd
import pytest

from dataio import schema
from dataio.user_table import write_user_table
from helpers import SMALL_MAX_IDXS, random_inputs
from support.expansion import OVERRIDES, overlapping_stage_files
from support.launcher import launch, same_outputs, single

pytestmark = pytest.mark.slow

OPTIONS = ["--tiers", "5,10,25", "--overlap"]


def compare(tmp_path, overrides, extra):
    single("expand.py", overrides, extra=extra + ["--out",
                                                  str(tmp_path / "one")])
    launch("expand.py", overrides, tmp_path / "log",
           extra=extra + ["--out", str(tmp_path / "two")])
    files = same_outputs(str(tmp_path / "one"), str(tmp_path / "two"))
    assert "overlap.csv" in files
    return files


def test_two_processes_write_the_options_of_one_form_one(tmp_path,
                                                         checkpoint):
    seeds, cands = overlapping_stage_files(tmp_path)
    (tmp_path / "ex.csv").write_text("uid,aid\n500,\n501,9\n")
    overrides = OVERRIDES + ["expand.checkpoint=%s" % checkpoint]
    compare(tmp_path, overrides,
            ["--seeds", str(seeds), "--candidates", str(cands), "--exclude",
             str(tmp_path / "ex.csv")] + OPTIONS)
    for aid, gone in ((9, {500, 501}), (8, {500})):
        frame = pd.read_csv(tmp_path / "two" / str(aid) / "audience.csv")
        assert not gone & set(frame.uid) and "tier" in frame.columns


def test_two_processes_write_the_options_of_one_form_two(tmp_path,
                                                         checkpoint):
    rng = np.random.default_rng(5)
    static, dynamic, lengths, _ = random_inputs(rng, 600)
    write_user_table(str(tmp_path / "users"), np.arange(600) * 3,
                     np.concatenate([static, dynamic, lengths], axis=1))
    (tmp_path / "ads.csv").write_text(
        "aid,%s\n3,1,1,1,1,1,1\n4,2,2,2,2,2,2\n" % ",".join(schema.AD_FIELDS))
    (tmp_path / "seeds.csv").write_text("aid,uid,label\n" + "".join(
        "%d,%d,%d\n" % (aid, 3 * i, i % 2) for aid in (3, 4)
        for i in range(aid, aid + 20)))
    (tmp_path / "ex.csv").write_text("".join("%d\n" % (3 * i)
                                             for i in range(100, 140)))
    overrides = OVERRIDES + ["expand.checkpoint=%s" % checkpoint,
                             "expand.chunk_rows=100"]
    assert max(SMALL_MAX_IDXS[2]) >= 2
    compare(tmp_path, overrides,
            ["--users", str(tmp_path / "users"), "--ads",
             str(tmp_path / "ads.csv"), "--seeds", str(tmp_path / "seeds.csv"),
             "--exclude", str(tmp_path / "ex.csv")] + OPTIONS)
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert [c["excluded"] for c in summary["campaigns"]] == [40, 40]
    for aid in (3, 4):
        frame = pd.read_csv(tmp_path / "two" / str(aid) / "audience.csv")
        assert not set(range(300, 420, 3)) & set(frame.uid)
