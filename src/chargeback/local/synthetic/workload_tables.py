"""The small tables that describe the account: workspaces_latest, lakeflow jobs and pipelines, served_entities."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from chargeback.local.synthetic.account import ACCOUNT_ID, USER_ALICE, WORKSPACES
from chargeback.local.synthetic.inventory import WORKLOADS
from chargeback.local.synthetic.window import Window
from chargeback.local.synthetic.workload import Workload, changed_part


def workspace_rows(window: Window) -> list[dict[str, object]]:
    """Current workspaces only: the cancelled workspace has no row."""
    return [
        {
            "account_id": ACCOUNT_ID,
            "workspace_id": ws.workspace_id,
            "workspace_name": ws.name,
            "workspace_url": f"https://{ws.name}.cloud.databricks.com",
            "create_time": window.start - dt.timedelta(days=400 + 97 * i, seconds=3_607 * i),
            "status": "RUNNING",
        }
        for i, ws in enumerate(WORKSPACES)
        if not ws.cancelled
    ]


def job_rows(window: Window) -> list[dict[str, object]]:
    """SCD2 rows of every job: a creation row, plus a change row for renamed or re-tagged jobs."""
    rows = []
    jobs = [w for w in WORKLOADS if "job_id" in w.metadata]
    for i, w in enumerate(jobs):
        created = window.start - dt.timedelta(days=30 + 7 * i, seconds=4_111 * i)
        rows.append(_job_row(w, w.metadata["job_name"], w.tags, created, created))
        if w.after_change:
            # Changed shortly before the hour from which usage carries the new values.
            changed_at = window.change_time - dt.timedelta(seconds=443)
            rows.append(
                _job_row(w, changed_part(w, "metadata")["job_name"], changed_part(w, "tags"), changed_at, created)
            )
    return rows


def _job_row(
    w: Workload, name: str, tags: Mapping[str, str], change_time: dt.datetime, create_time: dt.datetime
) -> dict[str, object]:
    run_as = w.identity["run_as"]
    scheduled = w.activity in ("nightly", "early", "etl")
    return {
        "account_id": ACCOUNT_ID,
        "workspace_id": w.workspace.workspace_id,
        "job_id": w.metadata["job_id"],
        "name": name,
        "creator_id": run_as,
        "tags": dict(tags),
        "run_as": run_as,
        "change_time": change_time,
        "delete_time": None,
        "description": f"Synthetic job {name}",
        "trigger": {"schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"}} if scheduled else None,
        "trigger_type": "CRON" if scheduled else "ONETIME",
        "run_as_user_name": run_as,
        "creator_user_name": run_as,
        "paused": False,
        "timeout_seconds": 0,
        "health_rules": None,
        "deployment": None,
        "create_time": create_time,
    }


def pipeline_rows(window: Window) -> list[dict[str, object]]:
    """One row per pipeline; serverless pipelines keep their business-unit tag only here."""
    rows = []
    pipelines = [w for w in WORKLOADS if w.kind.startswith("pipeline")]
    for i, w in enumerate(pipelines):
        serverless = w.kind == "pipeline_serverless"
        rows.append(
            {
                "account_id": ACCOUNT_ID,
                "workspace_id": w.workspace.workspace_id,
                "pipeline_id": w.metadata["dlt_pipeline_id"],
                "pipeline_type": "ETL_PIPELINE",
                "name": w.key,
                "created_by": w.identity["run_as"],
                "run_as": w.identity["run_as"],
                "tags": dict(w.tags),
                "settings": {
                    "photon": not serverless,
                    "development": False,
                    "continuous": False,
                    "serverless": serverless,
                    "edition": "ADVANCED",
                    "channel": "CURRENT",
                },
                "configuration": {"pipelines.source": "synthetic"},
                "change_time": window.start - dt.timedelta(days=45 + 11 * i, seconds=977 * i),
                "delete_time": None,
            }
        )
    return rows


def served_entity_rows(window: Window) -> list[dict[str, object]]:
    """One row per served entity of every custom serving endpoint."""
    rows = []
    endpoints = [w for w in WORKLOADS if w.served_entities]
    for i, w in enumerate(endpoints):
        for entity in w.served_entities:
            feature = entity.entity_type == "FEATURE_SPEC"
            config = {"min_concurrency": 0, "max_concurrency": 4, "compute_type": entity.compute_type}
            rows.append(
                {
                    "served_entity_id": entity.served_entity_id,
                    "account_id": ACCOUNT_ID,
                    "workspace_id": w.workspace.workspace_id,
                    "created_by": USER_ALICE,
                    "endpoint_name": w.metadata["endpoint_name"],
                    "endpoint_id": w.metadata["endpoint_id"],
                    "served_entity_name": entity.name,
                    "entity_type": entity.entity_type,
                    "entity_name": entity.entity_name,
                    "entity_version": entity.entity_version,
                    "endpoint_config_version": 1,
                    "task": None,
                    "external_model_config": None,
                    "foundation_model_config": None,
                    "custom_model_config": None if feature else config,
                    "feature_spec_config": config if feature else None,
                    "change_time": window.start - dt.timedelta(days=20 + 5 * i, seconds=1_234 * i),
                    "endpoint_delete_time": None,
                }
            )
    return rows
