"""Synthetic Databricks system tables: a small, fixed "world" of workloads billed hour by hour.

`generate` writes the six system tables the pipeline reads (usage, list_prices, workspaces_latest, lakeflow
jobs and pipelines, served_entities) and six that describe what the billed compute did (query history, warehouses,
warehouse events, clusters, the job run and pipeline update timelines: see "Query history, compute and Lakeflow
run tables" below), with the exact Databricks schemas from `chargeback.schemas`. The world
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
import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from numpy.random import PCG64, Generator

from chargeback.contracts import system_tables as schemas
from chargeback.errors import InputError
from chargeback.names import TableName

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from chargeback.local.lakehouse import LocalLakehouse

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
    """Write the 12 system tables (overwriting them) into the lakehouse; return rows written per table.

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
    salt = run_salt(rng)
    dims = spark.createDataFrame(dimension_table(streams))
    facts = usage_fact_chunks(streams, plan, window, rng, CHUNK_ROWS, salt)
    counts[USAGE_TABLE] = _write(store, USAGE_TABLE, (_usage_frame(spark, f, dims) for f in facts))
    counts.update(write_activity_tables(store, streams, plan, window, salt, seed))
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


def run_salt(rng: Generator) -> np.uint64:
    """The salt of every run id (job runs, pipeline updates, job clusters): the first draw after the plan."""
    return np.uint64(rng.integers(0, 2**63, dtype=np.int64))


def usage_fact_chunks(
    streams: list[Stream],
    plan: ActivityPlan,
    window: Window,
    rng: Generator,
    chunk_rows: int,
    salt: np.uint64 | None = None,
) -> Iterator[pa.Table]:
    """Facts tables of at most about `chunk_rows` ORIGINAL records each, plus their corrections.

    `salt` is `run_salt(rng)` drawn by the caller (who needs it for the run tables), else drawn here.
    """
    if salt is None:
        salt = run_salt(rng)
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
            _digit_chars(job_run_number(key), 15), _has_run_field(streams, r.stream, "job_run_id")
        ),
        "run_dlt_update_id": _strings(update_id_chars(key), _has_run_field(streams, r.stream, "dlt_update_id")),
        "run_cluster_id": _strings(
            run_cluster_id_chars(window, r.block_hour, key), _has_run_field(streams, r.stream, "cluster_id")
        ),
    }
    return pa.table(columns)


# The ids of one run, from its salted run key: the same in usage and in the run, cluster and query tables.


def job_run_number(salted_key: np.ndarray) -> np.ndarray:
    """15-digit job run ids (`usage_metadata.job_run_id`) as integers."""
    return 10**14 + _mix64(salted_key ^ _SALT_RUN) % (9 * 10**14)


def update_id_chars(salted_key: np.ndarray) -> np.ndarray:
    """Pipeline update ids (`usage_metadata.dlt_update_id`), UUIDs."""
    return _uuid_chars(_mix64(salted_key ^ _SALT_UPDATE_HI), _mix64(salted_key ^ _SALT_UPDATE_LO))


def run_cluster_id_chars(window: Window, block_hour: np.ndarray, salted_key: np.ndarray) -> np.ndarray:
    """Job and pipeline cluster ids (`usage_metadata.cluster_id`), stamped with the hour the run's block began."""
    return _cluster_id_chars(window, block_hour, _mix64(salted_key ^ _SALT_CLUSTER))


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


def _write(store: LocalLakehouse, name: TableName, parts: Iterable[tuple[DataFrame, int] | pa.Table]) -> int:
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


# ---------------------------------------------------------------------------------------------------------
# Query history, compute and Lakeflow run tables, consistent with the usage plan
# ---------------------------------------------------------------------------------------------------------
#
# They are built from the same activity plan and run salt as usage: every billed hour of a warehouse is an hour
# the warehouse ran (with queries, or idle: `auto_stop_minutes` tails, gaps, cached results only), every job run
# id and pipeline update id on usage has its timeline rows, and every job cluster on usage has its cluster row.
# They use their own random streams (`activity_rngs`), so the usage table stays what it was for a seed.
#
# Regional tables: the system tables hold the workspaces of the region they are read from, so the GCP sandbox
# and the cancelled Oregon workspace (`OTHER_REGION_WORKSPACES`) have usage but no rows in them (spec §8.13).

QUERY_HISTORY_TABLE = TableName.parse("system.query.history")
WAREHOUSES_TABLE = TableName.parse("system.compute.warehouses")
WAREHOUSE_EVENTS_TABLE = TableName.parse("system.compute.warehouse_events")
CLUSTERS_TABLE = TableName.parse("system.compute.clusters")
JOB_RUN_TIMELINE_TABLE = TableName.parse("system.lakeflow.job_run_timeline")
PIPELINE_UPDATE_TIMELINE_TABLE = TableName.parse("system.lakeflow.pipeline_update_timeline")
ACTIVITY_TABLES = (
    WAREHOUSES_TABLE,
    WAREHOUSE_EVENTS_TABLE,
    CLUSTERS_TABLE,
    JOB_RUN_TIMELINE_TABLE,
    PIPELINE_UPDATE_TIMELINE_TABLE,
    QUERY_HISTORY_TABLE,
)

OTHER_REGION_WORKSPACES = (WS_SANDBOX, WS_CANCELLED)
# Statements on a warehouse per usage record of its hour (so query history grows with `scale`).
QUERIES_PER_RECORD = 0.6
# Rows per arrow table sent to the engine for the large activity tables (statements are about 1 KB a row).
ACTIVITY_CHUNK_ROWS = 100_000
REDACTED = "__REDACTED__"
USER_CAROL = "carol.white@acme.example"  # owns the dev cluster named after her
WH_RETIRED = "e7a9c1d3f5b7a9c1"  # deleted before the window: a row in compute.warehouses, no usage
RESIZE_SIZE, RESIZE_MAX_CLUSTERS = "LARGE", 4  # shared-bi is resized at the reorg instant

_H = _US_PER_HOUR
_S = 1_000_000  # microseconds per second
_MS = 1_000


@dataclass(frozen=True)
class Warehouse:
    """A SQL warehouse's configuration and who queries it (identity, weight; None = NULL `executed_by`)."""

    warehouse_type: str
    size: str
    min_clusters: int
    max_clusters: int
    auto_stop_minutes: int
    channel: str
    created_by: str
    dashboard_owner: str
    identities: tuple[tuple[str | None, float], ...]


WAREHOUSES: dict[str, Warehouse] = {
    WH_FINANCE_BI: Warehouse(
        "SERVERLESS",
        "SMALL",
        1,
        2,
        10,
        "CURRENT",
        USER_FRANK,
        USER_FRANK,
        ((USER_FRANK, 0.3), (SP_FINANCE, 0.25), (USER_SAM, 0.15), (USER_ALICE, 0.1), (USER_BOB, 0.1), (None, 0.1)),
    ),
    WH_SHARED_BI: Warehouse(
        "SERVERLESS",
        "MEDIUM",
        1,
        2,
        10,
        "CURRENT",
        USER_PLATFORM_ADMIN,
        USER_PLATFORM_ADMIN,
        (
            (USER_ALICE, 0.2),
            (USER_BOB, 0.14),
            (USER_MARIA, 0.14),
            (USER_FRANK, 0.1),
            (USER_SAM, 0.1),
            (SP_DATA_ENG, 0.16),
            (SP_PLATFORM, 0.06),
            (USER_GUEST, 0.04),
            (None, 0.04),
            (REDACTED, 0.02),
        ),
    ),
    WH_MARKETING_ADHOC: Warehouse(
        "SERVERLESS",
        "2X_SMALL",
        1,
        1,
        5,
        "PREVIEW",
        USER_MARIA,
        USER_MARIA,
        ((USER_MARIA, 0.6), (USER_BOB, 0.2), (USER_GUEST, 0.15), (None, 0.05)),
    ),
    WH_FINANCE_REPORTING: Warehouse(
        "PRO", "SMALL", 1, 1, 30, "CURRENT", USER_FRANK, USER_FRANK, ((USER_FRANK, 0.4), (SP_FINANCE, 0.5), (None, 0.1))
    ),
}
# Workspaces with customer-managed keys: statement_text and error_message are empty (spec §2).
CMK_WORKSPACES = (WS_FINANCE,)


def is_regional(w: Workload) -> bool:
    return w.workspace not in OTHER_REGION_WORKSPACES


def activity_rngs(seed: int) -> list[Generator]:
    """Independent random streams for the activity tables, one per builder, so that neither the usage table nor
    the order the builders run in changes what a seed generates."""
    return [Generator(PCG64(s)) for s in np.random.SeedSequence([seed, 0x5157]).spawn(6)]


def write_activity_tables(
    store: LocalLakehouse, streams: list[Stream], plan: ActivityPlan, window: Window, salt: np.uint64, seed: int
) -> dict[TableName, int]:
    """Write warehouses, warehouse events, clusters, job and pipeline timelines and query history."""
    rng_runs, rng_updates, rng_hours, rng_warehouse, rng_notebook, rng_pipeline = activity_rngs(seed)
    jobs = job_runs(streams, plan_runs(streams, plan, _JOB_KINDS), window, salt, rng_runs)
    updates = pipeline_updates(streams, plan_runs(streams, plan, _PIPELINE_KINDS), window, salt, rng_updates)
    hours = warehouse_hours(streams, plan, window, rng_hours)
    counts = {
        WAREHOUSES_TABLE: _write(store, WAREHOUSES_TABLE, [_arrow(warehouse_rows(window), schemas.WAREHOUSES)]),
        WAREHOUSE_EVENTS_TABLE: _write(store, WAREHOUSE_EVENTS_TABLE, [warehouse_event_table(streams, hours)]),
        CLUSTERS_TABLE: _write(store, CLUSTERS_TABLE, cluster_tables(streams, window, jobs, updates)),
        JOB_RUN_TIMELINE_TABLE: _write(store, JOB_RUN_TIMELINE_TABLE, job_run_timeline_tables(streams, jobs, window)),
        PIPELINE_UPDATE_TIMELINE_TABLE: _write(
            store, PIPELINE_UPDATE_TIMELINE_TABLE, pipeline_update_timeline_tables(streams, updates, window)
        ),
    }
    statements = itertools.chain(
        warehouse_statement_tables(streams, plan, window, hours, salt, rng_warehouse),
        [notebook_statement_table(streams, plan, window, rng_notebook)],
        [pipeline_statement_table(streams, updates, window, rng_pipeline)],
    )
    counts[QUERY_HISTORY_TABLE] = _write(store, QUERY_HISTORY_TABLE, statements)
    return counts


# --- arrow column builders ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Struct:
    """A struct column given field by field (missing fields are NULL); `valid` False makes the struct NULL."""

    fields: Mapping[str, object]
    valid: np.ndarray | None = None


def _column(arrow_type: pa.DataType, n: int, value: object) -> pa.Array:
    if value is None:
        return pa.nulls(n, arrow_type)
    if isinstance(value, _Struct):
        fields = list(arrow_type)
        unknown = set(value.fields) - {f.name for f in fields}
        if unknown:
            raise ValueError(f"no such struct fields: {sorted(unknown)}")
        children = [_column(f.type, n, value.fields.get(f.name)) for f in fields]
        mask = None if value.valid is None else pa.array(~value.valid)
        return pa.StructArray.from_arrays(children, fields=fields, mask=mask)
    if isinstance(value, np.ndarray):
        value = pa.array(value)
    if not isinstance(value, pa.Array):
        raise TypeError(f"cannot make a column of {type(value).__name__}")
    if len(value) != n:
        raise ValueError(f"column of {len(value)} values for {n} rows")
    return value if value.type == arrow_type else value.cast(arrow_type)


def _table(schema: StructType, n: int, values: Mapping[str, object]) -> pa.Table:
    """An arrow table of `schema` with `n` rows: the given columns, every other one NULL."""
    arrow = _arrow_schema(schema.fields)
    unknown = set(values) - set(arrow.names)
    if unknown:
        raise ValueError(f"no such columns: {sorted(unknown)}")
    return pa.Table.from_arrays([_column(f.type, n, values.get(f.name)) for f in arrow], schema=arrow)


def _pick(vocabulary: list[str | None] | tuple[str | None, ...], index: np.ndarray) -> pa.Array:
    """vocabulary[index] as a string array (None entries are NULL)."""
    return pa.array(list(vocabulary), pa.string()).take(pa.array(np.asarray(index, dtype=np.int64)))


def _const(value: str | None, n: int) -> pa.Array:
    return _pick([value], np.zeros(n, dtype=np.int64))


def _nullable(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    return pa.array(values, mask=~valid)


def _times(us: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    ints = pa.array(us.astype(np.int64)) if valid is None else _nullable(us.astype(np.int64), valid)
    return ints.cast(pa.timestamp("us", tz="UTC"))


def _lists(offsets: np.ndarray, values: pa.Array, valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else pa.array(~valid)
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values, mask=mask)


def _categorical(rng: Generator, probabilities: np.ndarray) -> np.ndarray:
    """One category per row from a row-wise probability matrix (rows sum to 1)."""
    cumulative = np.cumsum(probabilities, axis=1)
    return (rng.random(len(probabilities))[:, None] >= cumulative[:, :-1]).sum(axis=1)


def _chars(values: list[str]) -> np.ndarray:
    """Equal-length ASCII strings as an (n, width) uint8 matrix."""
    return np.frombuffer("".join(values).encode("ascii"), np.uint8).reshape(len(values), -1)


def _hex_id(name: str, width: int = 32) -> str:
    """A fixed hex id for a named thing of the world (dashboards, queries, alerts, spaces)."""
    return hashlib.sha256(name.encode()).hexdigest()[:width]


def user_id(identity: str) -> str:
    """The workspace user id of an identity (`executed_by_user_id`): a stable 16-digit number."""
    return str(10**15 + int(hashlib.sha256(identity.encode()).hexdigest()[:15], 16) % (9 * 10**15))


def _hour_slices(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut [start, end) at clock hours: (row, slice start, slice end, is last slice); start == end gives one slice."""
    first = start // _H
    last = np.maximum(end - 1, start) // _H
    count = last - first + 1
    row = np.repeat(np.arange(len(start)), count)
    i = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    hour = first[row] + i
    return row, np.maximum(start[row], hour * _H), np.minimum(end[row], (hour + 1) * _H), i == count[row] - 1


def _row_chunks(n: int, size: int = ACTIVITY_CHUNK_ROWS) -> list[slice]:
    return [slice(lo, min(lo + size, n)) for lo in range(0, max(n, 1), size)]


# --- warehouses --------------------------------------------------------------------------------------------------


def warehouse_rows(window: Window) -> list[dict[str, object]]:
    """SCD2 rows of every regional warehouse (shared-bi resized at the reorg), plus one deleted before the window."""
    rows = []
    warehouses = [w for w in WORKLOADS if w.kind == "sql" and is_regional(w)]
    for i, w in enumerate(warehouses):
        wid = w.metadata["warehouse_id"]
        cfg = WAREHOUSES[wid]
        created = window.start - dt.timedelta(days=90 + 13 * i, seconds=2_221 * i)
        rows.append(_warehouse_row(w.workspace, wid, w.key, cfg, dict(w.tags), created, None))
        if wid == WH_SHARED_BI:
            resized = Warehouse(**{**vars(cfg), "size": RESIZE_SIZE, "max_clusters": RESIZE_MAX_CLUSTERS})
            changed = window.change_time - dt.timedelta(minutes=17)
            rows.append(_warehouse_row(w.workspace, wid, w.key, resized, dict(w.tags), changed, None))
    retired = Warehouse("CLASSIC", "X_LARGE", 1, 1, 120, "CURRENT", USER_PLATFORM_ADMIN, USER_PLATFORM_ADMIN, ())
    created = window.start - dt.timedelta(days=400)
    deleted = window.start - dt.timedelta(days=10, hours=5)
    rows.append(_warehouse_row(WS_PROD, WH_RETIRED, "legacy-bi", retired, {}, created, None))
    rows.append(_warehouse_row(WS_PROD, WH_RETIRED, "legacy-bi", retired, {}, deleted, deleted))
    return rows


def _warehouse_row(
    ws: Workspace,
    warehouse_id: str,
    name: str,
    cfg: Warehouse,
    tags: dict[str, str],
    change_time: dt.datetime,
    delete_time: dt.datetime | None,
) -> dict[str, object]:
    return {
        "warehouse_id": warehouse_id,
        "workspace_id": ws.workspace_id,
        "account_id": ACCOUNT_ID,
        "warehouse_name": name,
        "warehouse_type": cfg.warehouse_type,
        "warehouse_channel": cfg.channel,
        "warehouse_size": cfg.size,
        "min_clusters": cfg.min_clusters,
        "max_clusters": cfg.max_clusters,
        "auto_stop_minutes": cfg.auto_stop_minutes,
        "tags": tags,
        "change_time": change_time,
        "delete_time": delete_time,
        "created_by": cfg.created_by,
    }


@dataclass(frozen=True)
class WarehouseHours:
    """Every billed hour of every regional warehouse, plus one unbilled hour each after the window (billing lags
    query history), and the warehouse events of their blocks of consecutive hours. Times are epoch microseconds.

    Statements of a busy hour start in [lo, hi) and may run on until `open_until`, the end of the run of busy
    hours they are in: so no statement reaches an idle hour, and some end exactly on the hour.
    """

    stream: np.ndarray
    records: np.ndarray
    idle: np.ndarray
    block_start: np.ndarray  # the hour is the first of its block
    lo: np.ndarray
    hi: np.ndarray
    open_until: np.ndarray
    running_at: np.ndarray  # when the block's warehouse became RUNNING (queries before it waited for compute)
    event_stream: np.ndarray
    event_type: np.ndarray  # index into WAREHOUSE_EVENT_TYPES
    event_count: np.ndarray
    event_time: np.ndarray


WAREHOUSE_EVENT_TYPES = ("STARTING", "RUNNING", "SCALED_UP", "SCALED_DOWN", "STOPPING", "STOPPED")  # 0 to 5


def warehouse_hours(streams: list[Stream], plan: ActivityPlan, window: Window, rng: Generator) -> WarehouseHours:
    """The hours and events of the regional warehouses: a block of billed hours starts (STARTING, then RUNNING)
    minutes into its first hour and stops `auto_stop_minutes` after its last statement, inside its last hour.

    Its last hour is idle half of the time (the auto-stop tail), a middle hour now and then, a one-hour block
    sometimes (a dashboard served from the result cache); the busiest middle hours scale up to two clusters.
    """
    parts: list[dict[str, np.ndarray]] = []
    events: list[tuple[np.ndarray, ...]] = []
    base = _epoch_day(window.start_date) * 24
    for index, s in enumerate(streams):
        if s.launch or s.workload.kind != "sql" or not is_regional(s.workload):
            continue
        cfg = WAREHOUSES[s.workload.metadata["warehouse_id"]]
        mine = plan.stream == index
        hour, records, block = plan.hour[mine], plan.records[mine], plan.block[mine]
        n = len(hour)
        first = np.concatenate(([True], block[1:] != block[:-1]))
        last = np.concatenate((block[1:] != block[:-1], [True]))
        u = rng.random(n)
        idle = np.where(first & last, u < 0.15, np.where(last, u < 0.5, ~first & (u < 0.08)))
        start = (base + hour) * _H
        starting = start + rng.integers(0, 480_000, n) * _MS
        running = starting + rng.integers(4_000, 90_000, n) * _MS
        auto_stop = cfg.auto_stop_minutes * 60 * _S
        lo = np.where(first, starting, start)
        hi = np.where(last, start + _H - auto_stop - 120 * _S, start + _H)
        busy = ~idle
        segment = np.cumsum(busy & (first | np.concatenate(([True], idle[:-1]))))
        segment_end = busy & (last | np.concatenate((idle[1:], [True])))
        cap = np.zeros(int(segment.max()) + 1, dtype=np.int64)
        cap[segment[segment_end]] = hi[segment_end]
        open_until = np.where(busy, cap[segment], lo + 61 * _S)
        # The block's RUNNING time, carried to each of its hours.
        block_running = running[first][np.cumsum(first) - 1]
        # Events: STARTING/RUNNING at the first hour, STOPPING/STOPPED in the last, scaling in busy middle hours.
        f, la = np.flatnonzero(first), np.flatnonzero(last)
        stop_base = np.where(idle[la], np.maximum(lo[la] + 61 * _S, running[f] + _S), hi[la])
        stopping = np.minimum(stop_base + auto_stop + rng.integers(0, 30_000, len(la)) * _MS, start[la] + _H - 20 * _S)
        stopped = stopping + rng.integers(3_000, 15_000, len(la)) * _MS
        kinds = [np.zeros(len(f), int), np.ones(len(f), int), np.full(len(la), 4), np.full(len(la), 5)]
        counts = [np.zeros(len(f), int), np.ones(len(f), int), np.ones(len(la), int), np.zeros(len(la), int)]
        times = [starting[f], running[f], stopping, stopped]
        if cfg.max_clusters > 1:
            busiest = busy & ~first & ~last & (records >= np.quantile(records, 0.75))
            b = np.flatnonzero(busiest)
            kinds += [np.full(len(b), 2), np.full(len(b), 3)]
            counts += [np.full(len(b), 2), np.ones(len(b), int)]
            times += [
                start[b] + rng.integers(60_000, 900_000, len(b)) * _MS,
                start[b] + rng.integers(2_400_000, 3_300_000, len(b)) * _MS,
            ]
        # Statements in the first hour after the window: billing has not caught up with them yet.
        late_start = (base + window.hours) * _H + rng.integers(0, 20_000) * _MS
        late_running = late_start + rng.integers(4_000, 30_000) * _MS
        kinds += [np.array([0, 1])]
        counts += [np.array([0, 1])]
        times += [np.array([late_start, late_running])]
        event_type, event_count, event_time = np.concatenate(kinds), np.concatenate(counts), np.concatenate(times)
        events.append((np.full(len(event_type), index), event_type, event_count, event_time))
        parts.append(
            {
                "stream": np.full(n + 1, index),
                "records": np.append(records, 2),
                "idle": np.append(idle, False),
                "block_start": np.append(first, True),
                "lo": np.append(lo, late_start),
                "hi": np.append(hi, late_start + 40 * 60 * _S),
                "open_until": np.append(open_until, late_start + 40 * 60 * _S),
                "running_at": np.append(block_running, late_running),
            }
        )
    joined = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    stream, kind, count, time = (np.concatenate(x) for x in zip(*events, strict=True))
    order = np.lexsort((time, stream))
    return WarehouseHours(
        **joined, event_stream=stream[order], event_type=kind[order], event_count=count[order], event_time=time[order]
    )


def warehouse_event_table(streams: list[Stream], hours: WarehouseHours) -> pa.Table:
    n = len(hours.event_stream)
    return _table(
        schemas.WAREHOUSE_EVENTS,
        n,
        {
            "account_id": _const(ACCOUNT_ID, n),
            "workspace_id": _pick(_workspace_ids(streams), hours.event_stream),
            "warehouse_id": _pick([s.workload.metadata.get("warehouse_id") for s in streams], hours.event_stream),
            "event_type": _pick(WAREHOUSE_EVENT_TYPES, hours.event_type),
            "cluster_count": hours.event_count.astype(np.int32),
            "event_time": _times(hours.event_time),
        },
    )


def _workspace_ids(streams: list[Stream]) -> list[str | None]:
    return [s.workload.workspace.workspace_id for s in streams]


# --- job runs and pipeline updates -------------------------------------------------------------------------------

_JOB_KINDS = ("job_classic", "job_serverless")
_PIPELINE_KINDS = ("pipeline_classic", "pipeline_serverless")
_SCHEDULED = ("nightly", "early", "etl")


@dataclass(frozen=True)
class RunPlan:
    """The runs usage bills (job runs or pipeline updates), sorted by run key `block << 32 | k`.

    Run k of a block of consecutive active hours has the usage records ranked 4k to 4k+3 in each hour of the block
    (`_RECORDS_PER_RUN`), as the usage facts number them: it spans the hours from the first to the last it bills.
    """

    stream: np.ndarray
    key: np.ndarray
    first_hour: np.ndarray
    last_hour: np.ndarray
    block_hour: np.ndarray

    @property
    def block(self) -> np.ndarray:
        return self.key >> np.uint64(32)

    @property
    def k(self) -> np.ndarray:
        return (self.key & np.uint64(0xFFFFFFFF)).astype(np.int64)


def plan_runs(streams: list[Stream], plan: ActivityPlan, kinds: tuple[str, ...]) -> RunPlan:
    """The runs of regional streams of the given workload kinds."""
    wanted = np.array([not s.launch and s.workload.kind in kinds and is_regional(s.workload) for s in streams])
    groups = np.flatnonzero(wanted[plan.stream])
    per_group = (plan.records[groups] + _RECORDS_PER_RUN - 1) // _RECORDS_PER_RUN
    group = np.repeat(groups, per_group)
    k = np.arange(int(per_group.sum())) - np.repeat(np.cumsum(per_group) - per_group, per_group)
    key = (plan.block[group].astype(np.uint64) << np.uint64(32)) | k.astype(np.uint64)
    order = np.argsort(key, kind="stable")  # within a run, groups stay hour-major: first and last hour
    key, group = key[order], group[order]
    unique, first, count = np.unique(key, return_index=True, return_counts=True)
    head, tail = group[first], group[first + count - 1]
    return RunPlan(plan.stream[head], unique, plan.hour[head], plan.hour[tail], plan.block_start[head])


def _run_times(
    streams: list[Stream], runs: RunPlan, window: Window, rng: Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, end, scheduled): a scheduled run's first run of a block starts minutes after the hour."""
    n = len(runs.key)
    base = _epoch_day(window.start_date) * 24
    scheduled = np.array([s.workload.activity in _SCHEDULED for s in streams])[runs.stream]
    start_ms = np.where(scheduled & (runs.k == 0), rng.integers(5_000, 300_000, n), rng.integers(0, 2_400_000, n))
    end_ms = rng.integers(np.where(runs.first_hour == runs.last_hour, start_ms + 120_000, 120_000), 3_540_000)
    start = (base + runs.first_hour) * _H + start_ms * _MS
    end = (base + runs.last_hour) * _H + end_ms * _MS
    return start, end, scheduled


def retries(
    stream: np.ndarray, start: np.ndarray, end: np.ndarray, failed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(failed, retry) index pairs: a failed run is retried by the next run of its stream that starts after it ended
    (each run retries at most one failed run: the one that ended first)."""
    key = (stream.astype(np.int64) << np.int64(51)) | start  # epoch microseconds stay below 2^51 until 2041
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    f = np.flatnonzero(failed)
    f = f[np.argsort(end[f], kind="stable")]
    position = np.searchsorted(ordered, (stream[f].astype(np.int64) << np.int64(51)) | end[f], side="right")
    found = position < len(ordered)
    f, position = f[found], position[found]
    same_stream = (ordered[position] >> np.int64(51)) == stream[f]
    f, target = f[same_stream], order[position[same_stream]]
    target, first = np.unique(target, return_index=True)
    return f[first], target


RUN_STATES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED", "ERROR", "SKIPPED")
_SUCCEEDED, _FAILED, _TIMED_OUT, _CANCELLED, _ERROR, _SKIPPED = range(6)
_RUN_STATE_P = (0.88, 0.07, 0.015, 0.025, 0.01)
JOB_TRIGGER_TYPES = ("CRON", "ONETIME", "ONETIME_RETRY")
_TERMINATION_CODES = ("SUCCESS", "RUN_EXECUTION_ERROR", "RUN_EXECUTION_ERROR", "CANCELLED", "CLUSTER_ERROR", "SKIPPED")
_TERMINATION_TYPES = ("SUCCESS", "CLIENT_ERROR", "CLIENT_ERROR", "CLIENT_ERROR", "SERVICE_ERROR", "CLIENT_ERROR")


@dataclass(frozen=True)
class JobAttempts:
    """One row per attempt of a job run, each ending in a final timeline row: a run's first attempt, the repair of
    a failed run (same run id: a second final row), and runs that never started (start = end, SKIPPED, no usage).
    """

    stream: np.ndarray
    run_number: np.ndarray  # the 15-digit job run id
    salted_key: np.ndarray
    block_hour: np.ndarray
    has_cluster: np.ndarray
    start: np.ndarray
    end: np.ndarray
    state: np.ndarray  # index into RUN_STATES
    trigger: np.ndarray  # index into JOB_TRIGGER_TYPES
    setup_s: np.ndarray
    queue_s: np.ndarray
    cleanup_s: np.ndarray

    def take(self, index: np.ndarray) -> JobAttempts:
        return JobAttempts(**{k: v[index] for k, v in vars(self).items()})


def job_runs(streams: list[Stream], runs: RunPlan, window: Window, salt: np.uint64, rng: Generator) -> JobAttempts:
    """Times and outcomes of the billed job runs: some fail, some are repaired, some are retried by a new run."""
    n = len(runs.key)
    start, end, scheduled = _run_times(streams, runs, window, rng)
    state = _categorical(rng, np.tile(np.array(_RUN_STATE_P) / sum(_RUN_STATE_P), (n, 1)))
    repaired = (state == _FAILED) & (end - start > 15 * 60 * _S) & (rng.random(n) < 0.5)
    split = start + ((end - start) * rng.uniform(0.2, 0.6, n)).astype(np.int64) // _MS * _MS
    resume = np.minimum(split + rng.integers(60_000, 240_000, n) * _MS, end - 60 * _S)
    repair_state = np.where(rng.random(n) < 0.8, _SUCCEEDED, _FAILED)
    final = np.where(repaired, repair_state, state)
    retry = np.zeros(n, bool)
    retry[retries(runs.stream, start, end, np.isin(final, (_FAILED, _TIMED_OUT)))[1]] = True
    trigger = np.where(retry, 2, np.where(scheduled, 0, 1))
    classic = np.array([s.workload.kind == "job_classic" for s in streams])[runs.stream]
    setup = np.where(classic, rng.integers(60, 420, n), rng.integers(2, 40, n))
    queue = np.where(rng.random(n) < 0.1, rng.integers(1, 120, n), 0)
    cleanup = rng.integers(0, 30, n)
    salted = runs.key ^ salt
    firsts = JobAttempts(
        runs.stream,
        job_run_number(salted),
        salted,
        runs.block_hour,
        classic,
        start,
        np.where(repaired, split, end),
        state,
        trigger,
        setup,
        queue,
        cleanup,
    )
    r = np.flatnonzero(repaired)
    repairs = JobAttempts(
        runs.stream[r],
        firsts.run_number[r],
        salted[r],
        runs.block_hour[r],
        classic[r],
        resume[r],
        end[r],
        repair_state[r],
        trigger[r],
        setup[r],
        np.zeros(len(r), dtype=np.int64),
        cleanup[r],
    )
    return _concat_attempts([firsts, repairs, _never_started(streams, window, rng)])


def _never_started(streams: list[Stream], window: Window, rng: Generator) -> JobAttempts:
    """About one run per job and fortnight skipped at its trigger time (start = end, no usage)."""
    jobs = [i for i, s in enumerate(streams) if not s.launch and s.workload.kind in _JOB_KINDS]
    jobs = [i for i in jobs if is_regional(streams[i].workload)]
    day, job = np.nonzero(rng.random((window.days, len(jobs))) < 0.07)
    stream = np.array(jobs, dtype=np.int64)[job]
    n = len(stream)
    at = (_epoch_day(window.start_date) + day) * 24 * _H + rng.integers(0, 86_400_000, n) * _MS
    scheduled = np.array([s.workload.activity in _SCHEDULED for s in streams])[stream]
    zero = np.zeros(n, dtype=np.int64)
    number = rng.integers(10**14, 10**15, n, dtype=np.int64).astype(np.uint64)
    return JobAttempts(
        stream,
        number,
        number,
        zero,
        np.zeros(n, bool),
        at,
        at,
        np.full(n, _SKIPPED),
        np.where(scheduled, 0, 1),
        zero,
        zero,
        zero,
    )


def _concat_attempts(parts: list[JobAttempts]) -> JobAttempts:
    return JobAttempts(**{k: np.concatenate([vars(p)[k] for p in parts]) for k in vars(parts[0])})


def _job_names(streams: list[Stream]) -> list[str | None]:
    """Per stream, the job name before (2i) and after (2i + 1) the rename instant."""
    names: list[str | None] = []
    for s in streams:
        names += [s.workload.metadata.get("job_name"), _changed(s.workload, "metadata").get("job_name")]
    return names


def _arrow_type(schema: StructType, column: str) -> pa.DataType:
    return _arrow_schema([schema[column]]).field(column).type


def _compute_refs(n: int, classic: np.ndarray, cluster: pa.Array, schema: StructType, column: str) -> pa.Array:
    """A one-element `compute` array per row: CLASSIC_COMPUTE with the cluster, or SERVERLESS_COMPUTE."""
    element = _arrow_type(schema, column).value_type
    refs = _column(element, n, _Struct({"type": _pick(_COMPUTE_TYPES, np.where(classic, 2, 1)), "cluster_id": cluster}))
    return _lists(np.arange(n + 1), refs)


_COMPUTE_TYPES = ("WAREHOUSE", "SERVERLESS_COMPUTE", "CLASSIC_COMPUTE")


def job_run_timeline_tables(streams: list[Stream], jobs: JobAttempts, window: Window) -> Iterator[pa.Table]:
    """Clock-hour slices of every attempt; result state, termination and durations on each attempt's last slice."""
    row, slice_start, slice_end, last = _hour_slices(jobs.start, jobs.end)
    schema = schemas.JOB_RUN_TIMELINE
    names = _job_names(streams)
    for part in _row_chunks(len(row)):
        a = jobs.take(row[part])
        final = last[part]
        n = len(a.stream)
        cluster = _strings(run_cluster_id_chars(window, a.block_hour, a.salted_key), a.has_cluster)
        with_ids = a.has_cluster & final  # compute_ids is empty on most rows (spec §4)
        ids_offsets = np.concatenate(([0], np.cumsum(with_ids)))
        after = (a.start >= _epoch_micros(window.change_time)).astype(np.int64)  # the name when the run began
        run_s = (a.end - a.start) // _S
        durations = {
            "setup_duration_seconds": a.setup_s,
            "queue_duration_seconds": a.queue_s,
            "run_duration_seconds": run_s,
            "cleanup_duration_seconds": a.cleanup_s,
            "execution_duration_seconds": np.maximum(run_s - a.setup_s - a.cleanup_s, 0),
        }
        code = np.where((a.state == _ERROR) & ~a.has_cluster, len(_TERMINATION_CODES), a.state)
        yield _table(
            schema,
            n,
            {
                "account_id": _const(ACCOUNT_ID, n),
                "workspace_id": _pick(_workspace_ids(streams), a.stream),
                "job_id": _pick([s.workload.metadata.get("job_id") for s in streams], a.stream),
                "run_id": _strings(_digit_chars(a.run_number, 15)),
                "period_start_time": _times(slice_start[part]),
                "period_end_time": _times(slice_end[part]),
                "trigger_type": _pick(JOB_TRIGGER_TYPES, a.trigger),
                "result_state": _pick([*RUN_STATES, None], np.where(final, a.state, len(RUN_STATES))),
                "run_type": _const("JOB_RUN", n),
                "run_name": _pick(names, 2 * a.stream + after),
                "compute_ids": _lists(ids_offsets, cluster.filter(pa.array(with_ids))),
                "termination_code": _pick(
                    [*_TERMINATION_CODES, "CLOUD_FAILURE", None], np.where(final, code, len(_TERMINATION_CODES) + 1)
                ),
                "job_parameters": pa.array([[]], _arrow_type(schema, "job_parameters")).take(
                    pa.array(np.zeros(n, int))
                ),
                "compute": _compute_refs(n, a.has_cluster, cluster, schema, "compute"),
                "termination_type": _pick([*_TERMINATION_TYPES, None], np.where(final, a.state, len(RUN_STATES))),
                **{k: _nullable(v, final) for k, v in durations.items()},
            },
        )


def _epoch_micros(when: dt.datetime) -> int:
    return int((when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) / dt.timedelta(microseconds=1))


UPDATE_STATES = ("COMPLETED", "FAILED", "CANCELED")


@dataclass(frozen=True)
class PipelineUpdates:
    """One row per billed pipeline update. A failed update is retried by the next update of its pipeline that starts
    after it ended: `trigger_type` RETRY_ON_FAILURE and the failed update's `request_id` (spec §4: retries share
    a request)."""

    stream: np.ndarray
    salted_key: np.ndarray
    block_hour: np.ndarray
    has_cluster: np.ndarray
    start: np.ndarray
    end: np.ndarray
    state: np.ndarray  # index into UPDATE_STATES
    retry: np.ndarray
    request: np.ndarray  # request_id as two 64-bit words
    full_refresh: np.ndarray

    def take(self, index: np.ndarray) -> PipelineUpdates:
        return PipelineUpdates(**{k: v[index] for k, v in vars(self).items()})


def pipeline_updates(
    streams: list[Stream], runs: RunPlan, window: Window, salt: np.uint64, rng: Generator
) -> PipelineUpdates:
    n = len(runs.key)
    start, end, _ = _run_times(streams, runs, window, rng)
    state = _categorical(rng, np.tile([0.92, 0.05, 0.03], (n, 1)))
    failed, retried = retries(runs.stream, start, end, state == 1)
    retry = np.zeros(n, bool)
    retry[retried] = True
    # A retry joins its failed update's request (chains of retries too: a few rounds reach the first request).
    group = np.arange(n)
    while True:
        joined = group.copy()
        joined[retried] = group[failed]
        if np.array_equal(joined, group):
            break
        group = joined
    group = group.astype(np.uint64)
    words = rng.integers(0, 2**63, 2, dtype=np.int64).astype(np.uint64)
    request = np.stack([_mix64(group ^ words[0]), _mix64(group ^ words[1])], axis=1)
    classic = np.array([s.workload.kind == "pipeline_classic" for s in streams])[runs.stream]
    return PipelineUpdates(
        runs.stream, runs.key ^ salt, runs.block_hour, classic, start, end, state, retry, request, rng.random(n) < 0.04
    )


def pipeline_update_timeline_tables(
    streams: list[Stream], updates: PipelineUpdates, window: Window
) -> Iterator[pa.Table]:
    row, slice_start, slice_end, last = _hour_slices(updates.start, updates.end)
    for part in _row_chunks(len(row)):
        u = updates.take(row[part])
        final = last[part]
        n = len(u.stream)
        yield _table(
            schemas.PIPELINE_UPDATE_TIMELINE,
            n,
            {
                "workspace_id": _pick(_workspace_ids(streams), u.stream),
                "pipeline_id": _pick([s.workload.metadata.get("dlt_pipeline_id") for s in streams], u.stream),
                "update_id": _strings(update_id_chars(u.salted_key)),
                "update_type": _pick(("REFRESH", "FULL_REFRESH"), u.full_refresh.astype(np.int64)),
                "request_id": _strings(_uuid_chars(u.request[:, 0], u.request[:, 1])),
                "run_as_user_name": _pick([s.workload.identity.get("run_as") for s in streams], u.stream),
                "trigger_type": _pick(("API_CALL", "RETRY_ON_FAILURE"), u.retry.astype(np.int64)),
                "result_state": _pick([*UPDATE_STATES, None], np.where(final, u.state, len(UPDATE_STATES))),
                "compute": _Struct(
                    {
                        "type": _pick(_COMPUTE_TYPES, np.where(u.has_cluster, 2, 1)),
                        "cluster_id": _strings(run_cluster_id_chars(window, u.block_hour, u.salted_key), u.has_cluster),
                    }
                ),
                "period_start_time": _times(slice_start[part]),
                "period_end_time": _times(slice_end[part]),
                "account_id": _const(ACCOUNT_ID, n),
            },
        )


# --- clusters ------------------------------------------------------------------------------------------------------

_CLUSTER_OWNERS = {CLUSTER_ANALYTICS: USER_ALICE, CLUSTER_DEV_CAROL: USER_CAROL, CLUSTER_SHARED_SERVICES: SP_PLATFORM}
_ZONES = {"US_EAST_N_VIRGINIA": "us-east-1a", "EUROPE_IRELAND": "eu-west-1a", None: "us-west-2a"}


def cluster_tables(
    streams: list[Stream], window: Window, jobs: JobAttempts, updates: PipelineUpdates
) -> list[pa.Table]:
    """All-purpose clusters (SCD2), one job cluster per classic job run, one cluster per classic pipeline update."""
    fixed = _arrow(all_purpose_cluster_rows(window), schemas.CLUSTERS)
    first_attempt = np.unique(jobs.run_number, return_index=True)[1]  # repairs reuse the run's cluster row
    job_attempts = jobs.take(np.sort(first_attempt[jobs.has_cluster[first_attempt]]))
    job_ids = _chars([s.workload.metadata.get("job_id", "0" * 15) for s in streams])
    job_names = np.concatenate(
        [
            np.broadcast_to(_chars(["job-"]), (len(job_attempts.stream), 4)),
            job_ids[job_attempts.stream],
            np.broadcast_to(_chars(["-run-"]), (len(job_attempts.stream), 5)),
            _digit_chars(job_attempts.run_number, 15),
        ],
        axis=1,
    )
    pipe = updates.take(np.flatnonzero(updates.has_cluster))
    pipeline_ids = _chars([s.workload.metadata.get("dlt_pipeline_id", "0" * 36) for s in streams])
    pipeline_names = np.concatenate(
        [np.broadcast_to(_chars(["dlt-execution-"]), (len(pipe.stream), 14)), pipeline_ids[pipe.stream]], axis=1
    )
    tables = [fixed]
    for source, runs, names in (("JOB", job_attempts, job_names), ("PIPELINE", pipe, pipeline_names)):
        for part in _row_chunks(len(runs.stream)):
            tables.append(
                _run_clusters(
                    streams,
                    window,
                    source,
                    runs.stream[part],
                    runs.salted_key[part],
                    runs.block_hour[part],
                    runs.start[part],
                    names[part],
                )
            )
    return tables


def _run_clusters(
    streams: list[Stream],
    window: Window,
    source: str,
    stream: np.ndarray,
    salted: np.ndarray,
    block_hour: np.ndarray,
    start: np.ndarray,
    names: np.ndarray,
) -> pa.Table:
    """Clusters created for runs (cluster_source JOB or PIPELINE), as usage names them, tagged like their workload."""
    n = len(stream)
    workloads = [s.workload for s in streams]
    cloud = np.array([w.workspace.cloud for w in workloads])[stream]
    after = (start >= _epoch_micros(window.change_time)).astype(np.int64)
    tags = [t for w in workloads for t in (dict(w.tags), _changed(w, "tags"))]
    node = _pick([w.metadata.get("node_type") for w in workloads], stream)
    photon = np.array([w.features.get("is_photon") is True for w in workloads])[stream]
    aws = cloud == "AWS"
    return _table(
        schemas.CLUSTERS,
        n,
        {
            "account_id": _const(ACCOUNT_ID, n),
            "workspace_id": _pick(_workspace_ids(streams), stream),
            "cluster_id": _strings(run_cluster_id_chars(window, block_hour, salted)),
            "cluster_name": _strings(names),
            "owned_by": _pick([w.identity.get("run_as") for w in workloads], stream),
            "create_time": _times(start),
            "driver_node_type": node,
            "worker_node_type": node,
            "worker_count": np.full(n, 4, dtype=np.int64),
            "auto_termination_minutes": np.zeros(n, dtype=np.int64),
            "enable_elastic_disk": np.ones(n, bool),
            "tags": pa.array(tags, _arrow_type(schemas.CLUSTERS, "tags")).take(pa.array(2 * stream + after)),
            "cluster_source": _const(source, n),
            "aws_attributes": _Struct(
                {
                    "first_on_demand": np.ones(n, dtype=np.int64),
                    "availability": _const("SPOT_WITH_FALLBACK", n),
                    "zone_id": _pick([_ZONES.get(w.workspace.region, "us-east-1a") for w in workloads], stream),
                    "spot_bid_price_percent": np.full(n, 100, dtype=np.int64),
                },
                aws,
            ),
            "azure_attributes": _Struct(
                {
                    "first_on_demand": np.ones(n, dtype=np.int64),
                    "availability": _const("ON_DEMAND_AZURE", n),
                    "spot_bid_max_price": np.full(n, -1.0),
                },
                cloud == "AZURE",
            ),
            "dbr_version": _pick(("15.4.x-scala2.12", "15.4.x-photon-scala2.12"), photon.astype(np.int64)),
            "change_time": _times(start),
            "change_date": pa.array((start // (24 * _H)).astype(np.int32)).cast(pa.date32()),
            "data_security_mode": _const("SINGLE_USER", n),
        },
    )


def all_purpose_cluster_rows(window: Window) -> list[dict[str, object]]:
    """SCD2 rows of the regional all-purpose clusters; the analytics cluster's autoscale range changes mid-window."""
    rows = []
    clusters = [w for w in WORKLOADS if w.kind == "all_purpose" and is_regional(w)]
    for i, w in enumerate(clusters):
        created = window.start - dt.timedelta(days=60 + 17 * i, seconds=3_011 * i)
        rows.append(_all_purpose_row(w, created, created, 8))
        if w.metadata["cluster_id"] == CLUSTER_ANALYTICS:
            rows.append(_all_purpose_row(w, created, window.change_time + dt.timedelta(hours=3, seconds=11), 12))
    return rows


def _all_purpose_row(w: Workload, created: dt.datetime, changed: dt.datetime, max_workers: int) -> dict[str, object]:
    photon = w.features.get("is_photon") is True
    cloud = w.workspace.cloud
    return {
        "account_id": ACCOUNT_ID,
        "workspace_id": w.workspace.workspace_id,
        "cluster_id": w.metadata["cluster_id"],
        "cluster_name": w.key,
        "owned_by": _CLUSTER_OWNERS.get(w.metadata["cluster_id"], USER_PLATFORM_ADMIN),
        "create_time": created,
        "delete_time": None,
        "driver_node_type": w.metadata.get("node_type"),
        "worker_node_type": w.metadata.get("node_type"),
        "worker_count": None,
        "min_autoscale_workers": 1,
        "max_autoscale_workers": max_workers,
        "auto_termination_minutes": 60,
        "enable_elastic_disk": True,
        "tags": dict(w.tags),
        "cluster_source": "UI",
        "init_scripts": [],
        "aws_attributes": {
            "first_on_demand": 1,
            "availability": "SPOT_WITH_FALLBACK",
            "zone_id": _ZONES.get(w.workspace.region, "us-east-1a"),
            "spot_bid_price_percent": 100,
        }
        if cloud == "AWS"
        else None,
        "azure_attributes": None,
        "gcp_attributes": None,
        "driver_instance_pool_id": None,
        "worker_instance_pool_id": None,
        "dbr_version": "15.4.x-photon-scala2.12" if photon else "15.4.x-scala2.12",
        "change_time": changed,
        "change_date": changed.date(),
        "data_security_mode": "USER_ISOLATION",
        "policy_id": None,
    }


# --- query history -------------------------------------------------------------------------------------------------

# Who runs statements: index into this tuple; None is a NULL executed_by.
QUERY_IDENTITIES: tuple[str | None, ...] = (
    USER_ALICE,
    USER_BOB,
    USER_MARIA,
    USER_FRANK,
    USER_SAM,
    USER_GUEST,
    USER_PLATFORM_ADMIN,
    SP_DATA_ENG,
    SP_FINANCE,
    SP_PLATFORM,
    REDACTED,
    None,
)
_IDENTITY_INDEX = {identity: i for i, identity in enumerate(QUERY_IDENTITIES)}
CLIENT_APPLICATIONS = (
    "Databricks SQL Editor",
    "Databricks Dashboards",
    "PowerBI",
    "Tableau",
    "Genie",
    "DBeaver",
    "dbt",
    "Databricks SQL Alerts",
    "Databricks Notebook",
    "Lakeflow Pipelines",
)
_EDITOR, _DASHBOARDS, _POWERBI, _TABLEAU, _GENIE, _DBEAVER, _DBT, _ALERTS, _NOTEBOOK, _PIPELINES = range(10)
_CLIENT_DRIVERS = (None, None, "odbc", "odbc", None, "jdbc", "python", None, None, None)
# Statement kinds: what a statement does, which decides its type, durations and task time.
_SELECT, _CACHED, _METADATA, _ETL, _UNTYPED, _OTHER = range(6)
_KIND_P = {
    _EDITOR: (0.62, 0.05, 0.15, 0.08, 0.05, 0.05),
    _DASHBOARDS: (0.65, 0.30, 0.05, 0, 0, 0),
    _POWERBI: (0.75, 0.10, 0.15, 0, 0, 0),
    _TABLEAU: (0.75, 0.10, 0.15, 0, 0, 0),
    _GENIE: (0.90, 0, 0.10, 0, 0, 0),
    _DBEAVER: (0.60, 0, 0.30, 0.05, 0.05, 0),
    _DBT: (0.35, 0, 0.15, 0.50, 0, 0),
    _ALERTS: (0.80, 0.20, 0, 0, 0, 0),
    _NOTEBOOK: (0.70, 0, 0.20, 0, 0, 0.10),
    _PIPELINES: (0, 0, 0, 1, 0, 0),
}
_IDLE_KIND_P = (0, 0.6, 0.4, 0, 0, 0)  # an idle hour sees only cached results and metadata: no task time
_USER_CLIENT_P = (0.4, 0.3, 0.1, 0.1, 0.05, 0.05, 0, 0, 0, 0)
_SERVICE_CLIENT_P = (0, 0.7, 0, 0, 0, 0, 0, 0.3, 0, 0)
STATEMENT_TYPES: tuple[str | None, ...] = (
    "SELECT",
    "SHOW",
    "SET",
    "USE",
    "DESCRIBE",
    "INSERT",
    "MERGE",
    "CREATE",
    "OPTIMIZE",
    "COPY",
    "EXPLAIN",
    "ANALYZE",
    "REFRESH",
    None,
)
# Per kind: (first statement type, number of types to choose from evenly); ETL weights are uneven on purpose.
_KIND_TYPES = {_SELECT: (0, 1), _CACHED: (0, 1), _METADATA: (1, 4), _ETL: (5, 5), _UNTYPED: (13, 1), _OTHER: (10, 2)}
_STATEMENT_TEXTS = {
    "SELECT": "SELECT region, sum(amount) AS revenue FROM main.sales.orders WHERE order_date >= :start GROUP BY region",
    "SHOW": "SHOW TABLES IN main.sales",
    "SET": "SET TIME ZONE 'UTC'",
    "USE": "USE CATALOG main",
    "DESCRIBE": "DESCRIBE TABLE EXTENDED main.sales.orders",
    "INSERT": "INSERT INTO main.sales.daily_revenue SELECT order_date, sum(amount) FROM main.sales.orders GROUP BY 1",
    "MERGE": "MERGE INTO main.crm.customers t USING main.crm.updates s ON t.id = s.id "
    "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
    "CREATE": "CREATE OR REPLACE TABLE main.finance.ledger_snapshot AS SELECT * FROM main.finance.ledger",
    "OPTIMIZE": "OPTIMIZE main.sales.orders",
    "COPY": "COPY INTO main.raw.events FROM '/Volumes/main/raw/landing' FILEFORMAT = JSON",
    "EXPLAIN": "EXPLAIN SELECT * FROM main.sales.orders",
    "ANALYZE": "ANALYZE TABLE main.sales.orders COMPUTE STATISTICS",
    "REFRESH": "CREATE OR REFRESH STREAMING TABLE orders_bronze AS SELECT * FROM STREAM read_files('/Volumes/raw')",
}
_ERRORS = (
    "[TABLE_OR_VIEW_NOT_FOUND] The table or view `main.sales.order` cannot be found.",
    "[DIVIDE_BY_ZERO] Division by zero. Use `try_divide` to tolerate divisor being 0 and return NULL instead.",
    "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or function parameter with name `amt` cannot be resolved.",
)
EXECUTION_STATUSES = ("FINISHED", "FAILED", "CANCELED")  # one L, unlike the jobs tables
_QUERY_TAG_VARIANTS: tuple[dict[str, str | None] | None, ...] = (
    None,
    {"@@dbt_model_name": "fct_orders", "@@dbt_materialized": "incremental"},
    {"@@dbt_model_name": "dim_customers", "@@dbt_materialized": "table"},
    {"Team": "Finance-Reporting"},  # mixed-case key
    {"project": "churn", "adhoc": None},  # a key-only tag has a NULL value
    {},
)
_SALT_TASK = np.uint64(71)


def _query_tags(index: np.ndarray) -> pa.Array:
    variants = [None if t is None else list(t.items()) for t in _QUERY_TAG_VARIANTS]
    return pa.array(variants, _arrow_type(schemas.QUERY_HISTORY, "query_tags")).take(pa.array(index))


@dataclass
class _Statements:
    """Per-statement numpy columns common to every source of statements, before they become a table."""

    stream: np.ndarray
    identity: np.ndarray
    executed_as: np.ndarray
    client: np.ndarray
    kind: np.ndarray
    start: np.ndarray
    end: np.ndarray
    wait_for_compute: np.ndarray  # ms; -1 for NULL (serverless)
    statement_type: np.ndarray
    status: np.ndarray
    tags: np.ndarray


def _statement_kinds(rng: Generator, client: np.ndarray, idle: np.ndarray | None = None) -> np.ndarray:
    probabilities = np.array([_KIND_P[c] for c in range(len(CLIENT_APPLICATIONS))])[client]
    if idle is not None:
        probabilities[idle] = _IDLE_KIND_P
    return _categorical(rng, probabilities)


def _statement_types(rng: Generator, kind: np.ndarray) -> np.ndarray:
    first = np.array([_KIND_TYPES[k][0] for k in range(6)])[kind]
    choices = np.array([_KIND_TYPES[k][1] for k in range(6)])[kind]
    etl = rng.choice(5, size=len(kind), p=(0.35, 0.3, 0.15, 0.1, 0.1))
    return first + np.where(kind == _ETL, etl, (rng.random(len(kind)) * choices).astype(np.int64))


def _durations_ms(rng: Generator, kind: np.ndarray) -> np.ndarray:
    n = len(kind)
    select = np.clip(rng.lognormal(np.log(3_000), 1.4, n), 30, 3 * 3_600_000)
    etl = np.clip(rng.lognormal(np.log(90_000), 1.0, n), 1_000, 4 * 3_600_000)
    other = np.clip(rng.lognormal(np.log(800), 1.0, n), 20, 600_000)
    quick = rng.integers(5, 400, n).astype(float)
    out = np.select([kind == _SELECT, kind == _ETL, kind == _OTHER], [select, etl, other], quick)
    return out.astype(np.int64)


def _statuses(rng: Generator, kind: np.ndarray) -> np.ndarray:
    status = _categorical(rng, np.tile([0.93, 0.04, 0.03], (len(kind), 1)))
    return np.where(np.isin(kind, (_CACHED, _METADATA)), 0, status)


def _statement_table(rng: Generator, s: _Statements, streams: list[Stream], extra: Mapping[str, object]) -> pa.Table:
    """The 44 columns of `system.query.history` from the common columns plus source-specific ones (`extra`)."""
    n = len(s.stream)
    total = (s.end - s.start) // _MS
    waited = np.maximum(s.wait_for_compute, 0)
    rest = total - waited
    queued = np.where((rng.random(n) < 0.05) & np.isin(s.kind, (_SELECT, _ETL)), (rest * rng.uniform(0, 0.3, n)), 0)
    queued = queued.astype(np.int64)
    compiling = np.minimum(rest - queued, rng.integers(5, 600, n))
    executing = rest - queued - compiling
    parallel = rng.lognormal(np.log(6), 1.3, n) * np.where(s.kind == _ETL, 3, 1)
    partial = np.where(s.status == 0, 1.0, rng.uniform(0.05, 1.0, n))  # failed and cancelled statements used time
    task = (executing * parallel * partial).astype(np.int64)
    task = np.where(np.isin(s.kind, (_CACHED, _METADATA)), 0, task)
    task = np.where((s.kind == _UNTYPED) & (rng.random(n) < 0.5), 0, task)
    task_known = ~((s.kind == _CACHED) & (rng.random(n) < 0.5))  # cached results: task time 0 or NULL
    fetch = np.select(
        [s.kind == _SELECT, s.kind == _CACHED], [rng.integers(0, 800, n), rng.integers(0, 50, n)], 0
    ).astype(np.int64)
    reads = task > 0
    read_rows = np.where(reads, (task * rng.lognormal(np.log(2_000), 1.0, n)).astype(np.int64), 0)
    read_bytes = read_rows * rng.integers(40, 400, n)
    read_files = np.where(reads, np.maximum(read_bytes // (64 << 20), 1), 0)
    pruned = np.where(reads, (read_files * rng.uniform(0, 3, n)).astype(np.int64), 0)
    writes = s.kind == _ETL
    written_rows = np.where(writes, read_rows // rng.integers(2, 20, n), 0)
    produced = np.where(
        s.kind == _SELECT, rng.integers(1, 10_000, n), np.where(s.kind == _CACHED, rng.integers(1, 500, n), 0)
    )
    cmk = np.array([x.workload.workspace in CMK_WORKSPACES for x in streams])[s.stream]
    texts = [_STATEMENT_TEXTS.get(t or "", "CALL main.ops.refresh_stats()") for t in STATEMENT_TYPES]
    text_index = np.where(cmk, len(texts), s.statement_type)
    error_index = np.where(s.status == 1, rng.integers(0, len(_ERRORS), n), len(_ERRORS) + 1)
    error_index = np.where((s.status == 1) & cmk, len(_ERRORS), error_index)
    identity_ids = [None if i in (None, REDACTED) else user_id(i) for i in QUERY_IDENTITIES]
    ids = rng.integers(0, np.iinfo(np.uint64).max, size=(n, 2), dtype=np.uint64, endpoint=True)
    statement_ids = _uuid_chars(ids[:, 0], ids[:, 1])
    cached = s.kind == _CACHED
    origin = np.roll(statement_ids, 1, axis=0)
    values: dict[str, object] = {
        "account_id": _const(ACCOUNT_ID, n),
        "workspace_id": _pick(_workspace_ids(streams), s.stream),
        "statement_id": _strings(statement_ids),
        "executed_by": _pick(QUERY_IDENTITIES, s.identity),
        "execution_status": _pick(EXECUTION_STATUSES, s.status),
        "executed_by_user_id": _pick(identity_ids, s.identity),
        "statement_text": _pick([*texts, ""], text_index),
        "statement_type": _pick(STATEMENT_TYPES, s.statement_type),
        "error_message": _pick([*_ERRORS, "", None], error_index),
        "client_application": _pick(CLIENT_APPLICATIONS, s.client),
        "client_driver": _pick(_CLIENT_DRIVERS, s.client),
        "total_duration_ms": total,
        "waiting_for_compute_duration_ms": _nullable(waited, s.wait_for_compute >= 0),
        "waiting_at_capacity_duration_ms": queued,
        "execution_duration_ms": executing,
        "compilation_duration_ms": compiling,
        "total_task_duration_ms": _nullable(task, task_known),
        "result_fetch_duration_ms": fetch,
        "start_time": _times(s.start),
        "end_time": _times(s.end),
        "update_time": _times(s.end + fetch * _MS),
        "read_partitions": np.where(reads, rng.integers(1, 64, n), 0),
        "pruned_files": pruned,
        "read_files": read_files,
        "read_rows": read_rows,
        "produced_rows": produced,
        "read_bytes": read_bytes,
        "read_io_cache_percent": np.where(reads, rng.integers(0, 101, n), 0).astype(np.int8),
        "from_result_cache": cached,
        "spilled_local_bytes": np.where(reads & (rng.random(n) < 0.02), read_bytes // 3, 0),
        "written_bytes": np.where(writes, read_bytes // 4, 0),
        "shuffle_read_bytes": np.where(reads, read_bytes // 10, 0),
        "executed_as_user_id": _pick(identity_ids, s.executed_as),
        "executed_as": _pick(QUERY_IDENTITIES, s.executed_as),
        "written_rows": written_rows,
        "written_files": np.where(writes, np.maximum(written_rows // 1_000_000, 1), 0),
        "cache_origin_statement_id": _strings(origin, cached & (np.arange(n) > 0)),
        "query_tags": _query_tags(s.tags),
        "pruned_files_bytes": pruned * (32 << 20),
        "read_files_bytes": read_files * (64 << 20),
    }
    return _table(schemas.QUERY_HISTORY, n, {**values, **extra})


def _row_identities(streams: list[Stream], stream: np.ndarray, rng: Generator) -> np.ndarray:
    """Each warehouse statement's `executed_by`, drawn from the warehouse's users."""
    weights = np.zeros((len(streams), len(QUERY_IDENTITIES)))
    for i, s in enumerate(streams):
        cfg = WAREHOUSES.get(s.workload.metadata.get("warehouse_id", ""))
        for identity, weight in cfg.identities if cfg else ():
            weights[i, _IDENTITY_INDEX[identity]] = weight
    weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    return _categorical(rng, weights[stream])


def _dashboard_owners(streams: list[Stream]) -> np.ndarray:
    """Per stream, whose privileges a warehouse's dashboards run with (`executed_as` differs from `executed_by`)."""
    owners = [WAREHOUSES.get(s.workload.metadata.get("warehouse_id", "")) for s in streams]
    return np.array([_IDENTITY_INDEX[o.dashboard_owner if o else None] for o in owners])


def _clients(rng: Generator, identity: np.ndarray) -> np.ndarray:
    services = np.isin(identity, [_IDENTITY_INDEX[SP_FINANCE], _IDENTITY_INDEX[SP_PLATFORM]])
    probabilities = np.where(services[:, None], _SERVICE_CLIENT_P, _USER_CLIENT_P)
    return np.where(identity == _IDENTITY_INDEX[SP_DATA_ENG], _DBT, _categorical(rng, probabilities))


def warehouse_statement_tables(
    streams: list[Stream], plan: ActivityPlan, window: Window, hours: WarehouseHours, salt: np.uint64, rng: Generator
) -> Iterator[pa.Table]:
    """Statements on the warehouses, hour by hour, chunked: busy hours get about QUERIES_PER_RECORD statements per
    usage record, idle hours none or a few cached results and metadata statements with no task time."""
    idle = hours.idle
    count = np.where(
        idle,
        (rng.random(len(idle)) < 0.3) * rng.integers(1, 4, len(idle)),
        1 + rng.poisson(QUERIES_PER_RECORD * hours.records),
    )
    session_words = rng.integers(0, 2**63, 2, dtype=np.int64).astype(np.uint64)
    churn = _block_by_hour(streams, plan, window, JOB_CHURN_SCORING)
    cumulative = np.cumsum(count)
    cuts = np.searchsorted(cumulative, np.arange(ACTIVITY_CHUNK_ROWS, cumulative[-1], ACTIVITY_CHUNK_ROWS)) + 1
    edges = np.unique(np.concatenate(([0], cuts, [len(count)])))
    for lo, hi in itertools.pairwise(edges.tolist()):
        yield _warehouse_statements(
            streams, window, hours, np.arange(lo, hi), count[lo:hi], churn, salt, session_words, rng
        )


def _block_by_hour(streams: list[Stream], plan: ActivityPlan, window: Window, job_id: str) -> np.ndarray:
    """The usage block of a job's stream in each hour of the window (-1 when the job is not running)."""
    (index,) = [i for i, s in enumerate(streams) if not s.launch and s.workload.metadata.get("job_id") == job_id]
    blocks = np.full(window.hours + 1, -1, dtype=np.int64)
    mine = plan.stream == index
    blocks[plan.hour[mine]] = plan.block[mine]
    return blocks


def _warehouse_statements(
    streams: list[Stream],
    window: Window,
    hours: WarehouseHours,
    slots: np.ndarray,
    count: np.ndarray,
    churn_block: np.ndarray,
    salt: np.uint64,
    session_words: np.ndarray,
    rng: Generator,
) -> pa.Table:
    slot = np.repeat(slots, count)
    n = len(slot)
    rank = np.arange(n) - np.repeat(np.cumsum(count) - count, count)
    stream, idle = hours.stream[slot], hours.idle[slot]
    identity = _row_identities(streams, stream, rng)
    client = np.where(idle, rng.choice((_EDITOR, _DASHBOARDS), n), _clients(rng, identity))
    kind = _statement_kinds(rng, client, idle)
    lo, hi, open_until, running = hours.lo[slot], hours.hi[slot], hours.open_until[slot], hours.running_at[slot]
    span = np.where(idle, 60 * _S, hi - lo - _S)
    start = lo + (rng.random(n) * span).astype(np.int64) // _MS * _MS
    start = np.where(hours.block_start[slot] & (rank == 0), lo, start)  # the statement that woke the warehouse
    # A statement received before the warehouse was RUNNING waited for compute, then ran.
    end = np.minimum(
        np.maximum(start, running) + _durations_ms(rng, kind) * _MS, np.where(idle, start + _H, open_until)
    )
    boundary = (start // _H + 1) * _H
    on_the_hour = ~idle & (rng.random(n) < 0.01) & (boundary <= open_until)
    end = np.where(on_the_hour, boundary, end)
    owner = _dashboard_owners(streams)[stream]
    executed_as = np.where(client == _DASHBOARDS, owner, identity)
    tags = np.select(
        [client == _DBT, identity == _IDENTITY_INDEX[SP_FINANCE], (client == _EDITOR) & (rng.random(n) < 0.05)],
        [1 + (rng.random(n) < 0.4), np.full(n, 3), np.full(n, 4)],
        0,
    )
    statements = _Statements(
        stream,
        identity,
        executed_as,
        client,
        kind,
        start,
        end,
        np.maximum(running - start, 0) // _MS,
        _statement_types(rng, kind),
        _statuses(rng, kind),
        tags,
    )
    warehouse_ids = [s.workload.metadata.get("warehouse_id") for s in streams]
    # A dbt statement during a run of the churn job is one of its SQL tasks: query_source.job_info names the run.
    absolute_hour = start // _H - _epoch_day(window.start_date) * 24
    in_window = (absolute_hour >= 0) & (absolute_hour < len(churn_block))
    block = np.where(in_window, churn_block[np.clip(absolute_hour, 0, len(churn_block) - 1)], -1)
    churn_ws = np.array([s.workload.workspace == WS_PROD for s in streams])[stream]
    in_job = (client == _DBT) & (block >= 0) & churn_ws
    run_key = (np.maximum(block, 0).astype(np.uint64) << np.uint64(32)) ^ salt
    task_run = 10**14 + _mix64(run_key ^ _SALT_TASK ^ start.astype(np.uint64)) % (9 * 10**14)
    day = (start // (24 * _H)).astype(np.uint64)
    session = (stream.astype(np.uint64) << np.uint64(40)) | (day << np.uint64(8)) | identity.astype(np.uint64)
    dashboards = [_hex_id(f"dashboard:{w}:{j}") for w in warehouse_ids for j in range(2)]
    queries = [_hex_id(f"query:{w}:{j}", 36) for w in warehouse_ids for j in range(3)]
    alert = client == _ALERTS
    editor_query = (client == _EDITOR) & (rng.random(n) < 0.5)
    query_index = np.where(alert, 3 * stream + 2, 3 * stream + rng.integers(0, 2, n))
    extra = {
        "session_id": _strings(_uuid_chars(_mix64(session ^ session_words[0]), _mix64(session ^ session_words[1]))),
        "compute": _Struct({"type": _const("WAREHOUSE", n), "warehouse_id": _pick(warehouse_ids, stream)}),
        "query_source": _Struct(
            {
                "job_info": _Struct(
                    {
                        "job_id": _strings(_chars([JOB_CHURN_SCORING])[np.zeros(n, int)], in_job),
                        "job_run_id": _strings(_digit_chars(job_run_number(run_key), 15), in_job),
                        "job_task_run_id": _strings(_digit_chars(task_run, 15), in_job),
                    }
                ),
                "dashboard_id": _pick(
                    [*dashboards, None],
                    np.where(client == _DASHBOARDS, 2 * stream + rng.integers(0, 2, n), len(dashboards)),
                ),
                "alert_id": _pick(
                    [*(_hex_id(f"alert:{w}", 36) for w in warehouse_ids), None],
                    np.where(alert, stream, len(warehouse_ids)),
                ),
                "sql_query_id": _pick([*queries, None], np.where(alert | editor_query, query_index, len(queries))),
                "genie_space_id": _pick(
                    [*(_hex_id(f"genie:{w}") for w in warehouse_ids), None],
                    np.where(client == _GENIE, stream, len(warehouse_ids)),
                ),
            }
        ),
    }
    return _statement_table(rng, statements, streams, extra)


def notebook_statement_table(streams: list[Stream], plan: ActivityPlan, window: Window, rng: Generator) -> pa.Table:
    """Statements of serverless notebooks: SERVERLESS_COMPUTE, no warehouse, NULL waiting_for_compute."""
    wanted = np.array([not s.launch and s.workload.kind == "notebook" and is_regional(s.workload) for s in streams])
    groups = np.flatnonzero(wanted[plan.stream])
    count = rng.poisson(0.6 * plan.records[groups])
    group = np.repeat(groups, count)
    n = len(group)
    stream = plan.stream[group]
    start = (_epoch_day(window.start_date) * 24 + plan.hour[group]) * _H + rng.integers(0, 3_599_000, n) * _MS
    client = np.full(n, _NOTEBOOK)
    kind = _statement_kinds(rng, client)
    identity = np.array([_IDENTITY_INDEX.get(s.workload.identity.get("run_as"), 0) for s in streams])[stream]
    statements = _Statements(
        stream,
        identity,
        identity,
        client,
        kind,
        start,
        start + np.maximum(_durations_ms(rng, kind), 1) * _MS,
        np.full(n, -1),
        _statement_types(rng, kind),
        _statuses(rng, kind),
        np.full(n, 5),
    )
    notebook_ids = [s.workload.metadata.get("notebook_id") for s in streams]
    extra = {
        "session_id": _strings(_uuid_chars(_mix64(group.astype(np.uint64)), _mix64(stream.astype(np.uint64)))),
        "compute": _Struct({"type": _const("SERVERLESS_COMPUTE", n)}),
        "query_source": _Struct({"job_info": _Struct({}), "notebook_id": _pick(notebook_ids, stream)}),
    }
    return _statement_table(rng, statements, streams, extra)


def pipeline_statement_table(
    streams: list[Stream], updates: PipelineUpdates, window: Window, rng: Generator
) -> pa.Table:
    """One statement per pipeline update (query history covers Lakeflow pipelines), on the update's compute."""
    n = len(updates.stream)
    start = updates.start + rng.integers(5_000, 60_000, n) * _MS
    end = np.maximum(updates.end - rng.integers(0, 10_000, n) * _MS, start + _S)
    client = np.full(n, _PIPELINES)
    kind = np.full(n, _ETL)
    identity = np.array([_IDENTITY_INDEX.get(s.workload.identity.get("run_as"), 0) for s in streams])[updates.stream]
    statements = _Statements(
        updates.stream,
        identity,
        identity,
        client,
        kind,
        start,
        end,
        np.full(n, -1),
        np.full(n, STATEMENT_TYPES.index("REFRESH")),
        updates.state,
        np.full(n, 5),
    )
    extra = {
        "session_id": _strings(update_id_chars(updates.salted_key ^ np.uint64(1))),
        "compute": _Struct(
            {
                "type": _pick(_COMPUTE_TYPES, np.where(updates.has_cluster, 2, 1)),
                "cluster_id": _strings(
                    run_cluster_id_chars(window, updates.block_hour, updates.salted_key), updates.has_cluster
                ),
            }
        ),
        "query_source": _Struct(
            {
                "job_info": _Struct({}),
                "pipeline_info": _Struct(
                    {
                        "pipeline_id": _pick(
                            [s.workload.metadata.get("dlt_pipeline_id") for s in streams], updates.stream
                        ),
                        "update_id": _strings(update_id_chars(updates.salted_key)),
                    }
                ),
            }
        ),
    }
    return _statement_table(rng, statements, streams, extra)
