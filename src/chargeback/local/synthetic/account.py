"""The synthetic account: its workspaces, budget policies, identities and the ids of its resources.

Ids are literals so that `config/chargeback.yml` can name them; nothing here depends on dates or seeds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

ACCOUNT_ID = "4f8c2e1a-7b3d-4c9e-a5f6-0d2b8e7c1a94"


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

# Regional tables: the system tables hold the workspaces of the region they are read from, so the GCP sandbox
# and the cancelled Oregon workspace (`OTHER_REGION_WORKSPACES`) have usage but no rows in them (spec §8.13).
OTHER_REGION_WORKSPACES = (WS_SANDBOX, WS_CANCELLED)
# Workspaces with customer-managed keys: statement_text and error_message are empty (spec §2).
CMK_WORKSPACES = (WS_FINANCE,)

# Seen only in the activity tables (query history, clusters, warehouses), never on usage.
REDACTED = "__REDACTED__"  # an executed_by the reader may not see
USER_CAROL = "carol.white@acme.example"  # owns the dev cluster named after her
WH_RETIRED = "e7a9c1d3f5b7a9c1"  # deleted before the window: a row in compute.warehouses, no usage
