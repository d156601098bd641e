"""The cost tables: silver `usage_costs`, gold `cost_daily`, `chargeback_monthly`, `serving_costs_daily`,
`tag_coverage_daily`, `policy_coverage_daily`, `compute_consumption_hourly`, `job_run_costs`,
`pipeline_update_costs`, and the `reconciliation_runs` log. Grain, primary key and a comment on every column.
"""

from __future__ import annotations

from chargeback.contracts.table_spec import Column, TableSpec
from chargeback.money import MONEY, RATIO

# Task time of a statement in milliseconds, to the microsecond.
TASK_MS = "decimal(38,3)"

COST_GRAIN = (
    "usage_date",
    "business_unit",
    "workspace_id",
    "billing_origin_product",
    "sku_name",
    "workload_type",
    "workload_id",
    "cost_kind",
    "pool_id",
    "currency_code",
)


_EFFECTIVE_COST = Column("effective_cost", MONEY, "Cost after discounts, in currency_code.")

_LIST_COST = Column("list_cost", MONEY, "Cost at list price (pricing.effective_list), in currency_code.")

_CURRENCY = Column("currency_code", "string", "Chargeback currency (ISO 4217).")

_RUN_ID = Column("run_id", "string", "Id of the pipeline run that wrote the row.")

_USAGE_DATE = Column("usage_date", "date", "UTC date of the usage.")

_WORKSPACE_ID = Column("workspace_id", "string", "Databricks workspace id.")
_WORKSPACE_NAME = Column(
    "workspace_name", "string", "Workspace name from system.access.workspaces_latest, else its id."
)

_PRODUCT = Column(
    "billing_origin_product", "string", "Product that originated the usage (JOBS, SQL, MODEL_SERVING, ...)."
)

_BUSINESS_UNIT = Column("business_unit", "string", "Business unit charged; UNALLOCATED when no rule assigned it.")

USAGE_COSTS = TableSpec(
    table="usage_costs",
    grain="Silver: one row per netted usage line (all record types summed) with price, workload and owner.",
    primary_key=("usage_line_id",),
    partition_by=("usage_date",),
    columns=(
        Column("usage_line_id", "string", "Hash of the usage line's key columns."),
        _USAGE_DATE,
        Column("account_id", "string", "Databricks account id."),
        _WORKSPACE_ID,
        _WORKSPACE_NAME,
        Column("cloud", "string", "AWS, AZURE or GCP."),
        Column("sku_name", "string", "Billing SKU."),
        _PRODUCT,
        Column("usage_type", "string", "COMPUTE_TIME, STORAGE_SPACE, TOKEN, ..."),
        Column("usage_unit", "string", "Unit of usage_quantity (DBU, DSU, ...)."),
        Column("usage_start_time", "timestamp", "UTC start of the usage window."),
        Column(
            "usage_end_time", "timestamp", "UTC end of the usage window; the price in force at this instant applies."
        ),
        Column(
            "usage_quantity", "decimal(38,18)", "Quantity netted over ORIGINAL, RETRACTION and RESTATEMENT records."
        ),
        Column("source_record_count", "int", "Source records netted into this line."),
        Column("has_correction", "boolean", "True when a RETRACTION or RESTATEMENT contributed."),
        Column("last_ingestion_date", "date", "Latest ingestion_date among the netted records."),
        Column("is_serverless", "boolean", "product_features.is_serverless (NULL when the product has no choice)."),
        Column("tags_json", "string", "custom_tags as JSON entries sorted by key."),
        Column("policy_id", "string", "Serverless usage/budget policy id (usage_policy_id, else budget_policy_id)."),
        Column("owner_identity", "string", "run_as, else owned_by, else created_by."),
        Column(
            "workload_type", "string", "job, pipeline, warehouse, serving_endpoint, app, notebook, cluster, platform..."
        ),
        Column("workload_id", "string", "Id of the workload (the product for platform usage)."),
        Column("workload_name", "string", "Latest known name of the workload, else its id."),
        Column(
            "warehouse_id", "string", "SQL warehouse that billed the line (usage_metadata.warehouse_id), else NULL."
        ),
        Column("job_run_id", "string", "Job run that billed the line (usage_metadata.job_run_id), else NULL."),
        Column(
            "dlt_update_id", "string", "Pipeline update that billed the line (usage_metadata.dlt_update_id), else NULL."
        ),
        Column(
            "is_priced", "boolean", "False when the line has no list price (cost is then 0, reason in unpriced_reason)."
        ),
        Column("unit_price", "decimal(38,18)", "List price per unit used (effective_list, else default)."),
        Column("discount_percent", "decimal(9,4)", "Discount applied, in percent."),
        _LIST_COST,
        _EFFECTIVE_COST,
        _CURRENCY,
        _BUSINESS_UNIT,
        Column(
            "attribution_method",
            "string",
            "Rule that assigned the unit: tag, budget_policy, workload, pipeline_tag, "
            "identity, workspace or unallocated.",
        ),
        Column("attribution_confidence", "string", "high, medium, low or none."),
        Column("attribution_key", "string", "What matched (tag key=value, policy id, workload, identity, workspace)."),
        Column("pool_id", "string", "Shared-cost pool that claimed the line; NULL for direct cost."),
        _RUN_ID,
        Column("unpriced_reason", "string", "Why an unpriced line has no price ('no list price'); NULL when priced."),
        Column(
            "pipeline_tags_json",
            "string",
            "Tags of the line's pipeline (its latest system.lakeflow.pipelines row) when the line was attributed, as "
            "sorted JSON entries ('[]' when none): a pipeline re-tagged since has its days attributed again.",
        ),
    ),
)

COST_DAILY = TableSpec(
    table="cost_daily",
    grain="Gold: allocated cost per day x business unit x workspace x product x SKU x workload x cost kind "
    "(direct, shared, or correction of a closed month's day).",
    primary_key=(*COST_GRAIN, "original_usage_date"),
    partition_by=("usage_date",),
    columns=(
        _USAGE_DATE,
        Column("billing_month", "date", "First day of the month the cost is billed in."),
        _BUSINESS_UNIT,
        _WORKSPACE_ID,
        _PRODUCT,
        Column("sku_name", "string", "Billing SKU."),
        Column(
            "workload_type",
            "string",
            "Workload type; shared_pool for shared cost split by a rule, warehouse for a warehouse split by "
            "consumption.",
        ),
        Column(
            "workload_id", "string", "Workload id; the pool id (or the warehouse id, by consumption) for shared cost."
        ),
        Column("workload_name", "string", "Workload name."),
        Column("cost_kind", "string", "direct, shared or correction."),
        Column("pool_id", "string", "Shared-cost pool for shared rows, else NULL."),
        Column("original_usage_date", "date", "For corrections: the closed day corrected; else NULL."),
        _LIST_COST,
        _EFFECTIVE_COST,
        _CURRENCY,
        _RUN_ID,
    ),
)

CHARGEBACK_MONTHLY = TableSpec(
    table="chargeback_monthly",
    grain="Gold: the monthly chargeback statement, one row per month x business unit.",
    primary_key=("billing_month", "business_unit"),
    partition_by=("billing_month",),
    columns=(
        Column("billing_month", "date", "First day of the billing month."),
        _BUSINESS_UNIT,
        Column("business_unit_name", "string", "Display name of the unit."),
        Column("parent_business_unit", "string", "Parent unit in the hierarchy, if any."),
        Column("cost_center", "string", "Cost center of the unit, if any."),
        Column("direct_cost", MONEY, "Effective cost attributed directly."),
        Column("shared_cost", MONEY, "Effective cost allocated from shared pools."),
        Column("correction_cost", MONEY, "Corrections of closed months booked in this month."),
        _LIST_COST,
        _EFFECTIVE_COST,
        Column("share_of_total", "decimal(13,12)", "effective_cost / the month's total effective cost."),
        _CURRENCY,
        Column("statement_status", "string", "open or closed; closed statements never change."),
        _RUN_ID,
    ),
)

SERVING_COSTS_DAILY = TableSpec(
    table="serving_costs_daily",
    grain="Gold: model serving cost per day x workspace x endpoint x business unit, launch vs inference.",
    primary_key=("usage_date", "workspace_id", "endpoint_name", "business_unit"),
    partition_by=("usage_date",),
    columns=(
        _USAGE_DATE,
        _WORKSPACE_ID,
        Column("endpoint_id", "string", "Serving endpoint id."),
        Column("endpoint_name", "string", "Serving endpoint name (its id when unknown)."),
        _BUSINESS_UNIT,
        Column("launch_cost", MONEY, "Cost of scale-from-zero launches (..._REAL_TIME_INFERENCE_LAUNCH_... SKUs)."),
        Column("inference_cost", MONEY, "Cost of everything else on the endpoint."),
        _EFFECTIVE_COST,
        Column("usage_quantity_dbu", "decimal(38,18)", "DBUs consumed."),
        _CURRENCY,
        _RUN_ID,
    ),
)

TAG_COVERAGE_DAILY = TableSpec(
    table="tag_coverage_daily",
    grain="Gold: tag hygiene per day x workspace x product.",
    primary_key=("usage_date", "workspace_id", "billing_origin_product"),
    partition_by=("usage_date",),
    columns=(
        _USAGE_DATE,
        _WORKSPACE_ID,
        _PRODUCT,
        Column("total_cost", MONEY, "Effective cost of all usage."),
        Column("tagged_cost", MONEY, "Cost attributed by a business-unit tag on the usage itself."),
        Column("allocated_cost", MONEY, "Cost attributed to a unit by any rule."),
        Column("unallocated_cost", MONEY, "Cost no rule attributed (before shared-cost pools)."),
        Column("tag_coverage_ratio", "decimal(13,12)", "tagged_cost / total_cost."),
        _CURRENCY,
        _RUN_ID,
    ),
)

RECONCILIATION_RUNS = TableSpec(
    table="reconciliation_runs",
    grain="Gold: one row per pipeline run: billed versus allocated cost over the run's window.",
    primary_key=("run_id",),
    columns=(
        Column("run_id", "string", "Id of the run."),
        Column("run_at", "timestamp", "UTC time the run started."),
        Column("window_start_date", "date", "First usage date processed."),
        Column("window_end_date", "date", "Last usage date processed."),
        Column("billed_cost", MONEY, "Priced usage in the window (effective cost)."),
        Column("allocated_cost", MONEY, "Cost on gold rows for the window, including closed-month bookings."),
        Column("difference", MONEY, "billed_cost - allocated_cost."),
        Column("is_balanced", "boolean", "abs(difference) <= 0.01; the run also tied out with the raw usage records."),
        Column("usage_line_count", "bigint", "Netted usage lines in the window."),
        Column("unpriced_line_count", "bigint", "Lines with no list price."),
        Column("unpriced_skus", "string", "SKUs without a price, with their quantity and the reason."),
        _CURRENCY,
        Column("duration_seconds", "decimal(12,3)", "Wall time of the run."),
        Column("rows_written_json", "string", "JSON object: rows the run wrote to each table (config, silver, gold)."),
        Column("step_seconds_json", "string", "JSON object: wall time of each step in seconds."),
        Column("duplicate_record_count", "bigint", "Usage records (record_id, record_type) exported more than once."),
        Column("conflicting_record_count", "bigint", "Of those, records whose copies differ in content (latest kept)."),
        Column("duplicate_record_examples", "string", "A few record_ids of such records, comma-separated."),
        Column("run_mode", "string", "`full` (every day of the window recomputed) or `incremental` (see run_plans)."),
        Column(
            "source_watermark",
            "date",
            "Latest ingestion_date of the window's usage records when the run read them: the next run recomputes "
            "the lines of records ingested on or after it.",
        ),
        Column("recomputed_day_count", "int", "Days of the window whose usage the run recomputed."),
        Column("recorded_at", "timestamp", "UTC wall-clock time the row was recorded (orders runs with one run_at)."),
    ),
)

RUN_PLANS = TableSpec(
    table="run_plans",
    grain=(
        "Log: one row per run and usage day of its window: what the source held for the day when the run read it, "
        "and whether the run recomputed it (an incremental run recomputes only the days the source changed)."
    ),
    primary_key=("run_id", "usage_date"),
    columns=(
        Column("run_id", "string", "Id of the run."),
        Column("planned_at", "timestamp", "UTC wall-clock time the plan was logged (orders the runs)."),
        Column("usage_date", "date", "UTC date of the usage."),
        Column("run_mode", "string", "`full` or `incremental`: the run's mode (the same on all its rows)."),
        Column("source_record_count", "bigint", "Usage records of the day in the source."),
        Column("source_quantity", "decimal(38,18)", "Sum of usage_quantity of those records."),
        Column("last_ingestion_date", "date", "Latest ingestion_date among them."),
        Column(
            "source_watermark",
            "date",
            "Latest ingestion_date of the whole window (the same on all the run's rows): records ingested on or "
            "after it are new to the next run.",
        ),
        Column("is_recomputed", "boolean", "Whether the run recomputed the day's silver and gold."),
        Column(
            "recomputed_since",
            "date",
            "For a day recomputed in part: the records ingested on or after this date were added to the lines "
            "they belong to, the other lines kept; NULL when every line of the day was recomputed.",
        ),
        Column("reason", "string", "Why the day was (or was not) recomputed."),
        Column("config_fingerprint", "string", "Hash of the config, package version and sources the run used."),
        Column(
            "source_digest",
            "decimal(38,0)",
            "A copy of the usage table only (deduplicated): the sum over those records of a 64-bit hash of each "
            "one's id and content, so a record rewritten in place changes the day even when the count and quantity "
            "do not. NULL for the system table, whose records are never rewritten.",
        ),
        Column(
            "query_digest",
            "decimal(38,0)",
            "When a pool splits by consumption: the sum over the statements of its warehouses that overlap the day "
            "(system.query.history) of a 64-bit hash of each, so statements that arrive after the day was split "
            "recompute it. NULL without such a pool.",
        ),
        Column(
            "has_copies_elsewhere",
            "boolean",
            "A copy of the usage table only: the day holds a copy of a record that another day of the window holds "
            "too (re-exported onto another day); such days are recomputed together.",
        ),
    ),
)

GOLD_TABLES = (COST_DAILY, CHARGEBACK_MONTHLY, SERVING_COSTS_DAILY, TAG_COVERAGE_DAILY)


POLICY_COVERAGE_DAILY = TableSpec(
    table="policy_coverage_daily",
    grain=(
        "Gold: serverless usage a budget policy can attribute, per day x workspace x identity x policy x policy "
        "status x business unit."
    ),
    primary_key=("usage_date", "workspace_id", "owner_identity", "policy_id", "policy_status", "business_unit"),
    partition_by=("usage_date",),
    columns=(
        Column("usage_date", "date", "UTC date of the usage."),
        Column("workspace_id", "string", "Databricks workspace id."),
        _WORKSPACE_NAME,
        Column(
            "owner_identity",
            "string",
            "Who ran or owns the usage (run_as, else owned_by, else created_by): the user or service principal "
            "to assign a policy to; NULL when unknown.",
        ),
        Column("policy_id", "string", "Budget (usage) policy id on the usage; NULL when it ran under none."),
        Column(
            "policy_status",
            "string",
            "none: no policy id; mapped: the id is in attribution.budget_policies on that day; tagged: the id is "
            "not in the config but a business-unit tag attributed the usage (as managed policies' tags do); "
            "unknown: the id is not in the config and no business-unit tag attributed the usage (a deleted or "
            "unmanaged policy).",
        ),
        Column("business_unit", "string", "Business unit the usage was attributed to; UNALLOCATED when no rule did."),
        Column("usage_line_count", "bigint", "Netted usage lines."),
        Column("effective_cost", MONEY, "Cost after discounts, in currency_code."),
        Column("currency_code", "string", "Chargeback currency (ISO 4217)."),
        Column("run_id", "string", "Id of the pipeline run that wrote the row."),
    ),
)


COMPUTE_CONSUMPTION_HOURLY = TableSpec(
    table="compute_consumption_hourly",
    grain="Gold: how each billed hour of a shared SQL warehouse was split by consumption, one row per hour x "
    "workspace x warehouse x identity (the statement's executed_by), and for idle hours per their idle rule; "
    "the rows of an hour sum exactly to its billed cost.",
    primary_key=("usage_hour", "workspace_id", "warehouse_id", "pool_id", "identity", "is_idle"),
    partition_by=("usage_date",),
    columns=(
        Column("usage_hour", "timestamp", "UTC start of the billed hour."),
        Column("usage_date", "date", "UTC date of the billed hour."),
        Column("workspace_id", "string", "Databricks workspace id."),
        Column("warehouse_id", "string", "SQL warehouse id."),
        Column("warehouse_name", "string", "Latest name of the warehouse in system.compute.warehouses, else its id."),
        Column(
            "warehouse_owner", "string", "Who created the warehouse (created_by of its latest row); NULL if unknown."
        ),
        _WORKSPACE_NAME,
        Column("pool_id", "string", "The shared-cost pool (method consumption) that splits the warehouse."),
        Column(
            "identity",
            "string",
            "executed_by of the statements (a user name or a service principal's application id); NULL for statements "
            "with no executed_by and for an idle hour kept or charged to a unit.",
        ),
        Column("is_idle", "boolean", "True for rows of an hour with no task time, charged by the idle rule."),
        Column(
            "allocation_basis",
            "string",
            "consumption (task time in the hour), idle_spread (the identity's task time that day), idle_unit (the "
            "idle rule's unit) or idle_kept (idle cost left visible).",
        ),
        Column("business_unit", "string", "Business unit charged: the identity's unit, else UNALLOCATED."),
        Column("task_duration_ms", TASK_MS, "The identity's statement task time inside the hour, prorated by overlap."),
        Column(
            "query_count",
            "bigint",
            "Statements of the identity with task time in the hour (one over several hours counts in each).",
        ),
        Column(
            "share_of_hour", RATIO, "Share of the hour's cost: task time in the hour (or day, for idle_spread) / all."
        ),
        Column("list_cost", MONEY, "Share of the hour's cost at list price, in currency_code."),
        Column("effective_cost", MONEY, "Share of the hour's cost after discounts, in currency_code."),
        Column("currency_code", "string", "Chargeback currency (ISO 4217)."),
        Column("run_id", "string", "Id of the pipeline run that wrote the row."),
    ),
)


JOB_RUN_COSTS = TableSpec(
    table="job_run_costs",
    grain="Gold: cost per job run, one row per run billed (workspace and job run id), with its outcome from "
    "system.lakeflow.job_run_timeline (NULL when the run has no timeline row) and whether its cost was waste.",
    primary_key=("workspace_id", "job_run_id"),
    partition_by=("run_date",),
    columns=(
        Column("job_run_id", "string", "Job run id (usage_metadata.job_run_id = job_run_timeline.run_id)."),
        Column("workspace_id", "string", "Databricks workspace id."),
        Column("job_id", "string", "Job id (unique within a workspace)."),
        Column(
            "job_name", "string", "Latest name of the job in system.lakeflow.jobs, else the run name, else the job id."
        ),
        _WORKSPACE_NAME,
        Column("run_date", "date", "UTC date the run started."),
        Column("run_start_at", "timestamp", "UTC start of the run's first timeline slice, else of its first usage."),
        Column("run_end_at", "timestamp", "UTC end of the run's last timeline slice, else of its last usage."),
        Column("duration_seconds", "bigint", "run_end_at - run_start_at, in whole seconds."),
        Column(
            "result_state", "string", "Final state (SUCCEEDED, FAILED, ...) of the latest final slice; NULL if none."
        ),
        Column("termination_code", "string", "Termination code of the latest final slice."),
        Column("trigger_type", "string", "How the run was triggered (CRON, ONETIME, ONETIME_RETRY, ...)."),
        Column("run_type", "string", "JOB_RUN, SUBMIT_RUN or WORKFLOW_RUN."),
        Column(
            "attempt_count",
            "int",
            "Final timeline slices: 1, more after repairs, 0 while running; NULL without timeline.",
        ),
        Column("has_timeline", "boolean", "True when the run has rows in system.lakeflow.job_run_timeline."),
        Column("is_retry", "boolean", "True when the run was triggered to retry a failed run (ONETIME_RETRY)."),
        Column(
            "is_waste", "boolean", "True when the run ended FAILED, ERROR, TIMED_OUT or CANCELLED, or was repaired."
        ),
        Column(
            "owner_identity", "string", "Who the run ran as: run_as of its usage lines, else owned_by, else created_by."
        ),
        Column("business_unit", "string", "Business unit charged: the unit of the run's usage lines (the largest)."),
        Column("usage_line_count", "bigint", "Usage lines summed into the run."),
        Column("list_cost", MONEY, "Cost of the run at list price, in currency_code."),
        Column("effective_cost", MONEY, "Cost of the run after discounts, in currency_code."),
        Column("currency_code", "string", "Chargeback currency (ISO 4217)."),
        Column("run_id", "string", "Id of the pipeline run that wrote the row."),
    ),
)


PIPELINE_UPDATE_COSTS = TableSpec(
    table="pipeline_update_costs",
    grain="Gold: cost per pipeline update, one row per update billed (workspace and dlt_update_id), with its outcome "
    "from system.lakeflow.pipeline_update_timeline (NULL when the update has no timeline row) and whether its cost "
    "was waste. Maintenance usage (dlt_maintenance_id, no update id) belongs to no update.",
    primary_key=("workspace_id", "dlt_update_id"),
    partition_by=("run_date",),
    columns=(
        Column(
            "dlt_update_id",
            "string",
            "Pipeline update id (usage_metadata.dlt_update_id = pipeline_update_timeline.update_id).",
        ),
        _WORKSPACE_ID,
        _WORKSPACE_NAME,
        Column("pipeline_id", "string", "Pipeline id (usage_metadata.dlt_pipeline_id, else the timeline's)."),
        Column("pipeline_name", "string", "Latest name of the pipeline in system.lakeflow.pipelines, else its id."),
        Column("run_date", "date", "UTC date the update started."),
        Column(
            "update_start_at", "timestamp", "UTC start of the update's first timeline slice, else of its first usage."
        ),
        Column("update_end_at", "timestamp", "UTC end of the update's last timeline slice, else of its last usage."),
        Column("duration_seconds", "bigint", "update_end_at - update_start_at, in whole seconds."),
        Column(
            "result_state",
            "string",
            "Final state (COMPLETED, FAILED, CANCELED) of the latest final slice; NULL while running or no timeline.",
        ),
        Column("update_type", "string", "REFRESH, FULL_REFRESH or VALIDATE (the first slice's)."),
        Column("trigger_type", "string", "How the update was triggered (API_CALL, JOB_TASK, RETRY_ON_FAILURE, ...)."),
        Column("has_timeline", "boolean", "True when the update has rows in system.lakeflow.pipeline_update_timeline."),
        Column("is_waste", "boolean", "True when the update ended FAILED or CANCELED: its cost produced nothing."),
        Column(
            "owner_identity", "string", "Who the update ran as: run_as of its lines, else owned_by, else created_by."
        ),
        Column("business_unit", "string", "Business unit charged: the unit of the update's usage lines (the largest)."),
        Column("usage_line_count", "bigint", "Usage lines summed into the update."),
        _LIST_COST,
        _EFFECTIVE_COST,
        _CURRENCY,
        _RUN_ID,
    ),
)
