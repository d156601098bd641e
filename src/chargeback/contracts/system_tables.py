"""Schemas of the Databricks system tables this product reads, in their physical column order.

Sources: the Databricks billing, pricing, workspaces, jobs, pipelines and served-entities system table
references and `DESCRIBE TABLE` output of a live workspace (see the README's "Source tables" section); the query,
compute and Lakeflow run tables follow ../shared/spec/query-and-compute-tables.md, whose column order comes from
two live-catalog dumps (one of them `darshanmeel/databricks-audit-app`
`app/queries/vendored/databricks_system_catalog_schema.txt`, which also gives the full `query_parameters` type).
Fields the docs do not describe are kept (NULL in synthetic data) so readers written against the real
tables compile here too.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from chargeback.contracts.system_table_names import (
    CLUSTERS_TABLE,
    JOB_RUN_TIMELINE_TABLE,
    JOBS_TABLE,
    LIST_PRICES_TABLE,
    PIPELINE_UPDATE_TIMELINE_TABLE,
    PIPELINES_TABLE,
    QUERY_HISTORY_TABLE,
    SERVED_ENTITIES_TABLE,
    USAGE_TABLE,
    WAREHOUSE_EVENTS_TABLE,
    WAREHOUSES_TABLE,
    WORKSPACES_TABLE,
)

S = StringType()
TS = TimestampType()
BOOL = BooleanType()
INT = IntegerType()
BIGINT = LongType()
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
    *_strings("served_entity_id", "account_id", "workspace_id", "created_by", "endpoint_name", "endpoint_id"),
    *_strings("served_entity_name", "entity_type", "entity_name", "entity_version"),
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


# --- system.query.history (44 columns) ----------------------------------------------------------------------

_TYPE_INFO = _struct(*_strings("type_name", "type_ddl", "redacted_type_ddl"))
_IDS = ArrayType(BIGINT, True)
_NAME_PARTS = _struct(("name_parts", ArrayType(S, True)))
# One node of a parameter's expression tree; nodes refer to each other by `id` (the live type is flat, not nested).
_QUERY_EXPRESSION = _struct(
    ("tag", S),
    ("data_type", _TYPE_INFO),
    (
        "literal",
        _struct(
            ("data_type", _TYPE_INFO),
            ("int_value", INT),
            ("long_value", BIGINT),
            ("double_value", DoubleType()),
            ("float_value", FloatType()),
            ("byte_value", INT),
            ("short_value", INT),
            ("string_value", S),
            ("boolean_value", BOOL),
            ("decimal_value", _struct(("value", S), ("precision", INT), ("scale", INT))),
            ("binary_value", BinaryType()),
            ("timestamp_value", BIGINT),
            ("timestamp_ntz_value", BIGINT),
            ("date_value", BIGINT),
            ("calendar_interval_value", _struct(("months", INT), ("days", INT), ("microseconds", BIGINT))),
            ("day_time_interval_value", BIGINT),
            ("year_month_interval_value", INT),
        ),
    ),
    ("seq_expression", _struct(("children", _IDS))),
    ("function", _struct(("function_name", S), ("arguments", _IDS))),
    ("alias", _struct(("expr", BIGINT), ("name", ArrayType(S, True)), ("metadata", S))),
    ("sort_order", _struct(("child", BIGINT), ("direction", S), ("null_ordering", S))),
    ("lambda_function", _struct(("function", BIGINT), ("arguments", ArrayType(_NAME_PARTS, True)))),
    ("window", _struct(("window_function", BIGINT), ("partition_spec", _IDS), ("order_spec", _IDS))),
    ("unresolved_extract_value", _struct(("child", BIGINT), ("extraction", BIGINT))),
    ("update_fields", _struct(("struct_expression", BIGINT), ("field_name", S), ("value_expression", BIGINT))),
    ("unresolved_named_lambda_variable", _NAME_PARTS),
    ("named_argument_expression", _struct(("key", S), ("value", BIGINT))),
    ("id", BIGINT),
)
_QUERY_PARAMETER = _struct(("exprs", ArrayType(_QUERY_EXPRESSION, True)))

QUERY_HISTORY = _struct(
    *_strings("account_id", "workspace_id", "statement_id", "executed_by", "session_id", "execution_status"),
    ("compute", _struct(*_strings("type", "cluster_id", "warehouse_id"))),
    *_strings(
        "executed_by_user_id",
        "statement_text",
        "statement_type",
        "error_message",
        "client_application",
        "client_driver",
    ),
    *(
        (name, BIGINT)
        for name in (
            "total_duration_ms",
            "waiting_for_compute_duration_ms",
            "waiting_at_capacity_duration_ms",
            "execution_duration_ms",
            "compilation_duration_ms",
            "total_task_duration_ms",
            "result_fetch_duration_ms",
        )
    ),
    ("start_time", TS),
    ("end_time", TS),
    ("update_time", TS),
    *((name, BIGINT) for name in ("read_partitions", "pruned_files", "read_files", "read_rows", "produced_rows")),
    ("read_bytes", BIGINT),
    ("read_io_cache_percent", ByteType()),
    ("from_result_cache", BOOL),
    *((name, BIGINT) for name in ("spilled_local_bytes", "written_bytes", "shuffle_read_bytes")),
    (
        "query_source",
        _struct(
            ("job_info", _struct(*_strings("job_id", "job_run_id", "job_task_run_id"))),
            *_strings(
                "legacy_dashboard_id", "dashboard_id", "alert_id", "notebook_id", "sql_query_id", "genie_space_id"
            ),
            ("pipeline_info", _struct(*_strings("pipeline_id", "update_id"))),
        ),
    ),
    *_strings("executed_as_user_id", "executed_as"),
    ("written_rows", BIGINT),
    ("written_files", BIGINT),
    ("cache_origin_statement_id", S),
    (
        "query_parameters",
        _struct(
            ("named_parameters", MapType(S, _QUERY_PARAMETER, True)),
            ("pos_parameters", ArrayType(_QUERY_PARAMETER, True)),
            ("truncated", BOOL),
        ),
    ),
    ("query_tags", TAGS),
    ("pruned_files_bytes", BIGINT),
    ("read_files_bytes", BIGINT),
)

# --- system.compute -----------------------------------------------------------------------------------------

WAREHOUSES = _struct(
    *_strings("warehouse_id", "workspace_id", "account_id", "warehouse_name"),
    *_strings("warehouse_type", "warehouse_channel", "warehouse_size"),
    ("min_clusters", INT),
    ("max_clusters", INT),
    ("auto_stop_minutes", INT),
    ("tags", TAGS),
    ("change_time", TS),
    ("delete_time", TS),
    ("created_by", S),
)

WAREHOUSE_EVENTS = _struct(
    *_strings("account_id", "workspace_id", "warehouse_id", "event_type"),
    ("cluster_count", INT),
    ("event_time", TS),
)

CLUSTERS = _struct(
    *_strings("account_id", "workspace_id", "cluster_id", "cluster_name", "owned_by"),
    ("create_time", TS),
    ("delete_time", TS),
    *_strings("driver_node_type", "worker_node_type"),
    *((name, BIGINT) for name in ("worker_count", "min_autoscale_workers", "max_autoscale_workers")),
    ("auto_termination_minutes", BIGINT),
    ("enable_elastic_disk", BOOL),
    ("tags", TAGS),
    ("cluster_source", S),
    ("init_scripts", ArrayType(S, True)),
    (
        "aws_attributes",
        _struct(
            ("first_on_demand", BIGINT),
            *_strings("availability", "zone_id", "instance_profile_arn"),
            ("spot_bid_price_percent", BIGINT),
            ("ebs_volume_type", S),
            *((name, BIGINT) for name in ("ebs_volume_count", "ebs_volume_size", "ebs_volume_iops")),
            ("ebs_volume_throughput", BIGINT),
        ),
    ),
    (
        "azure_attributes",
        _struct(("first_on_demand", BIGINT), ("availability", S), ("spot_bid_max_price", DoubleType())),
    ),
    (
        "gcp_attributes",
        _struct(
            ("use_preemptible_executors", BOOL),
            ("google_service_account", S),
            ("boot_disk_size", BIGINT),
            *_strings("availability", "zone_id"),
            ("local_ssd_count", BIGINT),
        ),
    ),
    *_strings("driver_instance_pool_id", "worker_instance_pool_id", "dbr_version"),
    ("change_time", TS),
    ("change_date", DateType()),
    *_strings("data_security_mode", "policy_id"),
)

# --- system.lakeflow run timelines ---------------------------------------------------------------------------

_COMPUTE_REF = _struct(*_strings("type", "cluster_id", "warehouse_id"))

JOB_RUN_TIMELINE = _struct(
    *_strings("account_id", "workspace_id", "job_id", "run_id"),
    ("period_start_time", TS),
    ("period_end_time", TS),
    *_strings("trigger_type", "result_state", "run_type", "run_name"),
    ("compute_ids", ArrayType(S, True)),
    ("termination_code", S),
    ("job_parameters", MapType(S, TAGS, True)),
    *_strings("source_task_run_id", "root_task_run_id"),
    ("compute", ArrayType(_COMPUTE_REF, True)),
    ("termination_type", S),
    *(
        (name, BIGINT)
        for name in (
            "setup_duration_seconds",
            "queue_duration_seconds",
            "run_duration_seconds",
            "cleanup_duration_seconds",
            "execution_duration_seconds",
        )
    ),
)

_TABLE_REFS = ArrayType(_struct(*_strings("table_catalog", "table_schema", "table_name")), True)

PIPELINE_UPDATE_TIMELINE = _struct(
    *_strings("workspace_id", "pipeline_id", "update_id", "update_type", "request_id", "run_as_user_name"),
    ("trigger_type", S),
    ("trigger_details", _struct(("job_task", _struct(*_strings("job_id", "job_task_run_id", "performance_target"))))),
    ("result_state", S),
    ("compute", _struct(*_strings("type", "cluster_id"))),
    ("period_start_time", TS),
    ("period_end_time", TS),
    ("refresh_selection", _TABLE_REFS),
    ("full_refresh_selection", _TABLE_REFS),
    ("reset_checkpoint_selection", ArrayType(S, True)),
    ("account_id", S),
)


SYSTEM_TABLES: dict[str, StructType] = {
    str(USAGE_TABLE): USAGE,
    str(LIST_PRICES_TABLE): LIST_PRICES,
    str(WORKSPACES_TABLE): WORKSPACES_LATEST,
    str(JOBS_TABLE): JOBS,
    str(PIPELINES_TABLE): PIPELINES,
    str(SERVED_ENTITIES_TABLE): SERVED_ENTITIES,
    str(QUERY_HISTORY_TABLE): QUERY_HISTORY,
    str(WAREHOUSES_TABLE): WAREHOUSES,
    str(WAREHOUSE_EVENTS_TABLE): WAREHOUSE_EVENTS,
    str(CLUSTERS_TABLE): CLUSTERS,
    str(JOB_RUN_TIMELINE_TABLE): JOB_RUN_TIMELINE,
    str(PIPELINE_UPDATE_TIMELINE_TABLE): PIPELINE_UPDATE_TIMELINE,
}
