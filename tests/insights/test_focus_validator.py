"""The FinOps Foundation's own FOCUS validator (PyPI `focus-validator`, FOCUS 1.2 rules) on the pipeline's export.

The validator needs Python 3.12, so it lives in a venv of its own: `.ci/run` creates `.venv-focus` when
`python3.12` is there; `FOCUS_VALIDATOR` may name another `focus-validator` executable. Without either the test
is skipped. The export is the `focus_costs` table of `tests/jobs/test_daily.py`'s baseline lakehouse (generated
usage, processed by the documented config), written to Parquet with its Delta types and validated offline.

The validator selects rules itself: with no applicability criteria given (as here) it skips the rules that need
one (`rule not applicable`), the dynamic ones it cannot check (`validation is dynamic`), the MAY ones, and every
composite whose children were all skipped. Every other rule, recommended columns included, is checked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from chargeback.contracts.insight_tables import FOCUS_COSTS
from tests.jobs.test_daily import baseline, config, generated, lakehouse, params  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FOCUS_VENV = REPO / ".venv-focus"
# validator 2.2's FOCUS 1.2 model gives InvoiceId two unconditional nullability rules: C-004-C "MUST be null" and
# C-005-C "MUST NOT be null" (the conditions, whether a charge has an invoice, are not machine-checkable). Only
# their OR, InvoiceId-C-003-C, is the requirement; any non-empty dataset fails one of the two leaves. The export
# has no invoices (InvoiceId is NULL), so it passes C-003-C and C-004-C and fails C-005-C, and only that.
CONTRADICTORY_RULES = {"InvoiceId-C-005-C": "InvoiceId-C-004-C"}
RESULT = re.compile(r"^\S+ (\S+): (PASS|FAIL|SKIPPED)\b", re.MULTILINE)
TOTALS = re.compile(r"^Total: (\d+) \| Pass: (\d+) \| Fail: (\d+) \| Skipped: (\d+)$", re.MULTILINE)


def validator_executable() -> Path | None:
    named = os.environ.get("FOCUS_VALIDATOR")
    candidate = Path(named) if named else FOCUS_VENV / "bin" / "focus-validator"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


@pytest.fixture(scope="module")
def validator() -> Path:
    executable = validator_executable()
    if executable is None:
        pytest.skip(
            "focus-validator is not installed: `bash .ci/run` creates .venv-focus with Python 3.12 "
            "(or set FOCUS_VALIDATOR to a focus-validator executable)"
        )
    return executable


def currency_codes(executable: Path) -> Path:
    """The ISO 4217 list the validator ships (it reads it relative to its working directory)."""
    python = executable.parent / "python"
    found = subprocess.run(
        [str(python), "-c", "import focus_validator, pathlib; print(pathlib.Path(focus_validator.__file__).parent)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(found.stdout.strip()) / "rules" / "currency_codes.csv"


def run_validator(executable: Path, data: Path, workdir: Path) -> tuple[dict[str, str], tuple[int, ...], str]:
    """Rule id -> PASS / FAIL / SKIPPED, the totals line (total, pass, fail, skipped), and the full output."""
    codes = workdir / "focus_validator" / "rules" / "currency_codes.csv"
    codes.parent.mkdir(parents=True)
    shutil.copyfile(currency_codes(executable), codes)
    done = subprocess.run(
        [str(executable), "--data-file", str(data), "--validate-version", "1.2", "--block-download"],
        cwd=workdir,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    totals = TOTALS.search(done.stdout)
    assert totals, done.stdout[-3000:]
    return dict(RESULT.findall(done.stdout)), tuple(int(n) for n in totals.groups()), done.stdout


def test_the_focus_export_passes_the_finops_foundation_validator(
    validator: Path,
    baseline: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    import pyarrow.parquet as pq

    data = tmp_path / "focus_costs.parquet"
    with lakehouse(baseline) as store:
        export = store.read(params("x").table(FOCUS_COSTS))
        assert export.count() > 1000
        pq.write_table(export.toArrow(), data)

    workdir = tmp_path / "validator"
    workdir.mkdir()
    results, (total, passed, failed, skipped), output = run_validator(validator, data, workdir)
    print(f"focus-validator: {total} rules, {passed} passed, {failed} failed, {skipped} skipped")  # shown by -s

    assert len(results) == total and total == passed + failed + skipped
    failures = sorted(rule for rule, status in results.items() if status == "FAIL")
    assert set(failures) <= set(CONTRADICTORY_RULES), output[output.find("--- Failures ---") :]
    for rule in failures:
        assert results[CONTRADICTORY_RULES[rule]] == "PASS", rule  # its opposite passes: the model's fault
    assert passed >= 130, (passed, failed, skipped)
    # Recommended columns checked, not skipped: InvoiceId and ServiceSubcategory present and valid, one
    # ServiceSubcategory per ServiceName.
    for rule in (
        "CostAndUsage-D-033-O",
        "CostAndUsage-D-042-O",
        "InvoiceId-C-000-O",
        "InvoiceId-C-003-C",
        "ServiceSubcategory-C-000-O",
        "ServiceName-C-008-C",
        "BillingCurrency-C-000-M",
    ):
        assert results.get(rule) == "PASS", (rule, results.get(rule))
