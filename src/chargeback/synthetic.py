"""Synthetic Databricks system tables: a small, fixed "world" of workloads billed hour by hour.

`generate` writes the six system tables the pipeline reads (usage, list_prices, workspaces_latest, lakeflow
jobs and pipelines, served_entities) with the exact Databricks schemas from `chargeback.schemas`. The world
(workspaces, budget policies, jobs, warehouses, endpoints, identities) is fixed and independent of dates and
seeds, so `config/chargeback.yml` can name its ids; the seed drives activity, quantities and corrections, and
every date is relative to `start_date`.

The usage table is the big one (`scale` rows per day, up to millions), so it is built in numpy and pyarrow,
chunk by chunk, never row by row: each chunk is a compact "facts" table (one row per usage record: dimension
key, times, quantity, record id, run ids) that the engine joins to a small "dimensions" table (one row per
workload and tag variant: SKU, tags, metadata, identity, product features) and reshapes into the nested
Databricks schema. Shipping only the facts keeps every Spark Connect message far below its 128 MiB limit.

Timeline of a generated window of `days` days (day 0 = `start_date`, all times UTC):
- day `days // 3`: `usage_metadata.usage_policy_id` starts being filled (NULL before, as on older rows);
  the cancelled workspace's usage stops.
- day `days // 2`, 00:00: the reorg (one job's business-unit tag changes) and a job rename take effect.
- day `2 * days // 3`, 13:37:11: the list price of `PRICE_CHANGE_SKU` changes.
- Corrections arrive days later; the table is written as it would read on `start_date + days` (the day after
  the last usage day), so corrections due later are not in it yet.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from numpy.random import PCG64, Generator

from chargeback import schemas
from chargeback.errors import InputError
from chargeback.names import TableName

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from chargeback.tables import LocalLakehouse

USAGE_TABLE = TableName.parse("system.billing.usage")
LIST_PRICES_TABLE = TableName.parse("system.billing.list_prices")
WORKSPACES_TABLE = TableName.parse("system.access.workspaces_latest")
JOBS_TABLE = TableName.parse("system.lakeflow.jobs")
PIPELINES_TABLE = TableName.parse("system.lakeflow.pipelines")
SERVED_ENTITIES_TABLE = TableName.parse("system.serving.served_entities")

# Share of ORIGINAL records that get corrected (a RETRACTION, usually followed by a RESTATEMENT).
CORRECTION_RATE = 0.01
# Original usage rows per day when `scale` is not given: a 60-day demo then generates in seconds.
DEFAULT_ROWS_PER_DAY = 2_000
MAX_DAYS = 3_660
# Original rows per chunk sent to the engine; a chunk's facts take about 150 bytes a row on the wire.
CHUNK_ROWS = 250_000

ACCOUNT_ID = "4f8c2e1a-7b3d-4c9e-a5f6-0d2b8e7c1a94"

# ---------------------------------------------------------------------------------------------------------
# The world. Ids are literals so that the example config can name them.
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workspace:
    """A workspace; `region` is the SKU region suffix, None for a workspace with classic SKUs only."""

    workspace_id: str
    name: str
    cloud: str
    region: str | None
    cancelled: bool = False


WS_PROD = Workspace("1837462950183746", "acme-prod-us", "AWS", "US_EAST_N_VIRGINIA")
WS_ML = Workspace("2948571036294857", "acme-ml-eu", "AWS", "EUROPE_IRELAND")
WS_FINANCE = Workspace("3059682147305968", "acme-finance-azure", "AZURE", "EU_NORTH")
WS_SANDBOX = Workspace("4160793258416079", "acme-sandbox-gcp", "GCP", None)
WS_SHARED = Workspace("5271804369527180", "acme-shared-services", "AWS", "US_EAST_N_VIRGINIA")
# Cancelled during the window: it has usage but, as on Databricks, no row in workspaces_latest.
WS_CANCELLED = Workspace("6382915470638291", "acme-legacy-oregon", "AWS", None, cancelled=True)
WORKSPACES = (WS_PROD, WS_ML, WS_FINANCE, WS_SANDBOX, WS_SHARED, WS_CANCELLED)


@dataclass(frozen=True)
class BudgetPolicy:
    """A serverless budget (usage) policy; a deleted policy keeps its id on usage but applies no tags."""

    policy_id: str
    name: str
    tags: Mapping[str, str]
    deleted: bool = False


POLICY_DATA_ENG = BudgetPolicy(
    "0b7e2c4a-1d3f-4a5b-9c8d-7e6f5a4b3c2d", "data-eng-serverless", {"business_unit": "Data-Eng", "env": "prod"}
)
POLICY_ML = BudgetPolicy("1c8f3d5b-2e4a-4b6c-8d9e-8f7a6b5c4d3e", "ml-serverless", {"team": "ML Platform"})
# Tags without any business-unit key: only the config's budget_policies mapping can attribute it.
POLICY_CUSTOMER_360 = BudgetPolicy(
    "2d9a4e6c-3f5b-4c7d-9e0f-9a8b7c6d5e4f", "customer-360", {"project": "customer-360", "env": "prod"}
)
POLICY_DELETED = BudgetPolicy("3e0b5f7d-4a6c-4d8e-8f1a-0b9c8d7e6f5a", "old-team-policy", {}, deleted=True)
POLICIES = (POLICY_DATA_ENG, POLICY_ML, POLICY_CUSTOMER_360, POLICY_DELETED)

# Tag keys that carry a business unit, in the inconsistent spellings real accounts accumulate.
BUSINESS_UNIT_TAG_KEYS = ("business_unit", "BusinessUnit", "cost_center", "team")

# Identities: service principals appear as application ids, users as emails.
SP_DATA_ENG = "7d1e9a3b-5c2f-4e8a-b6d4-1f0e9c8b7a65"
SP_FINANCE = "8e2f0b4c-6d3a-4f9b-a7e5-2a1f0d9c8b76"
SP_PLATFORM = "9f3a1c5d-7e4b-4a0c-b8f6-3b2a1e0d9c87"
SP_DATABRICKS_SYSTEM = "0a4b2d6e-8f5c-4b1d-9c7a-4c3b2f1e0dab"  # Databricks-owned, runs predictive optimization
USER_ALICE = "alice.nguyen@acme.example"
USER_BOB = "bob.smith@acme.example"
USER_GUEST = "guest.analyst@acme.example"
USER_MARIA = "maria.garcia@acme.example"
USER_FRANK = "frank.miller@acme.example"
USER_SAM = "sam.patel@acme.example"
USER_INTERN = "intern@acme.example"
USER_PLATFORM_ADMIN = "platform.admin@acme.example"

JOB_DAILY_SALES_ETL = "684129375102938"
JOB_INGEST_CLICKSTREAM = "209384756120934"  # renamed mid-period
JOB_FIN_MONTH_END = "550193847261003"
JOB_LEGACY_EXPORT = "771029384756102"  # untagged: attributed through its run_as identity
JOB_SUPPLY_CHAIN = "641506978324150"  # the reorg: its business-unit tag changes mid-period
JOB_TMP_DEBUG = "752617089435261"  # untagged, unmapped identity: UNALLOCATED
JOB_CHURN_SCORING = "318273645091827"
JOB_MARKETING_ATTRIBUTION = "429384756102938"
JOB_AD_HOC_BACKFILL = "530495867213049"  # deleted policy, no tags: attributed by a workload mapping
JOB_EVENTS_COMPACTION = "196051423879605"
JOB_MODEL_RETRAINING = "863728190546372"
JOB_LEDGER_CLOSE = "974839201657483"
JOB_FX_RATES = "185940312768594"  # untagged, in a workspace with a default unit
JOB_SANDBOX_EXPERIMENTS = "296051423879605"
JOB_PLATFORM_MAINTENANCE = "307162534980716"
JOB_OLD_REPORTING = "418273640918273"

PIPELINE_ORDERS_CDC = "5a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
PIPELINE_MARKETING_LEADS = "6b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e"  # serverless: tags only in lakeflow.pipelines
PIPELINE_FRAUD_FEATURES = "7c3d4e5f-6a7b-4c8d-8e9f-1a2b3c4d5e6f"  # serverless: tags only in lakeflow.pipelines

WH_FINANCE_BI = "a1f3c5e7b9d2f4a6"
WH_SHARED_BI = "b2e4d6f8a0c3e5b7"  # a shared warehouse: split by a shared-cost pool
WH_MARKETING_ADHOC = "c3d5e7f9b1d4f6c8"  # untagged: attributed through owned_by
WH_FINANCE_REPORTING = "d4c6e8a0c2e5a7d9"

ENDPOINT_CHURN = "e5f7a9c1d3b5e7f9a1c3e5f7a9b1d3e5"
ENDPOINT_RECSYS = "f6a8b0d2e4c6f8a0b2d4f6a8c0e2b4d6"  # untagged, two served entities: a workload mapping
ENDPOINT_FRAUD_FEATURES = "a7b9c1e3f5d7a9b1c3e5a7b9d1f3c5e7"
ENDPOINT_FMAPI = "b8c0d2f4a6e8b0c2d4f6b8c0e2a4d6f8"

NOTEBOOK_ALICE = "1029384756102938"
NOTEBOOK_BOB = "2130495867213049"
NOTEBOOK_GUEST = "3241506978324150"

CLUSTER_ANALYTICS = "0412-083015-abc12def"
CLUSTER_DEV_CAROL = "0923-141502-k8d2m4p1"  # untagged: a workload mapping
CLUSTER_SANDBOX = "1105-090807-q1w2e3r4"
CLUSTER_SHARED_SERVICES = "0301-120000-s7h8a9r0"
CLUSTER_LEGACY = "0815-161718-l3g4c5y6"

APP_SALES_FORECAST = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
DATABASE_INSTANCE = "d2e3f4a5-b6c7-4d8e-9f0a-1b2c3d4e5f6a"
METASTORE_US = "e3f4a5b6-c7d8-4e9f-a0b1-c2d3e4f5a6b7"
CATALOG_MAIN = "f4a5b6c7-d8e9-4fa0-b1c2-d3e4f5a6b7c8"
AI_RUNTIME_WORKLOAD = "a5b6c7d8-e9f0-4a1b-82c3-e4f5a6b7c8d9"

# A new SKU with no list price yet: its usage must be reported as unpriced, never dropped.
UNPRICED_SKU = "PREMIUM_SERVERLESS_GPU_COMPUTE_EUROPE_IRELAND"
# Its price changes inside every generated window, at a time that is not on the hour.
PRICE_CHANGE_SKU = "PREMIUM_SERVERLESS_SQL_COMPUTE_US_EAST_N_VIRGINIA"
PRICE_CHANGE_TIME_OF_DAY = dt.time(13, 37, 11)
PROMOTIONAL_SKU = "PREMIUM_DATABASE_SERVERLESS_COMPUTE_US_EAST_N_VIRGINIA"
PRICE_SENTINEL_START = dt.datetime(2013, 1, 1, tzinfo=dt.UTC)
# The tag a "moved" RESTATEMENT carries: the corrected record belongs to another business unit.
RESTATEMENT_MOVED_TAG = ("business_unit", "Finance")


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


def _sku(workspace: Workspace, product: str) -> str:
    return f"PREMIUM_{product}_{workspace.region}"


def _photon(sku: str, photon: bool) -> str:
    return f"{sku}_(PHOTON)" if photon else sku


def _classic_job(
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
        _photon("PREMIUM_JOBS_COMPUTE", photon),
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


def _serverless_job(
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
        _sku(ws, "JOBS_SERVERLESS_COMPUTE"),
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


def _serverless_pipeline(key: str, ws: Workspace, pipeline_id: str, run_as: str, tags: Mapping[str, str]) -> Workload:
    # Serverless pipelines bill on the jobs-serverless SKU and leave custom_tags empty (spec §1.8, §5.7).
    return Workload(
        key,
        "pipeline_serverless",
        ws,
        _sku(ws, "JOBS_SERVERLESS_COMPUTE"),
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


def _warehouse(
    key: str,
    ws: Workspace,
    warehouse_id: str,
    owner: str,
    tags: Mapping[str, str],
    *,
    activity: str = "business",
    pro: bool = False,
) -> Workload:
    sku = _sku(ws, "SQL_PRO_COMPUTE") if pro else _sku(ws, "SERVERLESS_SQL_COMPUTE")
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


def _notebook(key: str, ws: Workspace, notebook_id: str, user: str, name: str, policy: BudgetPolicy | None) -> Workload:
    return Workload(
        key,
        "notebook",
        ws,
        _sku(ws, "ALL_PURPOSE_SERVERLESS_COMPUTE"),
        "INTERACTIVE",
        "business",
        2.0,
        1.4,
        {"notebook_id": notebook_id, "notebook_path": f"/Users/{user}/{name}"},
        {"run_as": user},
        {"is_serverless": True},
        policy=policy,
    )


def _all_purpose(
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
        _photon("PREMIUM_ALL_PURPOSE_COMPUTE", photon),
        "ALL_PURPOSE",
        activity,
        1.5,
        4.0,
        {"cluster_id": cluster_id, "node_type": node_type},
        {},
        {"is_serverless": False, "is_photon": photon},
        tags,
    )


def _endpoint(
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
        _sku(ws, "SERVERLESS_REAL_TIME_INFERENCE"),
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
        launch_sku=_sku(ws, "SERVERLESS_REAL_TIME_INFERENCE_LAUNCH"),
        served_entities=entities,
    )


def _entity(endpoint_id: str, n: int, entity_type: str, entity_name: str, version: str, compute: str) -> ServedEntity:
    served_entity_id = endpoint_id[:-2] + f"{n:02d}"
    short = entity_name.rsplit(".", 1)[-1]
    return ServedEntity(served_entity_id, f"{short}-{version}", entity_type, entity_name, version, compute)


WORKLOADS: tuple[Workload, ...] = (
    # --- acme-prod-us (AWS): no default unit; unattributed usage here goes to the unallocated pool.
    _classic_job("daily_sales_etl", WS_PROD, JOB_DAILY_SALES_ETL, SP_DATA_ENG, {"business_unit": "Sales"}, photon=True),
    _classic_job(
        "ingest_clickstream",
        WS_PROD,
        JOB_INGEST_CLICKSTREAM,
        SP_DATA_ENG,
        {"BusinessUnit": "DATA ENG", "env": "prod"},
        activity="etl",
        after_change={"metadata": {"job_name": "ingest_clickstream_v2"}},
    ),
    _classic_job(
        "fin_month_end_recon", WS_PROD, JOB_FIN_MONTH_END, SP_FINANCE, {"cost_center": "CC-2001"}, activity="early"
    ),
    _classic_job("legacy_export", WS_PROD, JOB_LEGACY_EXPORT, SP_DATA_ENG, {}, activity="early"),
    _classic_job(
        "supply_chain_forecast",
        WS_PROD,
        JOB_SUPPLY_CHAIN,
        SP_DATA_ENG,
        {"business_unit": "Marketing"},
        after_change={"tags": {"business_unit": "Sales"}},
    ),
    _classic_job("tmp_debug_job", WS_PROD, JOB_TMP_DEBUG, USER_INTERN, {}, activity="evening"),
    _serverless_job("customer_churn_scoring", WS_PROD, JOB_CHURN_SCORING, SP_DATA_ENG, POLICY_ML),
    _serverless_job(
        "marketing_attribution",
        WS_PROD,
        JOB_MARKETING_ATTRIBUTION,
        USER_MARIA,
        POLICY_CUSTOMER_360,
        activity="business",
        performance_target="PERFORMANCE_OPTIMIZED",
    ),
    _serverless_job("ad_hoc_backfill", WS_PROD, JOB_AD_HOC_BACKFILL, USER_BOB, POLICY_DELETED, activity="evening"),
    _serverless_job(
        "events_compaction",
        WS_PROD,
        JOB_EVENTS_COMPACTION,
        SP_DATA_ENG,
        POLICY_DATA_ENG,
        activity="nightly",
        tags={"env": "prod"},
    ),
    Workload(
        "orders_cdc_pipeline",
        "pipeline_classic",
        WS_PROD,
        _photon("PREMIUM_DLT_ADVANCED_COMPUTE", True),
        "DLT",
        "etl",
        2.0,
        5.0,
        {"dlt_pipeline_id": PIPELINE_ORDERS_CDC, "node_type": "i3.xlarge"},
        {"run_as": SP_DATA_ENG},
        {"dlt_tier": "ADVANCED", "is_serverless": False, "is_photon": True},
        {"business_unit": "data_eng"},
    ),
    _serverless_pipeline(
        "marketing_leads_pipeline", WS_PROD, PIPELINE_MARKETING_LEADS, USER_MARIA, {"business_unit": "Marketing"}
    ),
    _serverless_pipeline("fraud_features_pipeline", WS_PROD, PIPELINE_FRAUD_FEATURES, SP_PLATFORM, {"team": "ml"}),
    _warehouse("finance-bi", WS_PROD, WH_FINANCE_BI, USER_FRANK, {"business_unit": "FINANCE"}),
    _warehouse("shared-bi", WS_PROD, WH_SHARED_BI, USER_PLATFORM_ADMIN, {}),
    _warehouse("marketing-adhoc", WS_PROD, WH_MARKETING_ADHOC, USER_MARIA, {}, activity="sporadic"),
    _notebook("alice_notebooks", WS_PROD, NOTEBOOK_ALICE, USER_ALICE, "churn_exploration", POLICY_ML),
    _notebook("bob_notebooks", WS_PROD, NOTEBOOK_BOB, USER_BOB, "pipeline_debugging", None),
    _notebook("guest_notebooks", WS_PROD, NOTEBOOK_GUEST, USER_GUEST, "Untitled Notebook", None),
    # The "growth" team value is mapped by an effective-dated alias: the config-side reorg.
    _all_purpose("analytics-cluster", WS_PROD, CLUSTER_ANALYTICS, {"team": "growth"}, photon=True),
    _all_purpose("dev-cluster-carol", WS_PROD, CLUSTER_DEV_CAROL, {}),
    Workload(
        "databricks-meta-llama-3-3-70b-instruct",
        "serving_tokens",
        WS_PROD,
        _sku(WS_PROD, "SERVERLESS_REAL_TIME_INFERENCE"),
        "MODEL_SERVING",
        "business",
        3.0,
        1.2,
        {"endpoint_name": "databricks-meta-llama-3-3-70b-instruct", "endpoint_id": ENDPOINT_FMAPI},
        features={"serving_type": "FOUNDATION_MODEL"},
        policy=POLICY_CUSTOMER_360,
        usage_type="TOKEN",
    ),
    Workload(
        "sales-forecast-app",
        "app",
        WS_PROD,
        _sku(WS_PROD, "ALL_PURPOSE_SERVERLESS_COMPUTE"),
        "APPS",
        "always",
        1.0,
        0.5,
        {"app_id": APP_SALES_FORECAST, "app_name": "sales-forecast-app"},
        {"created_by": USER_SAM},
        {"apps": {"compute_size": "MEDIUM"}},
    ),
    Workload(
        "orders-lakebase",
        "database",
        WS_PROD,
        PROMOTIONAL_SKU,
        "DATABASE",
        "always",
        1.0,
        1.0,
        {"database_instance_id": DATABASE_INSTANCE},
        features={"lakebase": {"compute_type": "COMPUTE_NODE"}},
        policy=POLICY_DATA_ENG,
    ),
    Workload(
        "predictive_optimization",
        "predictive_optimization",
        WS_PROD,
        _sku(WS_PROD, "JOBS_SERVERLESS_COMPUTE"),
        "PREDICTIVE_OPTIMIZATION",
        "nightly",
        2.0,
        1.5,
        {},
        {"run_as": SP_DATABRICKS_SYSTEM},
    ),
    Workload(
        "public-connectivity",
        "networking",
        WS_PROD,
        "PUBLIC_CONNECTIVITY_DATA_PROCESSED_US_EAST_N_VIRGINIA",
        "NETWORKING",
        "hourly",
        1.0,
        45.0,
        {"source_region": "INTERNET", "destination_region": "us-east-1"},
        features={"networking": {"connectivity_type": "PUBLIC_IP"}},
        usage_unit="GB",
        usage_type="NETWORK_BYTE",
    ),
    Workload(
        "default-storage",
        "storage",
        WS_PROD,
        _sku(WS_PROD, "DATABRICKS_STORAGE"),
        "DEFAULT_STORAGE",
        "always",
        1.0,
        30.0,
        {"metastore_id": METASTORE_US, "catalog_id": CATALOG_MAIN},
        usage_unit="DSU",
        usage_type="STORAGE_SPACE",
    ),
    Workload(
        "default-storage-api",
        "storage",
        WS_PROD,
        _sku(WS_PROD, "DATABRICKS_STORAGE"),
        "DEFAULT_STORAGE",
        "hourly",
        1.0,
        4.0,
        {"metastore_id": METASTORE_US, "catalog_id": CATALOG_MAIN, "storage_api_type": "TIER_1"},
        usage_unit="DSU",
        usage_type="API_OPERATION",
    ),
    # --- acme-ml-eu (AWS): default unit ml-platform.
    _serverless_job("model_retraining", WS_ML, JOB_MODEL_RETRAINING, SP_PLATFORM, POLICY_ML, activity="nightly"),
    _endpoint(
        "churn-model-prod",
        WS_ML,
        ENDPOINT_CHURN,
        "MODEL",
        {"BusinessUnit": "ML-Platform"},
        (_entity(ENDPOINT_CHURN, 1, "CUSTOM_MODEL", "main.ml.churn_model", "4", "CPU"),),
    ),
    _endpoint(
        "recsys-gpu",
        WS_ML,
        ENDPOINT_RECSYS,
        "GPU_MODEL",
        {},
        (
            _entity(ENDPOINT_RECSYS, 1, "CUSTOM_MODEL", "main.ml.recsys_model", "7", "GPU_SMALL"),
            _entity(ENDPOINT_RECSYS, 2, "CUSTOM_MODEL", "main.ml.recsys_model", "8", "GPU_SMALL"),
        ),
        per_record=6.0,
    ),
    _endpoint(
        "fraud-feature-serving",
        WS_ML,
        ENDPOINT_FRAUD_FEATURES,
        "FEATURE",
        {},
        (_entity(ENDPOINT_FRAUD_FEATURES, 1, "FEATURE_SPEC", "main.fraud.features_spec", "1", "CPU"),),
    ),
    Workload(
        "inter-region-egress",
        "networking",
        WS_ML,
        "INTER_REGION_EGRESS_FROM_EUROPE_IRELAND",
        "NETWORKING",
        "hourly",
        1.0,
        12.0,
        {"source_region": "eu-west-1", "destination_region": "us-east-1"},
        usage_unit="GB",
        usage_type="NETWORK_BYTE",
    ),
    Workload(
        "gpu-finetuning",
        "ai_runtime",
        WS_ML,
        UNPRICED_SKU,
        "AI_RUNTIME",
        "sporadic",
        1.0,
        0.8,
        {"ai_runtime_workload_id": AI_RUNTIME_WORKLOAD},
        {"run_as": USER_ALICE},
        {"ai_runtime": {"compute_type": "GPU_A10"}},
        usage_type="GPU_TIME",
    ),
    # --- acme-finance-azure (AZURE): default unit finance.
    _classic_job(
        "ledger_close",
        WS_FINANCE,
        JOB_LEDGER_CLOSE,
        SP_FINANCE,
        {"BusinessUnit": "Finance"},
        node_type="Standard_D16s_v3",
    ),
    _classic_job(
        "fx_rates_loader",
        WS_FINANCE,
        JOB_FX_RATES,
        SP_FINANCE,
        {},
        photon=True,
        activity="early",
        node_type="Standard_D8s_v3",
    ),
    _warehouse("finance-reporting", WS_FINANCE, WH_FINANCE_REPORTING, USER_FRANK, {}, pro=True),
    # --- acme-sandbox-gcp (GCP): no default unit and outside the unallocated pool: stays UNALLOCATED.
    _all_purpose("sandbox-shared", WS_SANDBOX, CLUSTER_SANDBOX, {}, node_type="n2-highmem-4"),
    _classic_job(
        "sandbox_experiments",
        WS_SANDBOX,
        JOB_SANDBOX_EXPERIMENTS,
        USER_INTERN,
        {"team": "research"},
        node_type="n2-standard-8",
    ),
    # --- acme-shared-services (AWS): the whole workspace is a shared-cost pool.
    _serverless_job("platform_maintenance", WS_SHARED, JOB_PLATFORM_MAINTENANCE, SP_PLATFORM, None, activity="nightly"),
    _all_purpose("shared-services-cluster", WS_SHARED, CLUSTER_SHARED_SERVICES, {"env": "shared"}),
    # --- acme-legacy-oregon (AWS, cancelled during the window).
    _classic_job("old_reporting", WS_CANCELLED, JOB_OLD_REPORTING, SP_DATA_ENG, {"business_unit": "Sales"}),
    _all_purpose("legacy-cluster", WS_CANCELLED, CLUSTER_LEGACY, {}),
)

# Probability that a workload runs in a given UTC hour, and the factor applied on Saturdays and Sundays.
_BUSINESS_HOURS = range(8, 19)
ACTIVITY_PROFILES: dict[str, tuple[tuple[float, ...], float]] = {
    "nightly": (tuple(0.95 if h in (1, 2, 3) else 0.0 for h in range(24)), 1.0),
    "early": (tuple(0.9 if h in (5, 6) else 0.0 for h in range(24)), 1.0),
    "etl": (tuple(0.9 if h % 4 == 0 else 0.0 for h in range(24)), 1.0),
    "hourly": (tuple(0.85 for _ in range(24)), 1.0),
    "always": (tuple(1.0 for _ in range(24)), 1.0),
    "business": (tuple(0.8 if h in _BUSINESS_HOURS else 0.0 for h in range(24)), 0.15),
    "evening": (tuple(0.6 if h in (19, 20, 21) else 0.0 for h in range(24)), 0.5),
    # Scale-to-zero endpoints: idle gaps make the next active hour a cold start (a LAUNCH record).
    "sporadic": (tuple(0.35 if h in range(8, 21) else 0.06 for h in range(24)), 0.5),
}

# ---------------------------------------------------------------------------------------------------------
# List prices: (sku, cloud, unit, default, promotional or None, first start or None for the 2013 sentinel).
# ---------------------------------------------------------------------------------------------------------

_PRICES: tuple[tuple[str, str, str, str, str | None, dt.datetime | None], ...] = (
    ("PREMIUM_JOBS_COMPUTE", "AWS", "DBU", "0.15", None, None),
    ("PREMIUM_JOBS_COMPUTE_(PHOTON)", "AWS", "DBU", "0.15", None, None),
    ("PREMIUM_ALL_PURPOSE_COMPUTE", "AWS", "DBU", "0.55", None, None),
    ("PREMIUM_ALL_PURPOSE_COMPUTE_(PHOTON)", "AWS", "DBU", "0.55", None, None),
    ("STANDARD_ALL_PURPOSE_COMPUTE", "AWS", "DBU", "0.40", None, None),
    ("PREMIUM_DLT_ADVANCED_COMPUTE", "AWS", "DBU", "0.36", None, None),
    ("PREMIUM_DLT_ADVANCED_COMPUTE_(PHOTON)", "AWS", "DBU", "0.36", None, None),
    (
        "PREMIUM_JOBS_SERVERLESS_COMPUTE_US_EAST_N_VIRGINIA",
        "AWS",
        "DBU",
        "0.35",
        None,
        dt.datetime(2025, 4, 30, 23, 59, 59, tzinfo=dt.UTC),
    ),
    (
        "ENTERPRISE_JOBS_SERVERLESS_COMPUTE_US_EAST_N_VIRGINIA",
        "AWS",
        "DBU",
        "0.45",
        None,
        dt.datetime(2025, 4, 30, 23, 59, 59, tzinfo=dt.UTC),
    ),
    (
        "PREMIUM_JOBS_SERVERLESS_COMPUTE_EUROPE_IRELAND",
        "AWS",
        "DBU",
        "0.35",
        None,
        dt.datetime(2025, 4, 30, 23, 59, 59, tzinfo=dt.UTC),
    ),
    (PRICE_CHANGE_SKU, "AWS", "DBU", "0.70", None, dt.datetime(2022, 5, 12, tzinfo=dt.UTC)),
    (
        "PREMIUM_ALL_PURPOSE_SERVERLESS_COMPUTE_US_EAST_N_VIRGINIA",
        "AWS",
        "DBU",
        "0.75",
        None,
        dt.datetime(2025, 2, 2, 8, tzinfo=dt.UTC),
    ),
    ("PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST_N_VIRGINIA", "AWS", "DBU", "0.07", None, None),
    ("PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_LAUNCH_US_EAST_N_VIRGINIA", "AWS", "DBU", "0.07", None, None),
    ("PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_EUROPE_IRELAND", "AWS", "DBU", "0.078", None, None),
    ("PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_LAUNCH_EUROPE_IRELAND", "AWS", "DBU", "0.078", None, None),
    (PROMOTIONAL_SKU, "AWS", "DBU", "0.40", "0.20", dt.datetime(2025, 6, 11, 17, tzinfo=dt.UTC)),
    (
        "PUBLIC_CONNECTIVITY_DATA_PROCESSED_US_EAST_N_VIRGINIA",
        "AWS",
        "GB",
        "0.01",
        None,
        dt.datetime(2024, 9, 1, tzinfo=dt.UTC),
    ),
    ("INTER_REGION_EGRESS_FROM_EUROPE_IRELAND", "AWS", "GB", "0.02", None, dt.datetime(2024, 9, 1, tzinfo=dt.UTC)),
    (
        "PREMIUM_DATABRICKS_STORAGE_US_EAST_N_VIRGINIA",
        "AWS",
        "DSU",
        "0.023",
        None,
        dt.datetime(2025, 3, 3, 10, 30, tzinfo=dt.UTC),
    ),
    # The same SKU name costs twice as much on Azure: prices must be joined on cloud too.
    ("PREMIUM_JOBS_COMPUTE", "AZURE", "DBU", "0.30", None, None),
    ("PREMIUM_JOBS_COMPUTE_(PHOTON)", "AZURE", "DBU", "0.30", None, None),
    ("PREMIUM_ALL_PURPOSE_COMPUTE", "AZURE", "DBU", "0.55", None, None),
    ("PREMIUM_SQL_PRO_COMPUTE_EU_NORTH", "AZURE", "DBU", "0.62", None, dt.datetime(2023, 8, 1, tzinfo=dt.UTC)),
    ("PREMIUM_JOBS_COMPUTE", "GCP", "DBU", "0.15", None, None),
    ("PREMIUM_ALL_PURPOSE_COMPUTE", "GCP", "DBU", "0.55", None, None),
)
# The price `PRICE_CHANGE_SKU` changes to inside the window.
CHANGED_PRICE = "0.66"


# ---------------------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------------------


def generate(
    store: LocalLakehouse, start_date: dt.date, days: int, seed: int, scale: int | None = None
) -> dict[TableName, int]:
    """Write the 6 system tables (overwriting them) into the lakehouse; return rows written per table.

    Args:
        store: the local lakehouse to write `system.*` tables into.
        start_date: first usage day (UTC).
        days: number of usage days, 1 to `MAX_DAYS`.
        seed: seed of the random generator; the same seed gives identical data.
        scale: approximate ORIGINAL usage rows per day (default `DEFAULT_ROWS_PER_DAY`).

    Raises:
        InputError: for a non-date start, days out of range, a negative seed or a scale below 1.
    """
    validate_arguments(start_date, days, seed, scale)
    window = Window(start_date, days)
    rng = Generator(PCG64(seed))
    spark = store.spark
    counts = {
        LIST_PRICES_TABLE: _write(store, LIST_PRICES_TABLE, [_arrow(list_price_rows(window), schemas.LIST_PRICES)]),
        WORKSPACES_TABLE: _write(store, WORKSPACES_TABLE, [_arrow(workspace_rows(window), schemas.WORKSPACES_LATEST)]),
        JOBS_TABLE: _write(store, JOBS_TABLE, [_arrow(job_rows(window), schemas.JOBS)]),
        PIPELINES_TABLE: _write(store, PIPELINES_TABLE, [_arrow(pipeline_rows(window), schemas.PIPELINES)]),
        SERVED_ENTITIES_TABLE: _write(
            store, SERVED_ENTITIES_TABLE, [_arrow(served_entity_rows(window), schemas.SERVED_ENTITIES)]
        ),
    }
    streams = billing_streams(WORKLOADS)
    plan = plan_usage(streams, window, rng, scale)
    dims = spark.createDataFrame(dimension_table(streams))
    chunks = (_usage_frame(spark, facts, dims) for facts in usage_fact_chunks(streams, plan, window, rng, CHUNK_ROWS))
    counts[USAGE_TABLE] = _write(store, USAGE_TABLE, chunks)
    return counts


def validate_arguments(start_date: object, days: object, seed: object, scale: object) -> None:
    """Raise an `InputError` naming the first argument of `generate` that is out of range."""
    if not isinstance(start_date, dt.date) or isinstance(start_date, dt.datetime):
        raise InputError(f"start_date: {start_date!r} is not a date")
    if not _is_int(days) or not 1 <= days <= MAX_DAYS:  # type: ignore[operator]
        raise InputError(f"days: {days!r} must be an integer from 1 to {MAX_DAYS}")
    if not _is_int(seed) or seed < 0:  # type: ignore[operator]
        raise InputError(f"seed: {seed!r} must be a non-negative integer")
    if scale is not None and (not _is_int(scale) or scale < 1):  # type: ignore[operator]
        raise InputError(f"scale: {scale!r} must be a positive integer (usage rows per day)")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Window:
    """The generated period and the relative instants of its scripted events (see the module docstring)."""

    start_date: dt.date
    days: int

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.start_date, dt.time(), tzinfo=dt.UTC)

    @property
    def hours(self) -> int:
        return self.days * 24

    @property
    def as_of(self) -> dt.date:
        """The day the table is read: the day after the last usage day."""
        return self.start_date + dt.timedelta(days=self.days)

    @property
    def change_hour(self) -> int:
        """Hour index (from the start) at which the reorg and the job rename take effect."""
        return (self.days // 2) * 24

    @property
    def change_time(self) -> dt.datetime:
        return self.start + dt.timedelta(hours=self.change_hour)

    @property
    def usage_policy_since(self) -> dt.date:
        return self.start_date + dt.timedelta(days=self.days // 3)

    @property
    def cancel_hour(self) -> int:
        """Hour index from which the cancelled workspace has no usage."""
        return max(1, self.days // 3) * 24

    @property
    def price_change_time(self) -> dt.datetime:
        day = self.start_date + dt.timedelta(days=(2 * self.days) // 3)
        return dt.datetime.combine(day, PRICE_CHANGE_TIME_OF_DAY, tzinfo=dt.UTC)


# ---------------------------------------------------------------------------------------------------------
# Small tables
# ---------------------------------------------------------------------------------------------------------


def _money(value: str) -> Decimal:
    return Decimal(value).quantize(Decimal("1e-18"))


def list_price_rows(window: Window) -> list[dict[str, object]]:
    """One row per (SKU, cloud, unit) in USD, plus the new row of the SKU whose price changes in the window."""
    rows = []
    for sku, cloud, unit, default, promotional, first_start in _PRICES:
        # A documented start after the window would leave its usage unpriced: start at the sentinel instead.
        start = first_start if first_start is not None and first_start <= window.start else PRICE_SENTINEL_START
        changes = sku == PRICE_CHANGE_SKU
        rows.append(
            _price_row(sku, cloud, unit, start, window.price_change_time if changes else None, default, promotional)
        )
        if changes:
            rows.append(_price_row(sku, cloud, unit, window.price_change_time, None, CHANGED_PRICE, None))
    return rows


def _price_row(
    sku: str, cloud: str, unit: str, start: dt.datetime, end: dt.datetime | None, default: str, promotional: str | None
) -> dict[str, object]:
    effective = promotional if promotional is not None else default
    return {
        "account_id": ACCOUNT_ID,
        "price_start_time": start,
        "price_end_time": end,
        "sku_name": sku,
        "cloud": cloud,
        "currency_code": "USD",
        "usage_unit": unit,
        "pricing": {
            "default": _money(default),
            "promotional": {"default": _money(promotional)} if promotional is not None else None,
            "effective_list": {"default": _money(effective)},
        },
    }


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


def _changed(w: Workload, part: str) -> dict[str, str]:
    base = w.tags if part == "tags" else w.metadata
    return {**base, **w.after_change.get(part, {})}


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
            rows.append(_job_row(w, _changed(w, "metadata")["job_name"], _changed(w, "tags"), changed_at, created))
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


# ---------------------------------------------------------------------------------------------------------
# Usage: streams, activity and dimensions
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    """A sequence of usage records on one SKU: a workload, or the cold-start (LAUNCH) records of an endpoint."""

    workload: Workload
    sku: str
    launch: bool = False

    @property
    def run_fields(self) -> tuple[str, ...]:
        """usage_metadata fields that change with every run (job run, pipeline update, job cluster)."""
        return {
            "job_classic": ("job_run_id", "cluster_id"),
            "job_serverless": ("job_run_id",),
            "pipeline_classic": ("dlt_update_id", "cluster_id"),
            "pipeline_serverless": ("dlt_update_id",),
        }.get(self.workload.kind, ())


def billing_streams(workloads: tuple[Workload, ...]) -> list[Stream]:
    """Every workload's stream, followed by the LAUNCH streams of scale-to-zero endpoints."""
    streams = [Stream(w, w.sku) for w in workloads]
    streams += [Stream(w, w.launch_sku, launch=True) for w in workloads if w.launch_sku]
    return streams


def expected_rows_per_day(streams: list[Stream]) -> float:
    """Expected ORIGINAL rows per day at scale multiplier 1 (LAUNCH streams are few and left out)."""
    total = 0.0
    for s in streams:
        if not s.launch:
            hours, weekend = ACTIVITY_PROFILES[s.workload.activity]
            total += sum(hours) * (5 + 2 * weekend) / 7 * max(s.workload.records_per_hour, 1.0)
    return total


@dataclass(frozen=True)
class ActivityPlan:
    """Which (hour, stream) pairs have usage, with how many records, in hour-major order.

    `block` numbers each run of consecutive active hours of a stream, so run ids survive chunk boundaries.
    """

    hour: np.ndarray
    stream: np.ndarray
    records: np.ndarray
    block: np.ndarray
    block_start: np.ndarray


def plan_usage(streams: list[Stream], window: Window, rng: Generator, scale: int | None) -> ActivityPlan:
    """The activity plan for about `scale` ORIGINAL rows per day on average over a week (weekends are quieter)."""
    return plan_activity(streams, window, rng, (scale or DEFAULT_ROWS_PER_DAY) / expected_rows_per_day(streams))


def plan_activity(streams: list[Stream], window: Window, rng: Generator, multiplier: float) -> ActivityPlan:
    """Draw which hours each stream is active and how many records each active hour has."""
    hour_of_day = np.arange(window.hours) % 24
    weekday = (np.datetime64(window.start_date) + np.arange(window.hours) // 24).astype("datetime64[D]")
    weekend = np.isin(((weekday.astype(np.int64) + 3) % 7), (5, 6))  # 1970-01-01 was a Thursday
    main = [s for s in streams if not s.launch]
    prob = np.empty((len(main), window.hours))
    for i, s in enumerate(main):
        hours, weekend_factor = ACTIVITY_PROFILES[s.workload.activity]
        prob[i] = np.asarray(hours)[hour_of_day] * np.where(weekend, weekend_factor, 1.0)
        if s.workload.workspace.cancelled:
            prob[i, window.cancel_hour :] = 0.0
    active = rng.random(prob.shape) < prob
    # A LAUNCH record bills the first hour after an idle gap of a scale-to-zero endpoint.
    index = {s.workload.key: i for i, s in enumerate(main)}
    launches = [
        active[index[s.workload.key]] & ~np.concatenate(([False], active[index[s.workload.key], :-1]))
        for s in streams
        if s.launch
    ]
    active = np.vstack([active, *launches]) if launches else active
    rate = np.array([1.0 if s.launch else max(s.workload.records_per_hour * multiplier, 1.0) for s in streams])
    records = 1 + rng.poisson(np.repeat(rate[:, None] - 1.0, window.hours, axis=1))
    starts = active & ~np.concatenate((np.zeros((len(streams), 1), bool), active[:, :-1]), axis=1)
    block = np.cumsum(starts).reshape(active.shape) - 1
    block_start_hour = np.nonzero(starts)[1]  # row-major, like the block numbers
    hour, stream = np.nonzero(active.T)  # hour-major: a chunk is a contiguous range of hours
    blocks = block[stream, hour]
    return ActivityPlan(hour, stream, records[stream, hour], blocks, block_start_hour[blocks])


# Variant bits of a stream's dimension row: the period (before or after the reorg instant) and whether a
# restatement "moved" the record to another business unit; a moved record keeps its own period's metadata.
_BEFORE, _AFTER, _MOVED = 0, 1, 2
_VARIANTS = 4


def _custom_tags(w: Workload, variant: int) -> dict[str, str]:
    tags = dict(w.policy.tags) if w.policy and not w.policy.deleted else {}
    if w.tags_in_usage:
        tags.update(_changed(w, "tags") if variant & _AFTER else w.tags)
    if variant & _MOVED:
        tags[RESTATEMENT_MOVED_TAG[0]] = RESTATEMENT_MOVED_TAG[1]
    return tags


def _metadata_fields(streams: list[Stream]) -> list[str]:
    used = {name for s in streams for name in (*s.workload.metadata, *_changed(s.workload, "metadata"))}
    if any(s.workload.policy for s in streams):
        used.add("budget_policy_id")
    return [f.name for f in schemas.USAGE_METADATA.fields if f.name in used]


def dimension_table(streams: list[Stream]) -> pa.Table:
    """One row per (stream, tag variant) with every column that is constant for it; key `dim_id`."""
    metadata_fields = _metadata_fields(streams)
    usage = schemas.USAGE
    rows = []
    for index, s in enumerate(streams):
        w = s.workload
        for variant in range(_VARIANTS):
            metadata = _changed(w, "metadata") if variant & _AFTER else dict(w.metadata)
            if w.policy:
                metadata["budget_policy_id"] = w.policy.policy_id
            rows.append(
                {
                    "dim_id": index * _VARIANTS + variant,
                    "account_id": ACCOUNT_ID,
                    "workspace_id": w.workspace.workspace_id,
                    "sku_name": s.sku,
                    "cloud": w.workspace.cloud,
                    "custom_tags": _custom_tags(w, variant),
                    "usage_unit": w.usage_unit,
                    "identity_metadata": dict(w.identity) or None,
                    "billing_origin_product": w.product,
                    "product_features": dict(w.features) or None,
                    "usage_type": w.usage_type,
                    **{f"um_{name}": metadata.get(name) for name in metadata_fields},
                }
            )
    arrow = _arrow_schema([usage[c] for c in _DIMENSION_COLUMNS])
    fields = [pa.field("dim_id", pa.int32()), *arrow, *(pa.field(f"um_{n}", pa.string()) for n in metadata_fields)]
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


_DIMENSION_COLUMNS = (
    "account_id",
    "workspace_id",
    "sku_name",
    "cloud",
    "custom_tags",
    "usage_unit",
    "identity_metadata",
    "billing_origin_product",
    "product_features",
    "usage_type",
)

# ---------------------------------------------------------------------------------------------------------
# Usage: per-record facts, vectorised
# ---------------------------------------------------------------------------------------------------------

_ORIGINAL, _RETRACTION, _RESTATEMENT = 0, 1, 2
RECORD_TYPES = ("ORIGINAL", "RETRACTION", "RESTATEMENT")
# Serverless runs emit several records per hour (spec §5.1); this many records make up one run.
_RECORDS_PER_RUN = 4
_US_PER_HOUR = 3_600 * 1_000_000
_NANO = 10**9


def usage_fact_chunks(
    streams: list[Stream], plan: ActivityPlan, window: Window, rng: Generator, chunk_rows: int
) -> Iterator[pa.Table]:
    """Facts tables of at most about `chunk_rows` ORIGINAL records each, plus their corrections."""
    salt = rng.integers(0, 2**63, dtype=np.int64).astype(np.uint64)
    cumulative = np.cumsum(plan.records)
    # Chunks end on (hour, stream) group boundaries, so a group's records stay together.
    cuts = np.searchsorted(cumulative, np.arange(chunk_rows, cumulative[-1], chunk_rows)) + 1
    edges = np.unique(np.concatenate(([0], cuts, [len(cumulative)])))
    for lo, hi in itertools.pairwise(edges.tolist()):
        yield _facts(streams, plan, slice(lo, hi), window, rng, salt)


@dataclass
class _Records:
    """Per-record numpy columns of one chunk, before they become arrow arrays."""

    stream: np.ndarray
    hour: np.ndarray
    run_key: np.ndarray
    block_hour: np.ndarray
    variant: np.ndarray
    quantity_nano: np.ndarray
    quantity_atto: np.ndarray
    ingestion_day: np.ndarray
    record_type: np.ndarray

    def take(self, index: np.ndarray) -> _Records:
        return _Records(**{k: v[index] for k, v in vars(self).items()})

    @staticmethod
    def concat(parts: list[_Records]) -> _Records:
        return _Records(**{k: np.concatenate([vars(p)[k] for p in parts]) for k in vars(parts[0])})


def _facts(
    streams: list[Stream], plan: ActivityPlan, groups: slice, window: Window, rng: Generator, salt: np.uint64
) -> pa.Table:
    originals = _original_records(streams, plan, groups, window, rng)
    records = _Records.concat([originals, *_corrections(originals, window, rng)])
    return _facts_table(streams, records, window, rng, salt)


def _original_records(
    streams: list[Stream], plan: ActivityPlan, groups: slice, window: Window, rng: Generator
) -> _Records:
    counts = plan.records[groups]
    n = int(counts.sum())
    group = np.repeat(np.arange(len(counts)), counts)
    rank = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    stream = plan.stream[groups][group]
    hour = plan.hour[groups][group]
    block = plan.block[groups][group].astype(np.uint64)
    # A run spans the consecutive active hours of its block; several runs share an hour at large scale.
    run_key = (block << np.uint64(32)) | (rank // _RECORDS_PER_RUN).astype(np.uint64)
    block_hour = plan.block_start[groups][group]
    mean = np.array([s.workload.quantity_per_record for s in streams])[stream]
    # Lognormal draws (median ~0.85 x mean) in whole nano-units; exact decimals are built from integers.
    quantity_nano = np.maximum(np.rint(mean * rng.lognormal(-0.16, 0.55, n) * _NANO), 1).astype(np.int64)
    quantity_atto = rng.integers(0, _NANO, n, dtype=np.int64)
    day = (window.start_date - dt.date(1970, 1, 1)).days + hour // 24
    # ORIGINAL records land within about 12 hours, so late-evening usage is ingested the next day.
    ingestion_day = day + ((hour % 24 + rng.integers(1, 13, n)) >= 24)
    variant = np.where(hour >= window.change_hour, _AFTER, _BEFORE)
    return _Records(
        stream,
        hour,
        run_key,
        block_hour,
        variant,
        quantity_nano,
        quantity_atto,
        ingestion_day,
        np.full(n, _ORIGINAL, np.int8),
    )


def _corrections(originals: _Records, window: Window, rng: Generator) -> list[_Records]:
    """RETRACTION copies with negated quantities and, for most, a RESTATEMENT with corrected values.

    Corrections arrive 2 to 10 days after the usage, some 31 to 40 days after (beyond a 30-day lookback),
    and some usage of the window's first month is corrected only after that month has ended. Those due
    after `window.as_of` have not arrived yet and are left out.
    """
    chosen = np.flatnonzero(rng.random(len(originals.stream)) < CORRECTION_RATE)
    n = len(chosen)
    kind = rng.choice(3, size=n, p=(0.6, 0.1, 0.3))  # restated quantity, restated (moved) tags, retraction only
    day0 = _epoch_day(window.start_date)
    usage_day = day0 + originals.hour[chosen] // 24
    next_month = _epoch_day(_first_of_next_month(window.start_date))
    delay = np.where(rng.random(n) < 0.15, rng.integers(31, 41, n), rng.integers(2, 11, n))
    after_close = (usage_day < next_month) & (rng.random(n) < 0.3)
    delay = np.where(after_close, next_month - usage_day + rng.integers(0, 7, n), delay)
    restated_nano = originals.quantity_nano[chosen] * rng.integers(500, 1200, n) // 1000
    restated_atto = rng.integers(0, _NANO, n, dtype=np.int64)
    ingestion_day = usage_day + delay
    arrived = ingestion_day <= _epoch_day(window.as_of)

    retraction = originals.take(chosen[arrived])
    retraction.quantity_nano = -retraction.quantity_nano
    retraction.quantity_atto = -retraction.quantity_atto
    retraction.ingestion_day = ingestion_day[arrived]
    retraction.record_type[:] = _RETRACTION

    restated = arrived & (kind != 2)
    restatement = originals.take(chosen[restated])
    moved = kind[restated] == 1
    restatement.quantity_nano = np.where(moved, restatement.quantity_nano, restated_nano[restated])
    restatement.quantity_atto = np.where(moved, restatement.quantity_atto, restated_atto[restated])
    restatement.variant = np.where(moved, restatement.variant | _MOVED, restatement.variant)
    restatement.ingestion_day = ingestion_day[restated]
    restatement.record_type[:] = _RESTATEMENT
    return [retraction, restatement]


def _epoch_day(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def _first_of_next_month(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


# Distinct salts so that the ids of one run (job run id, update id, cluster id) are unrelated numbers.
_SALT_RUN, _SALT_UPDATE_HI, _SALT_UPDATE_LO, _SALT_CLUSTER = (np.uint64(x) for x in (11, 23, 37, 53))


def _facts_table(streams: list[Stream], r: _Records, window: Window, rng: Generator, salt: np.uint64) -> pa.Table:
    n = len(r.stream)
    absolute_hour = _epoch_day(window.start_date) * 24 + r.hour
    start_us = absolute_hour.astype(np.int64) * _US_PER_HOUR
    usage_day = (absolute_hour // 24).astype(np.int32)
    ids = rng.integers(0, np.iinfo(np.uint64).max, size=(n, 2), dtype=np.uint64, endpoint=True)
    has_policy = np.array([s.workload.policy is not None for s in streams])[r.stream]
    key = r.run_key ^ salt
    columns = {
        "dim_id": pa.array((r.stream * _VARIANTS + r.variant).astype(np.int32)),
        "record_id": _strings(_uuid_chars(ids[:, 0], ids[:, 1])),
        "usage_start_time": pa.array(start_us).cast(pa.timestamp("us", tz="UTC")),
        "usage_end_time": pa.array(start_us + _US_PER_HOUR).cast(pa.timestamp("us", tz="UTC")),
        "usage_date": pa.array(usage_day).cast(pa.date32()),
        "usage_quantity": _decimal18(r.quantity_nano, r.quantity_atto),
        "record_type": pa.array(RECORD_TYPES).take(pa.array(r.record_type)),
        "ingestion_date": pa.array(r.ingestion_day.astype(np.int32)).cast(pa.date32()),
        "has_usage_policy": pa.array(has_policy & (usage_day >= _epoch_day(window.usage_policy_since))),
        "run_job_run_id": _strings(
            _digit_chars(10**14 + _mix64(key ^ _SALT_RUN) % (9 * 10**14), 15),
            _has_run_field(streams, r.stream, "job_run_id"),
        ),
        "run_dlt_update_id": _strings(
            _uuid_chars(_mix64(key ^ _SALT_UPDATE_HI), _mix64(key ^ _SALT_UPDATE_LO)),
            _has_run_field(streams, r.stream, "dlt_update_id"),
        ),
        "run_cluster_id": _strings(
            _cluster_id_chars(window, r.block_hour, _mix64(key ^ _SALT_CLUSTER)),
            _has_run_field(streams, r.stream, "cluster_id"),
        ),
    }
    return pa.table(columns)


def _has_run_field(streams: list[Stream], stream: np.ndarray, name: str) -> np.ndarray:
    return np.array([name in s.run_fields for s in streams])[stream]


# ---------------------------------------------------------------------------------------------------------
# Vectorised value builders: exact decimals and fixed-width id strings from integer arrays
# ---------------------------------------------------------------------------------------------------------

_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_BASE36 = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyz", np.uint8)


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a deterministic, well-mixed 64-bit hash of each value."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _decimal_from_unscaled(unscaled: np.ndarray, scale: int) -> pa.Array:
    """decimal128(38, scale) values `unscaled * 10**-scale`, from int64 (little-endian 128-bit limbs)."""
    limbs = np.empty((len(unscaled), 2), dtype=np.int64)
    limbs[:, 0] = unscaled
    limbs[:, 1] = unscaled >> 63  # sign extension
    return pa.Array.from_buffers(pa.decimal128(38, scale), len(unscaled), [None, pa.py_buffer(limbs)])


def _decimal18(nano: np.ndarray, atto: np.ndarray) -> pa.Array:
    """Exact DECIMAL(38,18) values `nano * 1e-9 + atto * 1e-18` (both parts carry the sign)."""
    import pyarrow.compute as pc

    # Adding two decimal128(38, 18) needs precision 39, so add in decimal256 and narrow back (values fit).
    wide = pa.decimal256(40, 18)
    total = pc.add(_decimal_from_unscaled(nano, 9).cast(wide), _decimal_from_unscaled(atto, 18).cast(wide))
    return total.cast(pa.decimal128(38, 18))


def _strings(chars: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A string array from an (n, width) uint8 matrix of ASCII characters, NULL where `valid` is False."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    validity = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    data = pa.py_buffer(np.ascontiguousarray(chars, dtype=np.uint8))
    return pa.Array.from_buffers(pa.string(), n, [validity, pa.py_buffer(offsets), data])


def _hex_chars(words: np.ndarray) -> np.ndarray:
    shifts = np.arange(60, -4, -4, dtype=np.uint64)
    return _HEX[(words[:, None] >> shifts) & np.uint64(0xF)]


def _uuid_chars(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Version-4 UUIDs (`8-4-4-4-12` lower-case hex) from two 64-bit random words each."""
    hi = (hi & ~np.uint64(0xF000)) | np.uint64(0x4000)
    lo = (lo & ~np.uint64(0xC << 60)) | np.uint64(0x8 << 60)
    h = np.concatenate([_hex_chars(hi), _hex_chars(lo)], axis=1)
    dash = np.full((len(h), 1), ord("-"), np.uint8)
    return np.concatenate([h[:, :8], dash, h[:, 8:12], dash, h[:, 12:16], dash, h[:, 16:20], dash, h[:, 20:]], axis=1)


def _digit_chars(values: np.ndarray, width: int) -> np.ndarray:
    powers = np.uint64(10) ** np.arange(width - 1, -1, -1, dtype=np.uint64)
    return ((values.astype(np.uint64)[:, None] // powers) % np.uint64(10) + np.uint64(ord("0"))).astype(np.uint8)


def _cluster_id_chars(window: Window, block_hour: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Job-cluster ids `MMDD-HHMMSS-xxxxxxxx`, stamped with the hour the run started."""
    when = np.datetime64(window.start_date, "h") + block_hour.astype("timedelta64[h]")
    month = when.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (when.astype("datetime64[D]") - when.astype("datetime64[M]")).astype(np.int64) + 1
    hour = block_hour.astype(np.int64) % 24
    minute_second = (bits % np.uint64(3_600)).astype(np.int64)
    suffix = _BASE36[(bits[:, None] >> np.uint64(12)) // np.uint64(36) ** np.arange(8, dtype=np.uint64) % np.uint64(36)]
    dash = np.full((len(bits), 1), ord("-"), np.uint8)
    stamp = (
        [_digit_chars(v, 2) for v in (month, day)]
        + [dash]
        + [_digit_chars(v, 2) for v in (hour, minute_second // 60, minute_second % 60)]
    )
    return np.concatenate([*stamp, dash, suffix], axis=1)


# ---------------------------------------------------------------------------------------------------------
# Engine side: reshape facts + dimensions into the usage schema, and write tables
# ---------------------------------------------------------------------------------------------------------

# Facts columns that fill usage_metadata fields per record (coalesced with the stream's constant value).
_RUN_COLUMNS = {"job_run_id": "run_job_run_id", "dlt_update_id": "run_dlt_update_id", "cluster_id": "run_cluster_id"}


def _usage_frame(spark: SparkSession, facts: pa.Table, dims: DataFrame) -> tuple[DataFrame, int]:
    from pyspark.sql import functions as F

    joined = spark.createDataFrame(facts).join(F.broadcast(dims), "dim_id")
    return joined.select(*_usage_columns(set(dims.columns))), facts.num_rows


def _usage_columns(dim_columns: set[str]) -> list[Column]:
    from pyspark.sql import functions as F

    def metadata_field(name: str, dtype: object) -> Column:
        sources = []
        if name in _RUN_COLUMNS:
            sources.append(F.col(_RUN_COLUMNS[name]))
        if name == "usage_policy_id":
            # usage_policy_id is the renamed budget_policy_id: filled on newer records only.
            sources.append(F.when(F.col("has_usage_policy"), F.col("um_budget_policy_id")))
        elif f"um_{name}" in dim_columns:
            sources.append(F.col(f"um_{name}"))
        if not sources:
            return F.lit(None).cast(dtype).alias(name)  # type: ignore[arg-type]
        return (F.coalesce(*sources) if len(sources) > 1 else sources[0]).alias(name)

    metadata = F.struct(*[metadata_field(f.name, f.dataType) for f in schemas.USAGE_METADATA.fields])
    return [metadata.alias(f.name) if f.name == "usage_metadata" else F.col(f.name) for f in schemas.USAGE.fields]


def _arrow_schema(fields: list) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import StructType

    return to_arrow_schema(StructType(fields))


def _arrow(rows: list[dict[str, object]], schema: StructType) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=_arrow_schema(schema.fields))


def _write(store: LocalLakehouse, name: TableName, parts: Iterator[tuple[DataFrame, int]] | list[pa.Table]) -> int:
    """Replace table `name` by the given parts; return the number of rows written.

    The table is first replaced by an empty frame of its exact schema, then each part is appended: Sail
    derives a Delta column's nullability from the data written, which would make populated structs NOT NULL.
    """
    spark = store.spark
    schema = schemas.SYSTEM_TABLES[str(name)]
    store.write_raw(name, spark.createDataFrame([], schema), mode="overwrite")
    frames = ((spark.createDataFrame(p, schema=schema), p.num_rows) if isinstance(p, pa.Table) else p for p in parts)
    total = 0
    for df, rows in frames:
        store.write_raw(name, df, mode="append")
        total += rows
    return total
