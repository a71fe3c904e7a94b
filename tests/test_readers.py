"""reader_train (meta-batches of campaigns) and reader_test (per campaign)."""
import logging

import numpy as np
import pytest

import reader_test
import reader_train
from helpers import small_config
from dataio import schema
from dataio.stage_files import StageArrays
from dataio.frames import arrays_to_frame, write_pickle

# rows per campaign; aid = 100 + position, a long tail like the real data
SIZES = [3, 9, 25, 40, 70, 150]


def make_stage(sizes=SIZES, seed=0, shuffle=True):
    """A stage whose rows say which campaign (ad campaignId == position,
    aid == 100 + position) and which row (dynamic column 0) they are."""
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    campaign = np.repeat(np.arange(len(sizes)), sizes)
    if shuffle:                       # campaigns' rows interleaved in the file
        campaign = rng.permutation(campaign)
    dynamic = rng.integers(0, 5, size=(n, schema.DYNAMIC_WIDTH))
    dynamic[:, 0] = np.arange(n)
    ad = rng.integers(0, 3, size=(n, 6))
    ad[:, 1] = campaign
    return StageArrays(
        path="<memory>", label=rng.integers(0, 2, n).astype(np.int8),
        aid=100 + campaign, static=rng.integers(0, 2, size=(n, 7)),
        dynamic=dynamic, lengths=rng.integers(0, 6, size=(n, 7)), ad=ad)


def make_dataset(stage=None, task_count=3, batch_size=16, seed=2021,
                 method="normal", disjoint=False, share=(0, 1)):
    config = small_config("hyper_parameters.task_count=%d" % task_count,
                          "hyper_parameters.batch_size=%d" % batch_size,
                          "runner.seed=%d" % seed,
                          "hyper_parameters.sample_method=%s" % method,
                          "hyper_parameters.disjoint_query=%s" % disjoint)
    return reader_train.RecDataset(None, config, stage=stage or make_stage(),
                                   share=share)


def per_task(batch):
    """A stacked meta-batch split by task: ([x_spt per task], [y_spt per
    task], [x_qry ...], [y_qry ...]); checks the stacking on the way."""
    out = []
    for x, y in ((batch[0], batch[1]), (batch[2], batch[3])):
        tasks, rows = y.shape
        assert all(len(a) == tasks * rows for a in x)
        out += [[[a[t * rows:(t + 1) * rows] for a in x] for t in range(tasks)],
                list(y)]
    return out


def task_campaigns(batch):
    """(campaign of every support row, of every query row) per task."""
    x_spt, _, x_qry, _ = per_task(batch)
    return [(x[3][:, 1], q[3][:, 1]) for x, q in zip(x_spt, x_qry)]


# ---------------------------------------------------------- probabilities
def test_task_probabilities():
    counts = [1, 4, 9, 16, 70]
    np.testing.assert_allclose(reader_train.task_probabilities(counts, "normal"),
                               np.array(counts) / 100.0)
    np.testing.assert_allclose(reader_train.task_probabilities(counts, "sqrt"),
                               np.array([1, 2, 3, 4, np.sqrt(70)]) /
                               (10 + np.sqrt(70)))
    np.testing.assert_allclose(reader_train.task_probabilities(counts, "unit"),
                               np.full(5, 0.2))
    with pytest.raises(ValueError, match="sample_method"):
        reader_train.task_probabilities(counts, "bogus")


@pytest.mark.parametrize("method", ["normal", "sqrt", "unit"])
def test_sampling_frequencies_follow_the_probabilities(method):
    ds = make_dataset(task_count=1, method=method)
    draws = 6000
    seen = np.bincount(
        np.concatenate([ds.sample_tasks() for _ in range(draws)]),
        minlength=len(SIZES))
    expected = reader_train.task_probabilities(SIZES, method) * draws
    chi2 = ((seen - expected) ** 2 / expected).sum()
    # 25.74 = scipy.stats.chi2.ppf(1 - 1e-4, df=5): a correct sampler fails
    # with p = 1e-4 (never, with the fixed seed); a wrong method by far
    assert len(SIZES) - 1 == 5
    assert chi2 < 25.74, (seen, expected)
    # the campaigns the indices stand for, in the dataset's aid order
    np.testing.assert_array_equal(ds.index.aids, 100 + np.arange(len(SIZES)))
    np.testing.assert_array_equal(ds.index.counts, SIZES)


def test_distinct_campaigns_per_meta_batch():
    ds = make_dataset(task_count=4)
    assert len(ds) > 0
    for batch in ds:
        first = [spt[0] for spt, _ in task_campaigns(batch)]
        assert len(set(first)) == 4
    # all campaigns in every meta-batch when task_count == campaigns
    ds = make_dataset(task_count=len(SIZES))
    for batch in ds:
        assert sorted(spt[0] for spt, _ in task_campaigns(batch)) == \
            list(range(len(SIZES)))


def test_fewer_campaigns_than_task_count_repeats_with_a_warning(caplog):
    caplog.set_level(logging.WARNING)
    ds = make_dataset(make_stage([20, 30]), task_count=5)
    assert "task_count 5" in caplog.text
    batch = next(iter(ds))
    assert len(per_task(batch)[0]) == 5


def test_support_and_query_rows_belong_to_the_sampled_campaign():
    stage = make_stage()
    ds = make_dataset(stage, task_count=3, batch_size=16)
    for batch in ds:
        x_spt, y_spt, x_qry, y_qry = per_task(batch)
        for t in range(3):
            for x, y in ((x_spt[t], y_spt[t]), (x_qry[t], y_qry[t])):
                assert [a.shape for a in x] == [(16, 7), (16, 50), (16, 7),
                                                (16, 6)]
                assert all(a.dtype == np.int64 for a in x)
                rows = x[1][:, 0]
                # one campaign per set, the same for support and query
                assert len(set(x[3][:, 1])) == 1
                assert x[3][0, 1] == x_spt[t][3][0, 1]
                np.testing.assert_array_equal(stage.aid[rows],
                                              100 + x[3][:, 1])
                np.testing.assert_array_equal(x[0], stage.static[rows])
                np.testing.assert_array_equal(x[2], stage.lengths[rows])
                np.testing.assert_array_equal(y, stage.label[rows])
                assert y.dtype == np.float32


def test_small_campaign_is_drawn_with_replacement(caplog):
    caplog.set_level(logging.WARNING)
    stage = make_stage([3, 40])
    ds = make_dataset(stage, task_count=1, batch_size=16, method="unit")
    assert "with replacement" in caplog.text and "100" in caplog.text
    small_rows = set(np.flatnonzero(stage.aid == 100).tolist())
    hits = 0
    for _ in range(30):
        x_spt, _, x_qry, _ = per_task(ds.meta_batch())
        for x in (x_spt[0], x_qry[0]):
            rows = x[1][:, 0]
            if x[3][0, 1] == 0:
                hits += 1
                assert len(rows) == 16
                assert set(rows.tolist()) <= small_rows
            else:  # a big campaign: no repeats
                assert len(set(rows.tolist())) == 16
    assert hits > 0


@pytest.mark.parametrize("batch_size", [7, 16, 297, 1000])
def test_meta_batches_per_epoch(batch_size):
    ds = make_dataset(task_count=2, batch_size=batch_size)
    want = int(np.ceil(sum(SIZES) / batch_size))
    assert len(ds) == want
    assert sum(1 for _ in ds) == want


def flat(batch):
    return np.concatenate([np.concatenate([a.ravel() for a in x] + [y])
                           for part in ((batch[0], batch[1]),
                                        (batch[2], batch[3]))
                           for x, y in zip(*part)])


def test_same_seed_same_batches_other_seed_other_batches():
    a = [flat(b) for b in make_dataset(seed=7)]
    b = [flat(b) for b in make_dataset(seed=7)]
    c = [flat(b) for b in make_dataset(seed=8)]
    assert len(a) == len(b) == len(c)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


# ------------------------------------------------- disjoint support/query
def task_rows(batch):
    """(row numbers of the support set, of the query set) per task."""
    x_spt, _, x_qry, _ = per_task(batch)
    return [(x[1][:, 0], q[1][:, 0]) for x, q in zip(x_spt, x_qry)]


def test_overlapping_sets_by_default_disjoint_with_the_option():
    # a campaign of 150 rows and sets of 64: independent draws share rows
    # almost surely; disjoint draws never do, and still fill both sets
    stage = make_stage([150, 140])
    shared = []
    for disjoint in (False, True):
        ds = make_dataset(stage, task_count=2, batch_size=64,
                          disjoint=disjoint)
        for batch in ds:
            for spt, qry in task_rows(batch):
                assert len(spt) == len(qry) == 64
                if disjoint:   # 140 >= 2 x 64: no repeat within a set either
                    assert len(set(spt)) == len(set(qry)) == 64
                shared.append((disjoint, len(set(spt) & set(qry))))
    assert all(n > 0 for d, n in shared if not d)
    assert all(n == 0 for d, n in shared if d)


def test_small_campaign_splits_in_halves(caplog):
    # 25 rows < 2 x 16: support from one half, query from the other, each
    # with replacement; together they use rows of both halves
    caplog.set_level(logging.WARNING)
    stage = make_stage([25])
    ds = make_dataset(stage, task_count=1, batch_size=16, disjoint=True)
    assert "2 x batch_size 16" in caplog.text and "half" in caplog.text
    for _ in range(20):
        [(spt, qry)] = task_rows(ds.meta_batch())
        assert len(spt) == len(qry) == 16
        assert not set(spt) & set(qry)
        assert len(set(spt)) <= 12 and len(set(qry)) <= 13
        assert set(spt) | set(qry) <= set(range(25))


def test_single_row_campaign_cannot_be_split(caplog):
    caplog.set_level(logging.WARNING)
    stage = make_stage([1, 40])
    ds = make_dataset(stage, task_count=2, batch_size=8, disjoint=True)
    assert "single row" in caplog.text and "aid 100" in caplog.text
    single = int(np.flatnonzero(stage.aid == 100)[0])
    for spt, qry in task_rows(ds.meta_batch()):
        if spt[0] == single:
            assert set(spt) == set(qry) == {single}
        else:
            assert not set(spt) & set(qry)


def test_disjoint_draws_are_seeded_and_resume_from_the_saved_state():
    # the trainer saves rng.bit_generator.state after an epoch and restores
    # it on resume: the batches after the restore are the batches an
    # uninterrupted reader draws
    whole = make_dataset(seed=5, disjoint=True)
    first = [flat(b) for b in whole] + [flat(b) for b in whole]
    again = make_dataset(seed=5, disjoint=True)
    assert all(np.array_equal(x, flat(y)) for x, y in zip(first, again))
    resumed = make_dataset(seed=5, disjoint=True)
    resumed.rng.bit_generator.state = again.rng.bit_generator.state
    second = [flat(b) for b in resumed]
    assert len(second) == len(whole)
    assert all(np.array_equal(x, y)
               for x, y in zip(first[len(whole):], second))
    other = [flat(b) for b in make_dataset(seed=5)]
    assert not all(np.array_equal(x, y) for x, y in zip(first, other))


def test_disjoint_ranks_split_the_one_process_meta_batch():
    # two ranks of 2 tasks train what one process of 4 tasks trains
    one = make_dataset(task_count=4, disjoint=True)
    ranks = [make_dataset(task_count=2, disjoint=True, share=(r, 2))
             for r in (0, 1)]
    for batch, *parts in zip(one, *ranks):
        want = task_rows(batch)
        got = task_rows(parts[0]) + task_rows(parts[1])
        assert all(np.array_equal(a, c) and np.array_equal(b, d)
                   for (a, b), (c, d) in zip(want, got))


# ------------------------------------------------------------- reader_test
CONFIG_LBS99 = small_config(max_idxs=[[3, 2, 99, 5, 7, 2, 1],
                                      [9, 8, 6, 11, 10, 7, 7],
                                      [5, 6, 4, 3, 5, 3]])


def write_marked_stage(path, aids, label_seed, marker_start):
    """A stage file with rows of the given aids, LBS = a row marker."""
    rng = np.random.default_rng(label_seed)
    n = len(aids)
    static = rng.integers(0, 2, size=(n, 7))
    static[:, 2] = marker_start + np.arange(n)
    dynamic = rng.integers(0, 6, size=(n, schema.DYNAMIC_WIDTH))
    lengths = rng.integers(0, 6, size=(n, 7))
    ad = rng.integers(0, 3, size=(n, 6))
    ad[:, 1] = np.asarray(aids) % 7
    label = rng.integers(0, 2, n)
    write_pickle(arrays_to_frame(label, aids, static, dynamic, lengths, ad),
                 str(path))
    return label, static


def test_reader_test_yields_campaigns_in_aid_order(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    seed_aids = [5, 3, 9, 5, 3, 3, 12, 5]       # 9: seeds only
    cand_aids = [3, 12, 5, 7, 12, 5, 3, 3, 7]   # 7: candidates only
    seed_label, seed_static = write_marked_stage(tmp_path / "a_stage1.pkl",
                                                 seed_aids, 1, 0)
    cand_label, cand_static = write_marked_stage(tmp_path / "a_stage2.pkl",
                                                 cand_aids, 2, 50)
    ds = reader_test.RecDataset([str(tmp_path)], CONFIG_LBS99)
    items = list(ds)
    assert [item.aid for item in items] == [3, 5, 12]
    assert len(ds) == 3
    for campaign in items:
        aid = campaign.aid
        x_spt, y_spt = campaign.seed_x, campaign.seed_y
        x_qry, y_qry = campaign.cand_x, campaign.cand_y
        spt_rows = np.flatnonzero(np.array(seed_aids) == aid)
        qry_rows = np.flatnonzero(np.array(cand_aids) == aid)
        # no uid column: a user is named by its row in its stage file
        # (the meta-test's scores.csv uid), rows of two files being no
        # common id space
        np.testing.assert_array_equal(campaign.seed_uid, x_spt[0][:, 2])
        np.testing.assert_array_equal(campaign.cand_uid, x_qry[0][:, 2] - 50)
        assert not campaign.exclude_seeds
        # every seed and candidate of the campaign, and only those
        assert sorted(x_spt[0][:, 2]) == sorted(spt_rows)
        assert sorted(x_qry[0][:, 2]) == sorted(50 + qry_rows)
        np.testing.assert_array_equal(y_spt, seed_label[x_spt[0][:, 2]])
        np.testing.assert_array_equal(y_qry, cand_label[x_qry[0][:, 2] - 50])
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING]
    assert any("seeds but no candidates" in m and "9" in m for m in warnings)
    assert any("candidates but no seeds" in m and "7" in m for m in warnings)


def test_reader_test_without_stage2_files_is_an_error(tmp_path):
    write_marked_stage(tmp_path / "a_stage1.pkl", [1, 2], 1, 0)
    with pytest.raises(ValueError, match="_stage2.pkl"):
        reader_test.RecDataset([str(tmp_path)], small_config())
