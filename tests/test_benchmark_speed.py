"""tools/benchmark_speed.py --smoke runs the project's code paths end to end
and prints a well-formed table (it measures nothing in this mode)."""
import json
import subprocess
import sys

import pytest

from helpers import ROOT, tool_env


@pytest.mark.slow
def test_smoke(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "benchmark_speed.py"), "--smoke",
         "--out", str(tmp_path), "--json", str(tmp_path / "r.json")],
        env=tool_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads((tmp_path / "r.json").read_text())
    assert set(result["meta_batch"]) == {"b32_o1", "b32_o2", "b32_o2_lazy",
                                         "b64_o1", "b64_o2", "b64_o2_lazy"}
    for median, low, high in result["meta_batch"].values():
        assert 0 < low <= median <= high
    assert result["matmul_gflops"] > 0
    assert result["cpu"]
    gflop = result["meta_batch_gflop"]
    # second order is 12 forward passes' matmuls, first order 6; the count
    # grows linearly with the batch
    assert gflop["b64_o2"] == 2 * gflop["b64_o1"]
    assert abs(gflop["b64_o1"] - 2 * gflop["b32_o1"]) < 1e-9
    assert result["meta_test"]["gflop_per_campaign"] > 0
    assert result["expand"]["candidates"] == 2000
    assert result["expand"]["score_per_s"] > 0
    # the localised meta-test gives the plain computation's scores
    assert result["meta_test"]["max_abs_diff"] < 1e-6
    # the second load is served by the cache the first one wrote
    assert result["load_cached"]["rows"] == result["load_first"]["rows"] > 0
    assert result["load_cached"]["cache_hit"] and not result["load_first"]["cache_hit"]
    table = [line for line in out.stdout.splitlines() if line.startswith("|")]
    assert table[0].startswith("| measure | median (10–90 %) | matmul work")
    assert "GFLOP/s" in out.stdout and result["cpu"] in out.stdout
    assert len(table) >= 14
