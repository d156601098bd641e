"""Offline validation of the bundle: resource files load into the official models, references resolve."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
import zoneinfo
from pathlib import Path

import pytest
import yaml
from databricks.bundles.jobs import Job
from databricks.bundles.schemas import Schema

from chargeback import dashboard
from chargeback.cli import build_parser
from chargeback.jobs import notebooks

from .bundle_cli import DEPLOY_TIME_FIELDS, MODELS, load_bundle

ROOT = Path(__file__).resolve().parents[2]
RESOURCE_FILES = sorted((ROOT / "resources").glob("*.yml"))
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


PLACEHOLDERS = {
    "{{job.parameters.catalog}}": "main",
    "{{job.parameters.schema}}": "chargeback",
    "{{job.parameters.lookback_days}}": "30",
    "{{job.parameters.full_every_days}}": "7",
    "{{job.parameters.start_date}}": "2026-08-01",
    "{{job.parameters.end_date}}": "2026-08-31",
    "{{job.run_id}}": "123",
    "{{job.id}}": "987",
    "${workspace.file_path}": str(ROOT),
    "${var.usage_table}": "system.billing.usage",
    "${var.list_prices_table}": "system.billing.list_prices",
    "${var.dedupe_usage}": "auto",
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


@pytest.mark.parametrize(
    ("kind", "misspelled"),
    [
        ("jobs", "max_concurent_runs"),
        ("dashboards", "dataset_catalogue"),
        ("schemas", "catalog_nme"),
        ("alerts", "query_txt"),
    ],
)
def test_a_misspelled_field_is_rejected(kind, misspelled):
    body = next(b for k, _, b, _ in _resources() if k == kind)
    broken = {**body, misspelled: "x"}
    with pytest.raises(ValueError, match=misspelled):
        MODELS[kind].from_dict(broken)


def test_a_misspelled_task_field_is_rejected():
    body = next(b for k, _, b, _ in _resources() if k == "jobs")
    tasks = [{**body["tasks"][-1], "dashboard_tsk": body["tasks"][-1]["dashboard_task"]}]
    with pytest.raises(ValueError, match="dashboard_tsk"):
        Job.from_dict({**body, "tasks": tasks})


def test_every_variable_reference_is_declared():
    declared = set(_load(ROOT / "databricks.yml")["variables"])
    texts = [(ROOT / "databricks.yml").read_text(), *(p.read_text() for p in RESOURCE_FILES)]
    used = {m for text in texts for m in re.findall(r"\$\{var\.([A-Za-z0-9_]+)\}", text)}
    assert used <= declared, f"undeclared variables: {sorted(used - declared)}"


def test_every_resource_reference_resolves():
    defined = {(kind, key): body for kind, key, body, _ in _resources()}
    texts = [(ROOT / "databricks.yml").read_text(), *(p.read_text() for p in RESOURCE_FILES)]
    refs = {m for text in texts for m in re.findall(r"\$\{resources\.(\w+)\.(\w+)\.(\w+)\}", text)}
    assert refs, "the jobs refresh the dashboard by id"
    for kind, key, field in refs:
        assert (kind, key) in defined, f"${{resources.{kind}.{key}.{field}}}: no such resource"
        assert field in DEPLOY_TIME_FIELDS or field in defined[(kind, key)], f"{kind}.{key} has no field {field}"


def test_targets_follow_cli_rules():
    targets = _load(ROOT / "databricks.yml")["targets"]
    assert targets["dev"]["mode"] == "development" and targets["dev"]["default"] is True
    assert targets["prod"]["mode"] == "production"
    assert targets["prod"]["workspace"]["root_path"], "production mode needs an explicit root_path"


def test_schedules_are_paused_in_dev_and_run_in_prod():
    """Development mode pauses only schedules without a pause_status: none has one, and dev states PAUSED."""
    targets = _load(ROOT / "databricks.yml")["targets"]
    assert targets["dev"]["presets"]["trigger_pause_status"] == "PAUSED"
    assert "trigger_pause_status" not in targets["prod"].get("presets", {})
    scheduled = [b for k, _, b, _ in _resources() if k == "jobs" and ("schedule" in b or "trigger" in b)]
    assert scheduled
    for job in scheduled:
        for trigger in ("schedule", "trigger", "continuous"):
            assert "pause_status" not in job.get(trigger, {}), f"{job['name']}: a fixed {trigger} pause_status"


def _job(key: str) -> dict:
    return next(b for k, name, b, _ in _resources() if k == "jobs" and name == key)


def test_daily_job_schedule_and_operations():
    job, variables = _job("chargeback_daily"), _load(ROOT / "databricks.yml")["variables"]
    cron = variables[job["schedule"]["quartz_cron_expression"][6:-1]]["default"]
    assert len(cron.split()) in (6, 7), f"quartz cron needs 6 or 7 fields: {cron!r}"
    zoneinfo.ZoneInfo(variables[job["schedule"]["timezone_id"][6:-1]]["default"])
    assert job["max_concurrent_runs"] == 1
    assert job["budget_policy_id"] == "${var.budget_policy_id}", "the job's own serverless cost is attributed too"
    assert job["email_notifications"]["on_failure"] == "${var.notification_emails}"
    assert {"metric": "RUN_DURATION_SECONDS", "op": "GREATER_THAN"}.items() <= job["health"]["rules"][0].items()
    retried = {t["task_key"] for t in job["tasks"] if t.get("max_retries", 0) > 0}
    assert retried == {t["task_key"] for t in job["tasks"]} - {"reconcile"}, "reconcile never retries"


@pytest.mark.parametrize("key", ["chargeback_daily", "chargeback_backfill"])
def test_jobs_refresh_the_dashboard_last(key):
    tasks = _job(key)["tasks"]
    last = tasks[-1]
    assert last["dashboard_task"] == {
        "dashboard_id": "${resources.dashboards.chargeback_dashboard.id}",
        "warehouse_id": "${var.warehouse_id}",
    }
    assert last["depends_on"] == [{"task_key": "reconcile"}]
    assert [t["task_key"] for t in tasks] == [
        "config",
        "price_attribute",
        "allocate_publish",
        "reconcile",
        last["task_key"],
    ]


def test_backfill_is_manual_with_a_date_range_and_the_daily_steps():
    daily, backfill = _job("chargeback_daily"), _job("chargeback_backfill")
    assert not {"schedule", "trigger", "continuous"} & set(backfill)
    assert {p["name"] for p in backfill["parameters"]} >= {"start_date", "end_date"}
    for task, daily_task in zip(backfill["tasks"], daily["tasks"], strict=True):
        if "python_wheel_task" not in task:
            continue
        args = build_parser().parse_args([_substitute(a) for a in task["python_wheel_task"]["parameters"]])
        assert (str(args.start_date), str(args.end_date)) == ("2026-08-01", "2026-08-31")
        assert task["python_wheel_task"]["entry_point"] == daily_task["python_wheel_task"]["entry_point"]


def test_the_daily_and_the_backfill_jobs_stage_in_scratch_tables_of_their_own():
    """They may run at the same time (`max_concurrent_runs` holds within a job only): the step that stages passes the
    job's id, `{{job.id}}` (a dynamic value reference: docs.databricks.com/jobs/dynamic-value-references), as the
    suffix of its scratch tables."""
    scratch: dict[str, set[str]] = {}
    for key, job_id in (("chargeback_daily", "101"), ("chargeback_backfill", "202")):
        for task in _job(key)["tasks"]:
            if "python_wheel_task" not in task:
                continue
            raw = [a.replace("{{job.id}}", job_id) for a in task["python_wheel_task"]["parameters"]]
            args = build_parser().parse_args([_substitute(a) for a in raw])
            if args.step in ("allocate_publish", "all"):
                scratch.setdefault(key, set()).add(args.scratch_key)
    assert scratch == {"chargeback_daily": {"101"}, "chargeback_backfill": {"202"}}


def test_dashboard_resource_and_file():
    (body, path) = next((b, p) for k, _, b, p in _resources() if k == "dashboards")
    assert body["display_name"] and body["warehouse_id"] == "${var.warehouse_id}", "the CLI requires both"
    assert body["dataset_catalog"] == "${var.catalog}"
    assert body["dataset_schema"] == "${resources.schemas.chargeback_schema.name}", "dev mode prefixes the schema name"
    file = (path.parent / body["file_path"]).resolve()
    assert file == dashboard.DEFAULT_FILE.resolve()
    assert "${" not in file.read_text(), "bundle variables are not substituted inside a .lvdash.json"
    assert dashboard.check(dashboard.load(file)) == []


def _local_paths(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [v for k, v in node.items() if k in ("file_path", "notebook_path", "python_file")]
        return found + [p for v in node.values() for p in _local_paths(v)]
    return [p for v in node for p in _local_paths(v)] if isinstance(node, list) else []


def test_local_files_named_by_resources_exist():
    for _, key, body, path in _resources():
        for local in _local_paths(body):
            assert (path.parent / local).is_file(), f"{path.name}:{key}: {local} does not exist"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_read_widgets_and_make_one_package_call(path):
    source = path.read_text()
    assert source.startswith("# Databricks notebook source\n")
    tree = ast.parse(source)
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert len(imports) == 1 and imports[0].module == "chargeback.jobs.notebooks", "one import, from the package"
    (name,) = (alias.name for alias in imports[0].names)
    assert callable(getattr(notebooks, name))
    defined = set(re.findall(r'dbutils\.widgets\.text\("(\w+)"', source))
    read = set(re.findall(r'dbutils\.widgets\.get\("(\w+)"\)', source))
    assert read and read == defined, f"widgets defined {sorted(defined)}, read {sorted(read)}"


def test_the_wheel_depends_on_no_spark():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}
    assert not names & {"pyspark", "delta-spark", "databricks-connect", "pysail"}, names
    wheel_name = project["name"].replace("-", "_")
    for kind, _, body, _ in _resources():
        for task in body.get("tasks", []) if kind == "jobs" else []:
            if "python_wheel_task" in task:
                assert task["python_wheel_task"]["package_name"] == wheel_name


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
                # Every step reads the sources now (checks before writing, the gate): all must read the same ones.
                assert (parsed.usage_table, parsed.list_prices_table) == (
                    "system.billing.usage",
                    "system.billing.list_prices",
                ) and "${var.usage_table}" in task["python_wheel_task"]["parameters"], f"{key}:{task['task_key']}"


# --- least privilege and credentials -------------------------------------------------------------------------

ANALYST_PRIVILEGES = {"USE_SCHEMA", "SELECT"}
JOB_PRIVILEGES = {"USE_SCHEMA", "SELECT", "MODIFY", "CREATE_TABLE"}  # read and write its tables, create new ones
JOB_PRINCIPAL = "${var.service_principal}"


def _schema_grants(target: str) -> list[dict]:
    """The schema's grants once `target` is merged in (the CLI appends a target's lists to the top-level ones)."""
    (base,) = (b for k, key, b, _ in _resources() if (k, key) == ("schemas", "chargeback_schema"))
    override = _load(ROOT / "databricks.yml")["targets"][target].get("resources", {})
    grants = [*base.get("grants", []), *override.get("schemas", {}).get("chargeback_schema", {}).get("grants", [])]
    Schema.from_dict({**base, "grants": grants})  # privilege names the official model knows
    return grants


def test_analysts_get_use_schema_and_select_only():
    grants = {g["principal"]: set(g["privileges"]) for g in _schema_grants("prod")}
    assert grants["${var.analysts_group}"] == ANALYST_PRIVILEGES


def test_the_job_principal_gets_only_what_it_needs_in_prod():
    grants = {g["principal"]: set(g["privileges"]) for g in _schema_grants("prod")}
    assert grants.keys() == {"${var.analysts_group}", JOB_PRINCIPAL}
    assert grants[JOB_PRINCIPAL] == JOB_PRIVILEGES
    assert not any(privileges & {"ALL_PRIVILEGES", "MANAGE"} for privileges in grants.values())


def test_dev_grants_nothing_to_a_principal_that_may_not_exist():
    # A grant to a group or service principal that does not exist fails the deploy: dev names none.
    assert _schema_grants("dev") == []


def test_prod_runs_as_the_service_principal():
    targets = _load(ROOT / "databricks.yml")["targets"]
    assert targets["prod"]["run_as"] == {"service_principal_name": JOB_PRINCIPAL}
    assert "run_as" not in targets["dev"], "dev runs as the deploying user"
    assert targets["prod"]["permissions"] == [{"group_name": "${var.analysts_group}", "level": "CAN_VIEW"}]


def _assigned(name: str) -> re.Pattern[str]:
    """`name = value` or `name: value` with a literal value, quoted or bare to the end of the line; not a
    `${var...}`, `{{secrets/...}}`, `$ENV` reference, a code expression or null."""
    literal = r"[A-Za-z0-9._~+/=-]{3,}"
    value = rf"[\"']{literal}[\"']|(?!(None|null)[ \t]*$){literal}[ \t]*$"
    return re.compile(rf"\b{name}[\"']?[ \t]*[=:][ \t]*({value})", re.IGNORECASE | re.MULTILINE)


CREDENTIAL_PATTERNS = {
    "Databricks personal access token": re.compile(r"\bdapi[0-9a-f]{32}(-[0-9]+)?\b"),
    "DATABRICKS_TOKEN with a value": _assigned("DATABRICKS_TOKEN"),
    "private key": re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----"),
    "client_secret with a value": _assigned("client_secret"),
}


def credential_findings(text: str) -> list[str]:
    """`line: kind` for each credential-looking string in `text`."""
    return [
        f"{text.count(chr(10), 0, match.start()) + 1}: {kind}"
        for kind, pattern in CREDENTIAL_PATTERNS.items()
        for match in pattern.finditer(text)
    ]


def test_the_credential_scanner_finds_planted_credentials():
    # Assembled at run time so that this file itself stays clean for the repository scan.
    token, env, secret = "dapi" + "0123456789abcdef" * 2, "DATABRICKS_" + "TOKEN", "client_" + "secret"
    planted = {
        f"host: x\ntoken = {token}\n": ["2: Databricks personal access token"],
        f"export {env}={token}-2\n": ["1: Databricks personal access token", "1: DATABRICKS_TOKEN with a value"],
        f"{env}='abc'\n": ["1: DATABRICKS_TOKEN with a value"],
        "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIE...\n": ["1: private key"],
        f"auth:\n  {secret}: s3cr3t\n": ["2: client_secret with a value"],
        f'{{"{secret}": "s3cr3t"}}': ["1: client_secret with a value"],
    }
    for text, expected in planted.items():
        assert sorted(credential_findings(text)) == sorted(expected), text
    clean = [
        "DATABRICKS_TOKEN=${{ secrets.TOKEN }}",
        "DATABRICKS_TOKEN=$TOKEN",
        "DATABRICKS_TOKEN=",
        "client_secret: null",
        "client_secret: ${var.client_secret}",
        "client_secret: {{secrets/scope/key}}",
        "client_secret=os.environ['X']",
        'monkeypatch.setenv("DATABRICKS_TOKEN", "fake")',
        "dapi-test-token",
        "OAuth `DATABRICKS_CLIENT_ID`/`DATABRICKS_CLIENT_SECRET`",
    ]
    assert [text for text in clean if credential_findings(text)] == []


def test_no_credentials_in_the_repository():
    """Tracked files and new files not ignored (about to be committed) hold no credential."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = [ROOT / name for name in listed.decode().split("\0") if name]
    assert len(files) > 20
    findings = [
        f"{path.relative_to(ROOT)}:{finding}"
        for path in files
        if path.is_file()
        for finding in credential_findings(path.read_bytes().decode("utf-8", errors="replace"))
    ]
    assert findings == []


# --- the bundle as `databricks bundle validate` loads it, per target --------------------------------------


def _readme_deploy_vars(target: str) -> dict[str, str]:
    """The `--var name=value` a user passes to `databricks bundle deploy -t <target>`, as the README says."""
    lines = [
        line
        for line in (ROOT / "README.md").read_text().splitlines()
        if f"databricks bundle deploy -t {target}" in line
    ]
    assert lines, f"the README gives no deploy command for {target}"
    return dict(re.findall(r"--var[ =]\"?([A-Za-z0-9_]+)=([^\s\"]+)", lines[0]))


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_offline_validate_passes_with_the_values_the_readme_passes(target):
    loaded = load_bundle(ROOT, target, _readme_deploy_vars(target))
    assert loaded.errors == []


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_required_values_are_required_at_load(target):
    """With no `--var`, the CLI stops at load time on each required variable instead of deploying an empty one."""
    errors = load_bundle(ROOT, target, {}).errors
    required = {"warehouse_id"} | ({"service_principal", "analysts_group"} if target == "prod" else set())
    assert sorted(errors) == sorted(f"no value assigned to required variable {name}" for name in required)


def _broken_bundle(tmp_path: Path, edit: dict[str, tuple[str, str]]) -> Path:
    """A copy of the bundle's YAML with `file: (old, new)` replacements applied (each must match)."""
    for path in [ROOT / "databricks.yml", *RESOURCE_FILES]:
        target = tmp_path / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text()
        if path.name in edit:
            old, new = edit[path.name]
            assert old in text, f"{path.name}: {old!r} not found"
            text = text.replace(old, new)
        target.write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            {"chargeback.schema.yml": ("    chargeback_schema:", "    chargeback_daily:")},
            "multiple resources or scripts have been defined with the same key: chargeback_daily",
        ),
        # A default of "" where the user passes no --var: today's bundle did this.
        ({"databricks.yml": ("  warehouse_id:\n", "  warehouse_id:\n    default: ''\n")}, "warehouse_id is empty"),
        (
            {"databricks.yml": ("/Workspace/Users/${workspace.current_user.userName}/", "/Workspace/Shared/")},
            "is writable by all workspace users",
        ),
        (
            {"databricks.yml": ("  service_principal:\n", "  service_principal:\n    default: ''\n")},
            "run_as.service_principal_name is empty",
        ),
        ({"chargeback.job.yml": ("max_concurrent_runs: 1", "max_concurent_runs: 1")}, "max_concurent_runs"),
        ({"chargeback.job.yml": ("${resources.dashboards.", "${resources.dashbords.")}, "reference does not exist"),
    ],
    ids=["duplicate key", "empty warehouse", "shared root", "empty principal", "unknown field", "bad reference"],
)
def test_offline_validate_refuses_what_the_cli_refuses(tmp_path, edit, expected):
    root = _broken_bundle(tmp_path, edit)
    given = {k: v for k, v in _readme_deploy_vars("prod").items() if f"  {k}:" not in next(iter(edit.values()))[0]}
    errors = load_bundle(root, "prod", given).errors
    assert any(expected in e for e in errors), errors


def test_the_cli_version_is_pinned_for_bundle_alerts():
    # Alerts in bundles and trigger_pause_status for alerts need CLI 0.286 (databricks/cli CHANGELOG, #4323).
    assert _load(ROOT / "databricks.yml")["bundle"]["databricks_cli_version"] == ">= 0.286.0"


# --- the wheel `bundle deploy` builds ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built as the bundle's artifact build does (`pip wheel --no-deps`), from a clean copy of this
    checkout: a `build/` folder left by an earlier build would otherwise add modules that no longer exist."""
    out, source = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("checkout") / "project"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for part in ("src", "config"):
        shutil.copytree(ROOT / part, source / part, ignore=skip)
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, source / part)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_carries_every_module_the_config_and_the_dashboard(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT / "src")) for p in (ROOT / "src" / "chargeback").rglob("*.py")}
    shipped = {n for n in names if n.startswith("chargeback/") and n.endswith(".py")}
    shipped -= {n for n in shipped if n.startswith("chargeback/bundled_config/")}
    assert modules - shipped == set(), "missing from the wheel (add the package to pyproject's list)"
    assert shipped - modules == set(), "in the wheel but not in src/"
    archive = zipfile.ZipFile(wheel)
    assert archive.read("chargeback/bundled_config/chargeback.yml") == (ROOT / "config" / "chargeback.yml").read_bytes()
    assert "chargeback/resources/chargeback.lvdash.json" in names


def test_the_artifact_build_starts_from_a_clean_build_folder() -> None:
    (build,) = [a["build"] for a in yaml.safe_load((ROOT / "databricks.yml").read_text())["artifacts"].values()]
    assert build.index("rmtree('build'") < build.index("pip wheel"), "setuptools would reuse stale build/lib"


def test_the_installed_wheel_runs_with_its_own_config_from_any_folder(wheel: Path, tmp_path: Path) -> None:
    target, elsewhere = tmp_path / "site", tmp_path / "empty folder"
    elsewhere.mkdir()
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    code = (
        "from chargeback.cli import bundled_config as c, main\n"
        "print(c())\n"
        "raise SystemExit(main(['validate-config', str(c())]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=elsewhere,
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith(str(target)), "the installed wheel's config, not the checkout's"
    assert result.stdout.splitlines()[-1].endswith(": valid")
