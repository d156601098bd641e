"""Schemas of the Databricks system tables this product reads, in their physical column order.

Sources: the Databricks billing, pricing, workspaces, jobs, pipelines and served-entities system table
references and `DESCRIBE TABLE` output of a live workspace (see the README's "Source tables" section).
Fields the docs do not describe are kept (NULL in synthetic data) so readers written against the real
tables compile here too.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

S = StringType()
TS = TimestampType()
BOOL = BooleanType()
TAGS = MapType(StringType(), StringType())
# Quantities and prices in the system tables are DECIMAL(38,18).
BILLING_DECIMAL = DecimalType(38, 18)


def _struct(*fields: tuple[str, DataType]) -> StructType:
    return StructType([StructField(name, dtype, True) for name, dtype in fields])


def _strings(*names: str) -> list[tuple[str, DataType]]:
    return [(name, S) for name in names]


USAGE_METADATA = _struct(
    *_strings(
        "cluster_id",
        "job_id",
        "warehouse_id",
        "instance_pool_id",
        "node_type",
        "job_run_id",
        "notebook_id",
        "dlt_pipeline_id",
        "endpoint_name",
        "endpoint_id",
        "dlt_update_id",
        "dlt_maintenance_id",
        "run_name",
        "job_name",
        "notebook_path",
        "central_clean_room_id",
        "source_region",
        "destination_region",
        "app_id",
        "app_name",
        "metastore_id",
        "private_endpoint_name",
        "storage_api_type",
        "budget_policy_id",
        "ai_runtime_pool_id",
        "ai_runtime_workload_id",
        "uc_table_catalog",
        "uc_table_schema",
        "uc_table_name",
        "database_instance_id",
        "sharing_materialization_id",
        "schema_id",
        "usage_policy_id",
        "base_environment_id",
        "agent_bricks_id",
        "index_id",
        "catalog_id",
        "project_id",
        "branch_id",
        "table_id",
        "supervisor_agent_id",
        "networking_client",
        "associated_product",
        "recipient_id",
        "interactive_source",
        "snapshot_id",
    ),
    ("ai_gateway", _struct(*_strings("endpoint_name", "endpoint_id", "destination_id", "destination_model"))),
    ("genie", _struct(*_strings("surface", "channel", "agent_id"))),
    *_strings("data_source", "operation", "serverless_compute_id", "entity_full_name", "failover_group_name"),
)

IDENTITY_METADATA = _struct(*_strings("run_as", "created_by", "owned_by", "run_by"))

PRODUCT_FEATURES = _struct(
    *_strings("jobs_tier", "sql_tier", "dlt_tier"),
    ("is_serverless", BOOL),
    ("is_photon", BOOL),
    ("serving_type", S),
    ("networking", _struct(("connectivity_type", S))),
    ("ai_runtime", _struct(("compute_type", S))),
    ("model_serving", _struct(("offering_type", S))),
    ("ai_gateway", _struct(("feature_type", S))),
    ("performance_target", S),
    ("serverless_gpu", _struct(("workload_type", S))),
    ("agent_bricks", _struct(("problem_type", S), ("workload_type", S))),
    ("ai_functions", _struct(("ai_function", S))),
    ("apps", _struct(("compute_size", S))),
    ("lakeflow_connect", _struct(("task_type", S), ("zerobus_request_type", S))),
    ("lakebase", _struct(("storage_type", S), ("compute_type", S))),
    ("ai_bi_genie", _struct(("capability_type", S), ("offering_type", S))),
    ("genie", _struct(("offering_type", S))),
)

USAGE = _struct(
    ("account_id", S),
    ("workspace_id", S),
    ("record_id", S),
    ("sku_name", S),
    ("cloud", S),
    ("usage_start_time", TS),
    ("usage_end_time", TS),
    ("usage_date", DateType()),
    ("custom_tags", TAGS),
    ("usage_unit", S),
    ("usage_quantity", BILLING_DECIMAL),
    ("usage_metadata", USAGE_METADATA),
    ("identity_metadata", IDENTITY_METADATA),
    ("record_type", S),
    ("ingestion_date", DateType()),
    ("billing_origin_product", S),
    ("product_features", PRODUCT_FEATURES),
    ("usage_type", S),
)

LIST_PRICES = _struct(
    ("account_id", S),
    ("price_start_time", TS),
    ("price_end_time", TS),
    ("sku_name", S),
    ("cloud", S),
    ("currency_code", S),
    ("usage_unit", S),
    (
        "pricing",
        _struct(
            ("default", BILLING_DECIMAL),
            ("promotional", _struct(("default", BILLING_DECIMAL))),
            ("effective_list", _struct(("default", BILLING_DECIMAL))),
        ),
    ),
)

WORKSPACES_LATEST = _struct(
    *_strings("account_id", "workspace_id", "workspace_name", "workspace_url"),
    ("create_time", TS),
    ("status", S),
)

JOBS = _struct(
    *_strings("account_id", "workspace_id", "job_id", "name", "creator_id"),
    ("tags", TAGS),
    ("run_as", S),
    ("change_time", TS),
    ("delete_time", TS),
    ("description", S),
    (
        "trigger",
        _struct(
            (
                "file_arrival",
                _struct(
                    ("url", S),
                    ("min_time_between_triggers_seconds", IntegerType()),
                    ("wait_after_last_change_seconds", IntegerType()),
                ),
            ),
            ("periodic", _struct(("interval", IntegerType()), ("units", S))),
            ("continuous", _struct(("enabled", BOOL))),
            (
                "table_update",
                _struct(
                    ("table_names", ArrayType(S, True)),
                    ("min_time_between_triggers_seconds", LongType()),
                    ("wait_after_last_change_seconds", LongType()),
                    ("condition", S),
                ),
            ),
            ("schedule", _struct(("quartz_cron_expression", S), ("timezone_id", S))),
        ),
    ),
    *_strings("trigger_type", "run_as_user_name", "creator_user_name"),
    ("paused", BOOL),
    ("timeout_seconds", LongType()),
    ("health_rules", ArrayType(_struct(("metric", S), ("operator", S), ("value", LongType())), True)),
    ("deployment", _struct(("kind", S), ("metadata_file_path", S))),
    ("create_time", TS),
)

# The pipelines table is in Public Preview and its column list is only partly documented: the columns below
# are those public queries use plus `tags` and `configuration`. Readers tolerate missing optional columns.
PIPELINES = _struct(
    *_strings("account_id", "workspace_id", "pipeline_id", "pipeline_type", "name", "created_by", "run_as"),
    ("tags", TAGS),
    (
        "settings",
        _struct(
            ("photon", BOOL),
            ("development", BOOL),
            ("continuous", BOOL),
            ("serverless", BOOL),
            ("edition", S),
            ("channel", S),
        ),
    ),
    ("configuration", TAGS),
    ("change_time", TS),
    ("delete_time", TS),
)

SERVED_ENTITIES = _struct(
    *_strings(
        "served_entity_id",
        "account_id",
        "workspace_id",
        "created_by",
        "endpoint_name",
        "endpoint_id",
        "served_entity_name",
        "entity_type",
        "entity_name",
        "entity_version",
    ),
    ("endpoint_config_version", IntegerType()),
    ("task", S),
    ("external_model_config", _struct(("provider", S))),
    (
        "foundation_model_config",
        _struct(("min_provisioned_throughput", LongType()), ("max_provisioned_throughput", LongType())),
    ),
    (
        "custom_model_config",
        _struct(("min_concurrency", IntegerType()), ("max_concurrency", IntegerType()), ("compute_type", S)),
    ),
    (
        "feature_spec_config",
        _struct(("min_concurrency", IntegerType()), ("max_concurrency", IntegerType()), ("compute_type", S)),
    ),
    ("change_time", TS),
    ("endpoint_delete_time", TS),
)

# Three-part name -> schema of every system table the generator writes and the pipeline may read.
SYSTEM_TABLES: dict[str, StructType] = {
    "system.billing.usage": USAGE,
    "system.billing.list_prices": LIST_PRICES,
    "system.access.workspaces_latest": WORKSPACES_LATEST,
    "system.lakeflow.jobs": JOBS,
    "system.lakeflow.pipelines": PIPELINES,
    "system.serving.served_entities": SERVED_ENTITIES,
}
