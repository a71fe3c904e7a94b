"""Progress of the long stages: a line at most every 10 s with done/total,
the share and an ETA that falls as the work goes (runkit/progress.py), the
trainer's per-interval position (tools/trainer.Pace), and the stages that
use them."""
import logging
import re

import pytest

from runkit import progress
from runkit.progress import Progress


class Clock:
    """A clock the test moves."""

    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def quiet_logger():
    log = logging.getLogger("metaheac.test_progress")
    log.propagate = False
    log.setLevel(logging.INFO)
    lines = Lines()
    log.handlers[:] = [lines]
    return log, lines


def seconds(eta):
    """The seconds an ``ETA ...`` text stands for."""
    total = 0
    for value, unit in re.findall(r"(\d+) (h|min|s)\b", eta):
        total += int(value) * {"h": 3600, "min": 60, "s": 1}[unit]
    return total


LINE = re.compile(r"^(?P<label>.+): (?P<done>\d+)/(?P<total>\d+) (?P<unit>.+) "
                  r"\((?P<share>\d+) %\), (?P<elapsed>.+) elapsed, "
                  r"ETA (?P<eta>.+)$")


def test_a_short_stage_says_nothing():
    log, lines = quiet_logger()
    clock = Clock()
    p = Progress(20, "meta-test", clock=clock, log=log)
    for _ in range(20):
        clock.now += 0.4   # 8 s in all
        p.step()
    assert lines.lines == []


def test_a_long_stage_logs_every_10_s_with_a_falling_eta():
    log, lines = quiet_logger()
    clock = Clock()
    p = Progress(40, "expansion", "campaigns fitted", clock=clock, log=log)
    for _ in range(40):
        clock.now += 3.0   # 2 min in all, even pace
        p.step()
    # a line when 10 s have passed since the last (the 4th, 8th, ...
    # campaign: 12 s apart), none once the stage is complete
    assert len(lines.lines) == 9
    parsed = [LINE.match(line) for line in lines.lines]
    assert all(parsed), lines.lines
    first = parsed[0]
    assert first.group("label") == "expansion"
    assert first.group("unit") == "campaigns fitted"
    assert (first.group("done"), first.group("total"), first.group("share")) \
        == ("4", "40", "10")
    assert first.group("elapsed") == "12 s"
    # 4 done in 12 s, 36 left: 108 s
    assert first.group("eta") == "1 min 48 s"
    etas = [seconds(m.group("eta")) for m in parsed]
    assert etas == sorted(etas, reverse=True) and len(set(etas)) == len(etas)
    dones = [int(m.group("done")) for m in parsed]
    assert dones == sorted(dones) and dones[-1] < 40


def test_the_eta_is_the_mean_pace_times_what_is_left():
    assert progress.remaining(30.0, 10, 40) == pytest.approx(90.0)
    assert progress.remaining(30.0, 0, 40) is None
    assert progress.remaining(30.0, 10, None) is None
    assert progress.eta_text(30.0, 0, 40) == "ETA unknown"


def test_an_unknown_total_counts_without_an_eta():
    log, lines = quiet_logger()
    clock = Clock()
    p = Progress(None, "expansion", "campaigns fitted", clock=clock, log=log)
    clock.now += 11
    p.step()
    assert lines.lines == ["expansion: 1 campaigns fitted, 11 s elapsed"]


@pytest.mark.parametrize("value, text", [
    (0, "0 s"), (44.6, "45 s"), (60, "1 min 00 s"), (185, "3 min 05 s"),
    (3600 * 2 + 7 * 60 + 20, "2 h 07 min")])
def test_durations_read_at_a_glance(value, text):
    assert progress.duration(value) == text


def test_position_gives_done_total_and_share():
    assert progress.position(120, 147, "campaigns") == \
        "120/147 campaigns (81 %)"
    assert progress.position(3, None, "blocks") == "3 blocks"


# ---------------------------------------------------- the trainer's line
def test_the_trainers_position_counts_epochs_and_batches_from_one():
    from tools.trainer import Pace
    clock = Clock()
    pace = Pace(2, 0, 17, clock=clock)
    pace.started()
    texts = []
    for epoch in range(2):
        for batch_id in range(17):
            clock.now += 0.5
            pace.step()
            texts.append(pace.text(epoch, batch_id))
    assert texts[4] == "epoch 1/2, batch 5/17 (29 %), ETA 14 s"
    assert texts[-1] == "epoch 2/2, batch 17/17 (100 %), ETA 0 s"
    assert texts[17].startswith("epoch 2/2, batch 1/17 (5 %), ETA ")
    etas = [seconds(t.split("ETA ")[1]) for t in texts]
    assert etas == sorted(etas, reverse=True)
    # the VisualDL step: meta-batches since the run's start
    assert pace.global_step(1, 0) == 18 and pace.last_step() == 34


def test_a_resumed_training_counts_only_its_own_epochs_in_the_eta():
    from tools.trainer import Pace
    clock = Clock()
    pace = Pace(3, 2, 10, clock=clock)   # resumed at epoch 2 of 3
    pace.started()
    clock.now += 4.0
    for _ in range(4):
        pace.step()
    assert pace.text(2, 3) == "epoch 3/3, batch 4/10 (40 %), ETA 6 s"
    assert pace.global_step(2, 3) == 24


def test_a_reader_without_a_length_gives_no_total():
    from tools.trainer import Pace, batches_per_epoch
    assert batches_per_epoch(iter([1, 2])) is None
    pace = Pace(1, 0, None, clock=Clock())
    pace.started()
    pace.step()
    assert pace.text(0, 0) == "epoch 1/1, batch 1"


# ----------------------------------------------- the stages that use it
def test_form_one_campaigns_say_how_many_they_are(tmp_path):
    import numpy as np
    import pandas as pd
    from audience.sources import frame_campaigns
    from helpers import CONFIG
    from runkit.config import load_config, resolve_max_idxs
    from runkit.progress import counted
    config, _ = resolve_max_idxs(load_config(str(CONFIG)))
    seeds = pd.read_pickle(str(CONFIG.parent / "data" / "test_cold" /
                               "test_cold_stage1.pkl"))
    cands = pd.read_pickle(str(CONFIG.parent / "data" / "test_cold" /
                               "test_cold_stage2.pkl"))
    campaigns = frame_campaigns(seeds, cands, config)
    assert counted(campaigns) == len(np.unique(seeds["aid"])) == 8
    assert len(list(campaigns)) == 8


def test_the_expansion_counts_its_share_in_a_collective_run():
    from audience.expansion import _progress

    class Group:
        rank, size = 1, 3
    assert _progress(list(range(10))).total == 10
    assert _progress(list(range(10)), Group()).total == 3   # 1, 4, 7
    assert _progress(iter(range(10))).total is None


def test_form_two_reports_its_campaigns_and_blocks(users, tmp_path,
                                                   monkeypatch, caplog):
    """A form 2 expansion (a user table): a line per campaign fitted and
    per block of users scored, each with its ETA, when the stage is long
    (here: every step, EVERY set to 0)."""
    from audience.expansion import expand
    from audience.sources import user_table_campaigns
    from support.expansion import SMALL_CONFIG, small_model
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(progress, "EVERY", 0.0)
    folder, table = users
    seeds = tmp_path / "seeds.csv"
    seeds.write_text("aid,uid,label\n" + "".join(
        "%d,%d,%d\n" % (aid, 5 * i, i % 2) for aid in (3, 4)
        for i in range(12)))
    config = SMALL_CONFIG.with_overrides({"expand.chunk_rows": 64,
                                          "expand.diagnose": False})
    results, _ = expand(config, user_table_campaigns(
        table, str(seeds), str(folder / "ads.csv")), 0.1,
        *small_model(config), table=table)
    assert [r.aid for r in results] == [3, 4]
    lines = [r.getMessage() for r in caplog.records]
    fitted = [line for line in lines if line.startswith("expansion: ")]
    # the last item completes the stage: its own lines say so
    assert len(fitted) == 1 and LINE.match(fitted[0]), lines
    assert fitted[0].startswith("expansion: 1/2 campaigns fitted (50 %), ")
    # 200 users in blocks of 64: 4 blocks, lines after the first three
    blocks = [LINE.match(line) for line in lines
              if line.startswith("campaigns 3,4: scoring: ")]
    assert [m.group("done") for m in blocks] == ["1", "2", "3"], lines
    assert all(m.group("total") == "4" and
               m.group("unit") == "blocks of 64 users" for m in blocks)


def test_the_meta_test_reports_its_campaigns(meta_test_setup, tmp_path,
                                             monkeypatch, caplog):
    from support.meta_test import meta_test
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(progress, "EVERY", 0.0)
    assert meta_test(meta_test_setup, tmp_path / "r.json") == 0
    lines = [r.getMessage() for r in caplog.records]
    for name in ("hot", "cold"):
        mine = [LINE.match(line) for line in lines
                if line.startswith("[%s] meta-test: " % name)]
        assert mine and all(mine), lines
        total = int(mine[0].group("total"))
        assert [int(m.group("done")) for m in mine] == list(range(1, total))
        assert mine[0].group("unit") == "campaigns"
