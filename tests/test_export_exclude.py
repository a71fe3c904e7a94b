"""Export given the expansion's --exclude serves the expansion's model
(without it, export.json says where its negatives came from), and an
--exclude without an aid is refused before any work. The tools run
in-process."""
import json
import logging

import numpy as np
import pandas as pd

from helpers import errors
from support.expansion import stage_files, tool


def exclusion_file(tmp_path, uids):
    path = tmp_path / "exclude.csv"
    path.write_text("uid\n" + "".join("%d\n" % u for u in uids))
    return path


def served_scores(folder, uids):
    """The exported model's scores of stage_files' candidates ``uids``."""
    from helpers import random_inputs
    from support.expansion import predict
    rng = np.random.default_rng(3)   # as stage_files draws them
    random_inputs(rng, 30)
    x_c = random_inputs(rng, 50)
    return predict(folder, [a[uids - 500] for a in x_c])


def test_export_with_the_expansions_exclude_serves_its_model(
        tmp_path, checkpoint, caplog):
    caplog.set_level(logging.INFO)
    seeds, cands = stage_files(tmp_path, labels="positive")
    exclude = exclusion_file(tmp_path, range(500, 520))
    assert tool("expand", checkpoint, "--seeds", seeds, "--candidates", cands,
                "--exclude", exclude, "--out", tmp_path / "aud") == 0
    scores = pd.read_csv(tmp_path / "aud" / "9" / "scores.csv")
    assert tool("export", checkpoint, "--aid", 9, "--seeds", seeds,
                "--candidates", cands, "--exclude", exclude,
                "--out", tmp_path / "same") == 0
    got = served_scores(tmp_path / "same", scores.uid.to_numpy())
    np.testing.assert_allclose(got, scores.score.to_numpy(), rtol=0,
                               atol=1e-5)
    meta = json.loads((tmp_path / "same" / "export.json").read_text())
    assert meta["exclude"] == str(exclude) and meta["excluded"] == 20
    assert "the 20 users of --exclude" in meta["negatives_drawn_from"]
    # without it: other negatives, another model, and export.json says so
    assert tool("export", checkpoint, "--aid", 9, "--seeds", seeds,
                "--candidates", cands, "--out", tmp_path / "other") == 0
    other = served_scores(tmp_path / "other", scores.uid.to_numpy())
    assert np.abs(other - scores.score.to_numpy()).max() > 1e-3
    meta = json.loads((tmp_path / "other" / "export.json").read_text())
    assert "(no --exclude)" in meta["negatives_drawn_from"]
    assert "same --candidates and --exclude" in meta["negatives_drawn_from"]


def test_export_exclude_without_aid_is_refused_before_any_work(
        tmp_path, caplog):
    caplog.set_level(logging.INFO)
    exclude = exclusion_file(tmp_path, [1, 2])
    # no checkpoint there: any work would fail on it first
    assert tool("export", tmp_path / "nowhere", "--exclude", exclude,
                "--out", tmp_path / "exp") == 1
    (line, ) = errors(caplog)
    assert "--exclude applies to a campaign's model: give --aid" in line
    assert not (tmp_path / "exp").exists()
