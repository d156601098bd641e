"""Offline validation of the bundle: resource files load into the official models, references resolve."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from databricks.bundles.jobs import Job
from databricks.bundles.schemas import Schema

from chargeback.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"jobs": Job, "schemas": Schema}
RESOURCE_FILES = sorted((ROOT / "resources").glob("*.yml"))


PLACEHOLDERS = {
    "{{job.parameters.catalog}}": "main",
    "{{job.parameters.schema}}": "chargeback",
    "{{job.parameters.lookback_days}}": "30",
    "{{job.run_id}}": "123",
    "${workspace.file_path}": str(ROOT),
    "${var.usage_table}": "system.billing.usage",
    "${var.list_prices_table}": "system.billing.list_prices",
}


def _substitute(arg: str) -> str:
    for placeholder, value in PLACEHOLDERS.items():
        arg = arg.replace(placeholder, value)
    assert "{{" not in arg and "${" not in arg, f"unknown placeholder in {arg!r}"
    return arg


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _resources() -> list[tuple[str, str, dict, Path]]:
    found = []
    for path in RESOURCE_FILES:
        for kind, entries in _load(path).get("resources", {}).items():
            for key, body in entries.items():
                found.append((kind, key, body, path))
    return found


@pytest.mark.parametrize(("kind", "key", "body", "path"), _resources(), ids=lambda v: str(v)[:40])
def test_resource_loads_into_the_official_model(kind, key, body, path):
    assert kind in MODELS, f"{path.name}: no offline model for resource type {kind}"
    MODELS[kind].from_dict(body)


def test_a_misspelled_field_is_rejected():
    body = next(b for k, _, b, _ in _resources() if k == "jobs")
    broken = {**body, "max_concurent_runs": 1}
    with pytest.raises(ValueError, match="max_concurent_runs"):
        Job.from_dict(broken)


def test_every_variable_reference_is_declared():
    declared = set(_load(ROOT / "databricks.yml")["variables"])
    texts = [(ROOT / "databricks.yml").read_text(), *(p.read_text() for p in RESOURCE_FILES)]
    used = {m for text in texts for m in re.findall(r"\$\{var\.([A-Za-z0-9_]+)\}", text)}
    assert used <= declared, f"undeclared variables: {sorted(used - declared)}"


def test_targets_follow_cli_rules():
    targets = _load(ROOT / "databricks.yml")["targets"]
    assert targets["dev"]["mode"] == "development" and targets["dev"]["default"] is True
    assert targets["prod"]["mode"] == "production"
    assert targets["prod"]["workspace"]["root_path"], "production mode needs an explicit root_path"


def test_job_tasks_reference_existing_entry_points_and_environments():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for kind, key, job, path in _resources():
        if kind != "jobs":
            continue
        assert "pause_status" not in job.get("schedule", {}), "a fixed pause_status stops dev mode pausing the job"
        envs = {e["environment_key"] for e in job.get("environments", [])}
        tasks = {t["task_key"] for t in job["tasks"]}
        for task in job["tasks"]:
            for dep in task.get("depends_on", []):
                assert dep["task_key"] in tasks, f"{path.name}:{key}: unknown task {dep['task_key']}"
            if "python_wheel_task" in task:
                assert task["python_wheel_task"]["entry_point"] in scripts
                assert task["environment_key"] in envs
                args = [_substitute(a) for a in task["python_wheel_task"]["parameters"]]
                parsed = build_parser().parse_args(args)
                assert parsed.command == "job-step" and parsed.step == task["task_key"]
