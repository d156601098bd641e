"""Workload identification: what ran (type, id, name) and in which workspace (name).

Names come from the latest row of each slowly changing dimension (jobs, pipelines, served entities),
falling back to names on the usage record and then to ids: these tables are regional and may miss rows.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

# (workload_type, id column), in the order a usage line is classified.
_WORKLOAD_ID_COLUMNS = (
    ("job", "job_id"),
    ("pipeline", "dlt_pipeline_id"),
    ("warehouse", "warehouse_id"),
    ("app", "app_id"),
    ("notebook", "notebook_id"),
    ("database_instance", "database_instance_id"),
    ("cluster", "cluster_id"),
)


def workload_type() -> Column:
    """Serving endpoints first (their rows may also carry cluster ids), then jobs, pipelines, ..., else platform."""
    serving_id = F.coalesce(F.col("endpoint_id"), F.col("endpoint_name"))
    result = F.when(
        serving_id.isNotNull(),
        F.when(F.col("billing_origin_product") == "VECTOR_SEARCH", F.lit("vector_search_endpoint")).otherwise(
            F.lit("serving_endpoint")
        ),
    )
    for kind, column in _WORKLOAD_ID_COLUMNS:
        result = result.when(F.col(column).isNotNull(), F.lit(kind))
    return result.otherwise(F.lit("platform"))


def workload_id() -> Column:
    """The id of the workload; platform usage (networking, storage, ...) is identified by its product."""
    result = F.when(F.col("workload_type").endswith("endpoint"), F.coalesce("endpoint_id", "endpoint_name"))
    for kind, column in _WORKLOAD_ID_COLUMNS:
        result = result.when(F.col("workload_type") == kind, F.col(column))
    return result.otherwise(F.col("billing_origin_product"))


def latest(scd: DataFrame, key: list[str], order_by: str = "change_time") -> DataFrame:
    """The latest row per key of an SCD2 system table."""
    rank = F.row_number().over(Window.partitionBy(*key).orderBy(F.col(order_by).desc_nulls_last()))
    return scd.withColumn("_rank", rank).where(F.col("_rank") == 1).drop("_rank")


def identify_workloads(
    lines: DataFrame, workspaces: DataFrame, jobs: DataFrame, pipelines: DataFrame, served_entities: DataFrame
) -> DataFrame:
    """Add workload_type, workload_id, workload_name, workspace_name, owner_identity and pipeline_tags_json."""
    job_names = latest(jobs, ["workspace_id", "job_id"]).select(
        F.col("workspace_id").alias("_job_ws"), F.col("job_id").alias("_job_id"), F.col("name").alias("_job_name")
    )
    pipeline_tags = (
        F.to_json(F.array_sort(F.map_entries("tags"))) if "tags" in pipelines.columns else F.lit(None).cast("string")
    )
    pipeline_info = latest(pipelines, ["workspace_id", "pipeline_id"]).select(
        F.col("workspace_id").alias("_pipeline_ws"),
        F.col("pipeline_id").alias("_pipeline_id"),
        F.col("name").alias("_pipeline_name"),
        pipeline_tags.alias("pipeline_tags_json"),
    )
    endpoint_names = latest(served_entities, ["workspace_id", "endpoint_id"]).select(
        F.col("workspace_id").alias("_ep_ws"),
        F.col("endpoint_id").alias("_ep_id"),
        F.col("endpoint_name").alias("_ep_name"),
    )
    workspace_names = workspaces.select(F.col("workspace_id").alias("_ws_id"), "workspace_name")
    typed = lines.withColumn("workload_type", workload_type()).withColumn("workload_id", workload_id())
    # Right-side keys are renamed so no join needs a DataFrame-bound column reference (fragile on Spark Connect).
    enriched = (
        typed.join(F.broadcast(workspace_names), F.col("workspace_id") == F.col("_ws_id"), "left")
        .join(
            F.broadcast(job_names),
            (F.col("workspace_id") == F.col("_job_ws")) & (F.col("job_id") == F.col("_job_id")),
            "left",
        )
        .join(
            F.broadcast(pipeline_info),
            (F.col("workspace_id") == F.col("_pipeline_ws")) & (F.col("dlt_pipeline_id") == F.col("_pipeline_id")),
            "left",
        )
        .join(
            F.broadcast(endpoint_names),
            (F.col("workspace_id") == F.col("_ep_ws")) & (F.col("endpoint_id") == F.col("_ep_id")),
            "left",
        )
    )
    name = (
        F.when(F.col("workload_type") == "job", F.coalesce("_job_name", "job_name"))
        .when(F.col("workload_type") == "pipeline", F.col("_pipeline_name"))
        .when(F.col("workload_type").endswith("endpoint"), F.coalesce("endpoint_name", "_ep_name"))
        .when(F.col("workload_type") == "app", F.col("app_name"))
        .when(F.col("workload_type") == "notebook", F.col("notebook_path"))
    )
    return enriched.select(
        *lines.columns,
        "workload_type",
        "workload_id",
        F.coalesce(name, F.col("workload_id")).alias("workload_name"),
        F.coalesce(F.col("workspace_name"), F.col("workspace_id")).alias("workspace_name"),
        F.coalesce("run_as", "owned_by", "created_by").alias("owner_identity"),
        F.coalesce(F.col("pipeline_tags_json"), F.lit("[]")).alias("pipeline_tags_json"),
    )
