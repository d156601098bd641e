"""What a billed workload is (SKU, metadata, tags, identity, activity) and the builders of each kind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from chargeback.local.synthetic.account import OTHER_REGION_WORKSPACES, BudgetPolicy, Workspace


@dataclass(frozen=True)
class ServedEntity:
    served_entity_id: str
    name: str
    entity_type: str
    entity_name: str
    entity_version: str
    compute_type: str


@dataclass(frozen=True)
class Workload:
    """One billed thing and how it is billed: SKU, metadata, tags, identity and hourly activity.

    `tags` are the resource's own tags (job, cluster, warehouse, endpoint or pipeline tags); they reach
    `custom_tags` unless `tags_in_usage` is False (serverless pipelines). `after_change` replaces tags and
    metadata from the reorg instant on. Quantities are DBUs (or GB / DSU) per record.
    """

    key: str
    kind: str
    workspace: Workspace
    sku: str
    product: str
    activity: str
    records_per_hour: float
    quantity_per_record: float
    metadata: Mapping[str, str]
    identity: Mapping[str, str] = field(default_factory=dict)
    features: Mapping[str, object] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    tags_in_usage: bool = True
    policy: BudgetPolicy | None = None
    after_change: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    usage_unit: str = "DBU"
    usage_type: str = "COMPUTE_TIME"
    launch_sku: str | None = None
    served_entities: tuple[ServedEntity, ...] = ()

    @property
    def name(self) -> str:
        m = self.metadata
        return m.get("job_name") or m.get("endpoint_name") or m.get("app_name") or m.get("notebook_path") or self.key


def regional_sku(workspace: Workspace, product: str) -> str:
    return f"PREMIUM_{product}_{workspace.region}"


def photon_sku(sku: str, photon: bool) -> str:
    return f"{sku}_(PHOTON)" if photon else sku


def classic_job(
    key: str,
    ws: Workspace,
    job_id: str,
    run_as: str,
    tags: Mapping[str, str],
    *,
    photon: bool = False,
    activity: str = "nightly",
    node_type: str = "i3.2xlarge",
    **kw: object,
) -> Workload:
    return Workload(
        key,
        "job_classic",
        ws,
        photon_sku("PREMIUM_JOBS_COMPUTE", photon),
        "JOBS",
        activity,
        2.0,
        7.5,
        {"job_id": job_id, "job_name": key, "node_type": node_type},
        {"run_as": run_as},
        {"jobs_tier": "CLASSIC", "is_serverless": False, "is_photon": photon},
        tags,
        **kw,  # type: ignore[arg-type]
    )


def serverless_job(
    key: str,
    ws: Workspace,
    job_id: str,
    run_as: str,
    policy: BudgetPolicy | None,
    *,
    activity: str = "hourly",
    tags: Mapping[str, str] | None = None,
    product: str = "JOBS",
    performance_target: str = "STANDARD",
) -> Workload:
    return Workload(
        key,
        "job_serverless",
        ws,
        regional_sku(ws, "JOBS_SERVERLESS_COMPUTE"),
        product,
        activity,
        4.0,
        2.2,
        {"job_id": job_id, "job_name": key},
        {"run_as": run_as},
        {"is_serverless": True, "performance_target": performance_target},
        tags or {},
        policy=policy,
    )


def serverless_pipeline(key: str, ws: Workspace, pipeline_id: str, run_as: str, tags: Mapping[str, str]) -> Workload:
    # Serverless pipelines bill on the jobs-serverless SKU and leave custom_tags empty (spec §1.8, §5.7).
    return Workload(
        key,
        "pipeline_serverless",
        ws,
        regional_sku(ws, "JOBS_SERVERLESS_COMPUTE"),
        "DLT",
        "hourly",
        3.0,
        1.8,
        {"dlt_pipeline_id": pipeline_id},
        {"run_as": run_as},
        {"dlt_tier": "ADVANCED", "is_serverless": True, "performance_target": "STANDARD"},
        tags,
        tags_in_usage=False,
    )


def warehouse(
    key: str,
    ws: Workspace,
    warehouse_id: str,
    owner: str,
    tags: Mapping[str, str],
    *,
    activity: str = "business",
    pro: bool = False,
) -> Workload:
    sku = regional_sku(ws, "SQL_PRO_COMPUTE") if pro else regional_sku(ws, "SERVERLESS_SQL_COMPUTE")
    metadata = {"warehouse_id": warehouse_id, **({"node_type": "Standard_E8ds_v5"} if pro else {})}
    return Workload(
        key,
        "sql",
        ws,
        sku,
        "SQL",
        activity,
        3.0,
        6.0,
        metadata,
        {"owned_by": owner},
        {"sql_tier": "PRO", "is_serverless": not pro, "is_photon": True},
        tags,
    )


def notebook(key: str, ws: Workspace, notebook_id: str, user: str, name: str, policy: BudgetPolicy | None) -> Workload:
    return Workload(
        key,
        "notebook",
        ws,
        regional_sku(ws, "ALL_PURPOSE_SERVERLESS_COMPUTE"),
        "INTERACTIVE",
        "business",
        2.0,
        1.4,
        {"notebook_id": notebook_id, "notebook_path": f"/Users/{user}/{name}"},
        {"run_as": user},
        {"is_serverless": True},
        policy=policy,
    )


def all_purpose(
    key: str,
    ws: Workspace,
    cluster_id: str,
    tags: Mapping[str, str],
    *,
    photon: bool = False,
    node_type: str = "i3.xlarge",
    activity: str = "business",
) -> Workload:
    return Workload(
        key,
        "all_purpose",
        ws,
        photon_sku("PREMIUM_ALL_PURPOSE_COMPUTE", photon),
        "ALL_PURPOSE",
        activity,
        1.5,
        4.0,
        {"cluster_id": cluster_id, "node_type": node_type},
        {},
        {"is_serverless": False, "is_photon": photon},
        tags,
    )


def endpoint(
    key: str,
    ws: Workspace,
    endpoint_id: str,
    serving_type: str,
    tags: Mapping[str, str],
    entities: tuple[ServedEntity, ...],
    *,
    per_record: float = 1.6,
) -> Workload:
    gpu = serving_type == "GPU_MODEL"
    return Workload(
        key,
        "serving",
        ws,
        regional_sku(ws, "SERVERLESS_REAL_TIME_INFERENCE"),
        "MODEL_SERVING",
        "sporadic",
        2.0,
        per_record,
        {"endpoint_name": key, "endpoint_id": endpoint_id},
        {},
        # is_serverless is NULL for model serving: there is no classic alternative to choose.
        {"serving_type": serving_type},
        tags,
        usage_type="GPU_TIME" if gpu else "COMPUTE_TIME",
        launch_sku=regional_sku(ws, "SERVERLESS_REAL_TIME_INFERENCE_LAUNCH"),
        served_entities=entities,
    )


def entity(endpoint_id: str, n: int, entity_type: str, entity_name: str, version: str, compute: str) -> ServedEntity:
    served_entity_id = endpoint_id[:-2] + f"{n:02d}"
    short = entity_name.rsplit(".", 1)[-1]
    return ServedEntity(served_entity_id, f"{short}-{version}", entity_type, entity_name, version, compute)


def changed_part(w: Workload, part: str) -> dict[str, str]:
    base = w.tags if part == "tags" else w.metadata
    return {**base, **w.after_change.get(part, {})}


def is_regional(w: Workload) -> bool:
    return w.workspace not in OTHER_REGION_WORKSPACES
