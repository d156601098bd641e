"""The entry point called the way a Databricks `python_wheel_task` calls it.

The jobs runtime finds the task's `entry_point` among the package's `console_scripts` in the installed
distribution's metadata, sets `sys.argv` to the task's parameters and calls the function; the value it returns
is ignored, so only an exception or a non-zero `SystemExit` fails the task (Databricks docs, "Use a Python wheel
file in a Lakeflow Jobs job"; Jobs API `PythonWheelTask.entry_point`). Each failure class must fail the call;
success must return normally.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from collections.abc import Callable
from importlib.metadata import distribution
from pathlib import Path

import pytest

from chargeback.steps import allocation

CONFIG = Path(__file__).resolve().parents[1] / "config" / "chargeback.yml"
END = dt.date(2026, 9, 3)
DAYS = 3


def _runtime_entry_point() -> Callable[[], object]:
    """`chargeback` from the installed distribution's console_scripts, as the runtime resolves it."""
    (entry,) = [
        e
        for e in distribution("databricks-chargeback").entry_points
        if e.group == "console_scripts" and e.name == "chargeback"
    ]
    return entry.load()


def _call_as_the_runtime(monkeypatch: pytest.MonkeyPatch, *parameters: str) -> object:
    monkeypatch.setattr(sys, "argv", ["chargeback", *parameters])
    return _runtime_entry_point()()


def _fails(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *parameters: str) -> str:
    with pytest.raises(SystemExit) as exited:
        _call_as_the_runtime(monkeypatch, *parameters)
    assert exited.value.code not in (0, None), "a failure must fail the task"
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("chargeback: error: "), err
    return err


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("entry") / "lakehouse"
    with pytest.MonkeyPatch.context() as monkeypatch:
        generate = ["generate", "--lakehouse", str(root), "--end-date", str(END), "--days", str(DAYS)]
        assert _call_as_the_runtime(monkeypatch, *generate, "--scale", "200") is None, "success returns normally"
    return root


def _run(lakehouse: Path, config: Path = CONFIG) -> list[str]:
    start = END - dt.timedelta(days=DAYS - 1)
    window = ["--start-date", str(start), "--end-date", str(END), "--as-of", "2026-09-04T06:00:00Z"]
    return ["run", "--lakehouse", str(lakehouse), "--config", str(config), *window]


def test_success_returns_normally(monkeypatch, capsys, generated, tmp_path):
    lakehouse = tmp_path / "copy"
    shutil.copytree(generated, lakehouse)
    assert _call_as_the_runtime(monkeypatch, *_run(lakehouse)) is None
    assert "BALANCED" in capsys.readouterr().out


def test_an_invalid_config_fails_the_task(monkeypatch, capsys, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("currency: 12\n")
    step = ["job-step", "--step", "config", "--run-id", "1", "--config", str(bad)]
    assert "invalid config" in _fails(monkeypatch, capsys, *step)


def test_a_missing_source_table_fails_the_task(monkeypatch, capsys, tmp_path):
    assert "does not exist" in _fails(monkeypatch, capsys, *_run(tmp_path / "empty"))


def test_an_imbalance_fails_the_task(monkeypatch, capsys, generated, tmp_path):
    lakehouse = tmp_path / "copy"
    shutil.copytree(generated, lakehouse)
    real = allocation.allocate

    def loses_a_row(*args, **kwargs):  # type: ignore[no-untyped-def]
        costs = real(*args, **kwargs)
        return costs.offset(1)

    monkeypatch.setattr("chargeback.jobs.daily.allocate", loses_a_row)
    assert "billed" in _fails(monkeypatch, capsys, *_run(lakehouse))


def test_a_window_of_closed_months_fails_the_task(monkeypatch, capsys, generated, tmp_path):
    closed = tmp_path / "closed.yml"
    text = CONFIG.read_text()
    assert "\nclosed_months: []\n" in text
    closed.write_text(text.replace("\nclosed_months: []\n", '\nclosed_months: ["2026-09"]\n'))
    assert "closed" in _fails(monkeypatch, capsys, *_run(generated, closed))
