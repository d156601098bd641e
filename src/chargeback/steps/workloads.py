"""Workload identification: what ran (type, id, name) and in which workspace (name).

Names come from the latest row of each slowly changing dimension (jobs, pipelines, served entities),
falling back to names on the usage record and then to ids: these tables are regional and may miss rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from chargeback.steps.usage import IDENTITY_FIELDS, nested, tags_json

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


@dataclass(frozen=True)
class Enrichment:
    """The system tables that name workloads and workspaces and carry pipeline tags (each may be empty).

    Warehouses and clusters are optional: without them their lines are named by id.
    """

    workspaces: DataFrame
    jobs: DataFrame
    pipelines: DataFrame
    served_entities: DataFrame
    warehouses: DataFrame | None = None
    clusters: DataFrame | None = None

    def for_records(self, records: DataFrame) -> Enrichment:
        """This enrichment with only the cluster rows of the clusters `records` (raw usage) bill.

        The clusters table holds every cluster of the account's history (each job run creates one) and its latest
        row per cluster is found by sorting; the few a run's records bill are picked first, from the records rather
        than the netted lines, which would be computed a second time.
        """
        if self.clusters is None:
            return self
        key = ["workspace_id", "cluster_id"]
        billed = records.select(
            "workspace_id", nested(records, "usage_metadata", "cluster_id").cast("string").alias("cluster_id")
        ).where(F.col("cluster_id").isNotNull())
        return replace(self, clusters=self.clusters.join(billed.distinct(), key, "left_semi"))


def _latest_names(scd: DataFrame, id_column: str, name_column: str, alias: str) -> DataFrame:
    """The latest name per (workspace, id) of an SCD2 table, as `_<alias>_ws`, `_<alias>_id`, `_<alias>_name`.

    Deleted entities keep their latest name, so historical cost is still named.
    """
    return latest(scd, ["workspace_id", id_column]).select(
        F.col("workspace_id").alias(f"_{alias}_ws"),
        F.col(id_column).alias(f"_{alias}_id"),
        F.col(name_column).alias(f"_{alias}_name"),
    )


def _join_names(lines: DataFrame, names: DataFrame, line_id: str, alias: str, small: bool = True) -> DataFrame:
    """Left-join `_latest_names` on (workspace, id); `small` tables are broadcast."""
    # Right-side keys are renamed so no join needs a DataFrame-bound column reference (fragile on Spark Connect).
    on = (F.col("workspace_id") == F.col(f"_{alias}_ws")) & (F.col(line_id) == F.col(f"_{alias}_id"))
    return lines.join(F.broadcast(names) if small else names, on, "left")


def pipeline_tags_json(pipelines: DataFrame) -> Column:
    """A `system.lakeflow.pipelines` row's tags as canonical JSON (`steps.usage.tags_json`); '[]' without them."""
    return tags_json(F.map_entries("tags")) if "tags" in pipelines.columns else F.lit("[]")


def latest_pipelines(pipelines: DataFrame) -> DataFrame:
    """Each pipeline's latest `system.lakeflow.pipelines` row: workspace_id, pipeline_id, name and pipeline_tags_json
    (its tags, `pipeline_tags_json`), what its lines are named and attributed with."""
    return latest(pipelines, ["workspace_id", "pipeline_id"]).select(
        "workspace_id", "pipeline_id", "name", pipeline_tags_json(pipelines).alias("pipeline_tags_json")
    )


def identify_workloads(lines: DataFrame, enrichment: Enrichment) -> DataFrame:
    """Add workload_type, workload_id, workload_name, workspace_name, owner_identity and pipeline_tags_json."""
    pipeline_info = latest_pipelines(enrichment.pipelines).select(
        F.col("workspace_id").alias("_pipeline_ws"),
        F.col("pipeline_id").alias("_pipeline_id"),
        F.col("name").alias("_pipeline_name"),
        "pipeline_tags_json",
    )
    workspace_names = enrichment.workspaces.select(F.col("workspace_id").alias("_ws_id"), "workspace_name")
    typed = lines.withColumn("workload_type", workload_type()).withColumn("workload_id", workload_id())
    enriched = typed.join(F.broadcast(workspace_names), F.col("workspace_id") == F.col("_ws_id"), "left")
    enriched = _join_names(enriched, _latest_names(enrichment.jobs, "job_id", "name", "job"), "job_id", "job")
    enriched = _join_names(enriched, pipeline_info, "dlt_pipeline_id", "pipeline")
    endpoint_names = _latest_names(enrichment.served_entities, "endpoint_id", "endpoint_name", "ep")
    enriched = _join_names(enriched, endpoint_names, "endpoint_id", "ep")
    name = (
        F.when(F.col("workload_type") == "job", F.coalesce("_job_name", "job_name"))
        .when(F.col("workload_type") == "pipeline", F.col("_pipeline_name"))
        .when(F.col("workload_type").endswith("endpoint"), F.coalesce("endpoint_name", "_ep_name"))
        .when(F.col("workload_type") == "app", F.col("app_name"))
        .when(F.col("workload_type") == "notebook", F.col("notebook_path"))
    )
    # Clusters are not broadcast: every job run creates one, so a busy account has millions.
    for kind, scd, id_column, name_column, small in (
        ("warehouse", enrichment.warehouses, "warehouse_id", "warehouse_name", True),
        ("cluster", enrichment.clusters, "cluster_id", "cluster_name", False),
    ):
        if scd is not None:
            names = _latest_names(scd, id_column, name_column, kind)
            enriched = _join_names(enriched, names, id_column, kind, small)
            name = name.when(F.col("workload_type") == kind, F.col(f"_{kind}_name"))
    return enriched.select(
        *lines.columns,
        "workload_type",
        "workload_id",
        F.coalesce(name, F.col("workload_id")).alias("workload_name"),
        F.coalesce(F.col("workspace_name"), F.col("workspace_id")).alias("workspace_name"),
        F.coalesce(*IDENTITY_FIELDS).alias("owner_identity"),
        # A pipeline's lines only: attribution reads no other line's pipeline tags, so no other line keeps them.
        F.when(F.col("workload_type") == "pipeline", F.coalesce(F.col("pipeline_tags_json"), F.lit("[]")))
        .otherwise(F.lit("[]"))
        .alias("pipeline_tags_json"),
    )
