"""Output folders and CSV files: what --overwrite may replace, where a
symbolic link sends the output, and CSV cells that keep their columns and
never run as a spreadsheet formula (the tools in-process,
support.expansion.tool):

* --overwrite replaces only an earlier output of the same tool (its summary
  says so, or shows it), holding nothing the tool did not write, and names
  what it removes; tools/overlap.py --overwrite replaces only an overlap
  table;
* an --out that is a symbolic link is written where it points;
* every CSV goes through a CSV writer; a text cell a spreadsheet would
  evaluate is neutralised, numbers are left as they are;
* a lock path that is a symbolic link is refused, never followed.
"""
import csv
import io
import json
import logging
import os

import numpy as np
import pytest

from audience.output import OutputDir, audience_csv, scores_csv
from audience.overlap import overlap_csv
from runkit.cli import Refused
from helpers import errors, messages, write
from support.expansion import finished, hidden, stage_files, tag, tool


def file_contents(folder):
    """{relative path: content} of every file below ``folder``."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


def legacy_expansion(folder):
    """An expansion written before summaries named their tool."""
    write(os.path.join(folder, "9", "audience.csv"),
          "uid,score,rank,top_percent\n501,0.9,1,2.0\n")
    write(os.path.join(folder, "9", "scores.csv"), "uid,score\n501,0.9\n")
    write(os.path.join(folder, "overlap.csv"), "aid_a,aid_b\n")
    write(os.path.join(folder, "summary.json"), json.dumps(
        {"top": 0.05, "campaigns": [{"aid": 9}], "skipped": []}))
    return folder


def scores_folder(folder, new=False):
    """A meta-test's scores folder (tools/infer_meta.py)."""
    write(os.path.join(folder, "0", "hot", "5", "scores.csv"),
          "uid,score,label\n0,0.5,1\n")
    doc = {"result": "r.json", "epochs": [0], "sets": ["hot"]}
    if new:
        doc["tool"] = "infer_meta"
    write(os.path.join(folder, "summary.json"), json.dumps(doc))
    return folder


# ---------------------------- only an earlier output of this tool is replaced
def test_a_users_folder_holding_a_summary_json_is_not_replaced(tmp_path,
                                                               caplog):
    caplog.set_level(logging.INFO)
    mine = tmp_path / "mine"
    write(mine / "summary.json", '{"title": "my quarterly numbers"}')
    write(mine / "data.csv", "a,b\n1,2\n")
    write(mine / "2025" / "q1.csv", "x\n")
    before = file_contents(mine)
    seeds, cands = stage_files(tmp_path)
    # no checkpoint there: any work would fail on it first
    assert tool("expand", tmp_path / "nowhere", "--seeds", seeds,
                "--candidates", cands, "--out", mine, "--overwrite") == 2
    (line, ) = errors(caplog)
    assert str(mine) in line and "not an earlier output" in line
    assert "tools/expand.py" in line and "choose another --out" in line
    assert file_contents(mine) == before and hidden(tmp_path) == []


@pytest.mark.parametrize("new", [False, True])
def test_a_meta_tests_scores_folder_is_not_replaced_by_an_expansion(
        tmp_path, caplog, new):
    caplog.set_level(logging.INFO)
    scores = scores_folder(str(tmp_path / "r.scores"), new)
    before = file_contents(scores)
    with pytest.raises(Refused) as refused:
        OutputDir(scores, overwrite=True)
    assert "meta-test" in str(refused.value)
    assert "tools/infer_meta.py" in str(refused.value)
    assert file_contents(scores) == before and hidden(tmp_path) == []


def test_an_export_is_not_replaced_by_an_expansion_nor_the_reverse(tmp_path):
    exported = finished(str(tmp_path / "srv"), "export", "export.json")
    # an expansion's summary.json put into it: still the export's folder
    write(os.path.join(exported, "summary.json"), '{"tool": "export"}')
    with pytest.raises(Refused, match="tools/export.py"):
        OutputDir(exported, overwrite=True)
    expansion = legacy_expansion(str(tmp_path / "aud"))
    write(os.path.join(expansion, "export.json"), '{"tool": "expand"}')
    with pytest.raises(Refused, match="tools/expand.py"):
        OutputDir(expansion, overwrite=True, summary="export.json")
    assert tag(exported, "export.json") == "export"


def test_the_summary_names_the_tool_that_wrote_it(tmp_path):
    out = OutputDir(str(tmp_path / "aud"))
    out.commit({"campaigns": []})
    export = OutputDir(str(tmp_path / "srv"), summary="export.json")
    export.commit({"inputs": []})
    assert json.loads((tmp_path / "aud" / "summary.json").read_text()) == \
        {"tool": "expand", "campaigns": []}
    assert json.loads((tmp_path / "srv" / "export.json").read_text())[
        "tool"] == "export"


def test_an_earlier_expansion_of_an_older_version_is_replaced_and_named(
        tmp_path, caplog):
    caplog.set_level(logging.INFO)
    out = legacy_expansion(str(tmp_path / "aud"))
    run = OutputDir(out, overwrite=True)
    run.write(os.path.join("3", "audience.csv"), "uid\n")
    run.commit({"campaigns": [{"aid": 3}]})
    assert sorted(os.listdir(out)) == ["3", "summary.json"]
    (said, ) = [m for m in messages(caplog) if "removed what it held" in m]
    for name in ("9/ (2 files)", "overlap.csv", "summary.json", out):
        assert name in said
    assert hidden(tmp_path) == []


# ------------------------------------- what the user added is never removed
@pytest.mark.parametrize("added", ["notes.txt", "9/notes.txt", "9/more/x"])
def test_an_earlier_output_holding_a_users_file_is_refused_naming_it(
        tmp_path, caplog, added):
    caplog.set_level(logging.INFO)
    out = legacy_expansion(str(tmp_path / "aud"))
    write(os.path.join(out, added), "mine")
    before = file_contents(out)
    seeds, cands = stage_files(tmp_path)
    assert tool("expand", tmp_path / "nowhere", "--seeds", seeds,
                "--candidates", cands, "--out", out, "--overwrite") == 2
    (line, ) = errors(caplog)
    named = "9/more/" if added == "9/more/x" else added
    assert named in line and "did not write" in line
    assert file_contents(out) == before and hidden(tmp_path) == []


def test_files_added_during_the_run_keep_the_earlier_output(tmp_path,
                                                            caplog):
    caplog.set_level(logging.INFO)
    out = finished(str(tmp_path / "aud"), "old")
    run = OutputDir(out, overwrite=True)
    write(os.path.join(out, "notes.txt"), "written during the run")
    run.commit({"tag": "new"})
    assert tag(out) == "new"
    (kept, ) = [n for n in hidden(tmp_path) if n.endswith(".old")]
    assert (tmp_path / kept / "notes.txt").read_text() == \
        "written during the run"
    assert any(kept in m and "notes.txt" in m
               for m in messages(caplog, logging.WARNING))
    # nor does the next start remove it
    caplog.clear()
    OutputDir(out, overwrite=True).abandon()
    assert (tmp_path / kept / "notes.txt").exists()
    assert any(kept in m and "notes.txt" in m
               for m in messages(caplog, logging.WARNING))


def overlap_tool(*args):
    from tools.overlap import main
    return main([str(a) for a in args])


def test_overlap_overwrite_replaces_no_file_it_did_not_write(tmp_path,
                                                             caplog):
    caplog.set_level(logging.INFO)
    a = legacy_expansion(str(tmp_path / "a"))
    b = legacy_expansion(str(tmp_path / "b"))
    summary = os.path.join(b, "summary.json")
    before = file_contents(b)
    assert overlap_tool(a, b, "--out", summary, "--overwrite") == 2
    assert "summary.json" in errors(caplog)[-1]
    assert file_contents(b) == before
    report = tmp_path / "report.csv"
    report.write_text("quarter,revenue\nq1,3\n")
    assert overlap_tool(a, b, "--out", report, "--overwrite") == 2
    assert "not an overlap table" in errors(caplog)[-1]
    assert report.read_text() == "quarter,revenue\nq1,3\n"
    # one it wrote is replaced, and said
    table = tmp_path / "overlap.csv"
    assert overlap_tool(a, b, "--out", table) == 0
    assert overlap_tool(a, b, "--out", table, "--overwrite") == 0
    assert any("replaced %s" % table in m for m in messages(caplog))


def test_overlap_writes_nothing_into_an_output_folder(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    a = legacy_expansion(str(tmp_path / "a"))
    b = legacy_expansion(str(tmp_path / "b"))
    assert overlap_tool(a, b, "--out", os.path.join(a, "cross.csv")) == 2
    assert "inside %s" % a in errors(caplog)[-1]
    assert not os.path.exists(os.path.join(a, "cross.csv"))


# ---------------------------------- a symbolic link: written where it points
@pytest.mark.parametrize("earlier", [False, True])
def test_a_linked_out_is_written_where_it_points(tmp_path, caplog, earlier):
    caplog.set_level(logging.INFO)
    real = tmp_path / "disk" / "aud"
    if earlier:
        finished(str(real), "old")
    else:
        real.mkdir(parents=True)
    link = tmp_path / "aud"
    link.symlink_to(real)
    run = OutputDir(str(link), overwrite=earlier)
    run.write(os.path.join("3", "audience.csv"), "uid\n")
    run.commit({"tag": "new"})
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert tag(str(real)) == "new"
    assert sorted(os.listdir(real)) == ["3", "summary.json"]
    assert any(str(link) in m and "where it points" in m and str(real) in m
               for m in messages(caplog))
    assert hidden(tmp_path) == [] and hidden(tmp_path / "disk") == []


def test_a_linked_out_of_another_tool_is_refused_where_it_points(tmp_path):
    scores = scores_folder(str(tmp_path / "r.scores"))
    link = tmp_path / "aud"
    link.symlink_to(scores)
    before = file_contents(scores)
    with pytest.raises(Refused, match="meta-test"):
        OutputDir(str(link), overwrite=True)
    assert link.is_symlink() and file_contents(scores) == before


def test_overlap_writes_a_linked_out_where_it_points(tmp_path):
    a = legacy_expansion(str(tmp_path / "a"))
    b = legacy_expansion(str(tmp_path / "b"))
    real = tmp_path / "tables" / "overlap.csv"
    real.parent.mkdir()
    link = tmp_path / "overlap.csv"
    link.symlink_to(real)
    assert overlap_tool(a, b, "--out", link) == 0
    assert link.is_symlink() and real.read_text().startswith("aid_a,aid_b,")


# ------------------------------ CSV cells keep their columns, never evaluate
def rows_of(text):
    return list(csv.reader(io.StringIO(text)))


def test_overlap_names_are_quoted_and_never_a_formula():
    names = ["run 1, cold", '=HYPERLINK("http://x","y")', "+1+2", "@SUM(A1)",
             'say "hi"\nbye']
    audiences = [(n, np.arange(i, i + 5)) for i, n in enumerate(names)]
    rows = rows_of(overlap_csv(audiences))
    assert rows[0][:2] == ["aid_a", "aid_b"]
    assert all(len(r) == 7 for r in rows)
    cells = {r[0] for r in rows[1:]} | {r[1] for r in rows[1:]}
    assert "run 1, cold" in cells and 'say "hi"\nbye' in cells
    assert "'=HYPERLINK(\"http://x\",\"y\")" in cells
    assert {"'+1+2", "'@SUM(A1)"} <= cells
    assert not any(c[:1] in "=+-@" for c in cells)


def test_numbers_stay_numbers():
    audiences = [(-5, [1, 2]), (7, [2, 3]), ("-2.5e3", [2])]
    rows = rows_of(overlap_csv(audiences))
    assert [r[:2] for r in rows[1:]] == [["-5", "7"], ["-5", "-2.5e3"],
                                         ["7", "-2.5e3"]]
    uid = np.array([-5, 3, 4])
    score = np.array([-0.25, 0.5, 0.75])
    rows = rows_of(scores_csv(uid, score, np.array([1, 0, 1])))
    assert rows == [["uid", "score", "label"], ["-5", "-0.250000", "1"],
                    ["3", "0.500000", "0"], ["4", "0.750000", "1"]]

    class Expansion:
        aid, audience_size = 9, 2
        order = np.array([2, 0, 1])
    Expansion.uid, Expansion.score = uid, score
    rows = rows_of(audience_csv(Expansion))
    assert [r[:2] for r in rows[1:]] == [["4", "0.750000"],
                                         ["-5", "-0.250000"]]


def test_overlap_of_folders_with_such_names(tmp_path):
    """The probe's folders through tools/overlap.py: an aid in both is
    named folder/aid."""
    a = legacy_expansion(str(tmp_path / "run 1, cold"))
    b = legacy_expansion(str(tmp_path / '=HYPERLINK("x","y")'))
    out = tmp_path / "overlap.csv"
    assert overlap_tool(a, b, "--out", out) == 0
    rows = rows_of(out.read_text())
    assert len(rows) == 2 and all(len(r) == 7 for r in rows)
    assert rows[1][:2] == ["run 1, cold/9", "'=HYPERLINK(\"x\",\"y\")/9"]


def test_overlap_reads_campaigns_with_negative_ids(tmp_path):
    a = legacy_expansion(str(tmp_path / "a"))
    os.rename(os.path.join(a, "9"), os.path.join(a, "-9"))
    b = legacy_expansion(str(tmp_path / "b"))
    out = tmp_path / "overlap.csv"
    assert overlap_tool(a, b, "--out", out) == 0
    rows = rows_of(out.read_text())
    assert rows[1][:2] == ["-9", "9"] and rows[1][4] == "1"


# --------------------------------- a lock path that is a link is not followed
def test_a_lock_that_is_a_symbolic_link_is_refused(tmp_path):
    victim = tmp_path / "elsewhere" / "victim"
    victim.parent.mkdir()
    lock = tmp_path / ".aud.lock"
    lock.symlink_to(victim)
    with pytest.raises(Refused) as refused:
        OutputDir(str(tmp_path / "aud"))
    assert str(lock) in str(refused.value)
    assert "symbolic link" in str(refused.value)
    assert not victim.exists() and lock.is_symlink()
    assert not (tmp_path / "aud").exists()
    assert [n for n in hidden(tmp_path) if n != ".aud.lock"] == []


def test_a_lock_link_planted_after_the_check_is_not_followed(tmp_path,
                                                             monkeypatch):
    """The open itself refuses to follow a link (O_NOFOLLOW): one planted
    between the check and the open creates nothing either."""
    victim = tmp_path / "victim"
    lock = tmp_path / ".aud.lock"
    lock.symlink_to(victim)
    real = os.path.islink
    seen = []

    def not_yet(path):   # the check misses it once, as in a race
        if str(path) == str(lock) and not seen:
            seen.append(path)
            return False
        return real(path)
    monkeypatch.setattr(os.path, "islink", not_yet)
    with pytest.raises(Refused, match="symbolic link"):
        OutputDir(str(tmp_path / "aud"))
    monkeypatch.undo()
    assert seen and not victim.exists() and lock.is_symlink()
