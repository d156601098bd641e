"""The benchmark's smoke run (tiny scale, one repeat), so `bench/run.py` cannot rot. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chargeback.dashboard import DEFAULT_FILE, load
from tests.conftest import ENGINES

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_smoke_run_measures_every_phase_and_engines_bill_the_same(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    command = [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--out", str(out)]
    command += ["--work", str(tmp_path / "work")] + ([] if "jvm" in ENGINES else ["--no-jvm"])
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]

    results = json.loads(out.read_text())
    assert results["command"].startswith("bench/run.py --smoke") and str(tmp_path) not in results["command"]
    (scale,) = results["scales"]
    assert scale["pipeline"]["is_balanced"]
    assert scale["usage_rows"] > 0 and scale["limit"]["median_s"] > 0
    assert set(scale["dashboard"]) == {ds["name"] for ds in load(DEFAULT_FILE)["datasets"]} | {"peak"}
    if "jvm" in ENGINES:
        # The same data billed to the same cent on both engines.
        assert scale["jvm_pipeline"]["billed_cost"] == scale["pipeline"]["billed_cost"]
        assert scale["jvm_pipeline"]["usage_lines"] == scale["pipeline"]["usage_lines"]
    enterprise = scale["enterprise"]
    assert enterprise["pipeline"]["is_balanced"]
    assert enterprise["pipeline"]["billed_cost"] == scale["pipeline"]["billed_cost"]
    assert enterprise["validate"]["enterprise"]["units"] > 5_000 > enterprise["validate"]["base"]["units"]
    year = results["year"]
    assert year["full"]["is_balanced"] and year["incremental"]["is_balanced"]
    assert year["incremental"]["usage_lines"] < year["full"]["usage_lines"]
    assert year["incremental"]["mode"] == "incremental" and year["window_full"]["mode"] == "full"
    assert year["differences"] and not any(year["differences"].values())  # the same silver and gold, row for row
    for line in ("bare limit", "full pipeline, Sail", "normal day, incremental", "ds_statement", "enterprise config"):
        assert line in proc.stdout
