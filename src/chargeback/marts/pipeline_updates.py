"""Cost per pipeline update: billed usage summed by `dlt_update_id`, with the update's outcome, pipeline and owner.

Grain of `pipeline_update_costs`: one pipeline update (`workspace_id`, `dlt_update_id`). Built like cost per job
run (`marts.job_runs`, spec §7): the usage lines carrying the update's id are summed over every record type first,
then one outcome per update from `system.lakeflow.pipeline_update_timeline` is LEFT JOINed, so an update sliced
over several hours is counted once and one with no timeline row (another region, rows not yet arrived) still
appears with `result_state` NULL. Maintenance usage (`dlt_maintenance_id`, no update id) belongs to no update.

From the timeline: the update starts at its first slice and ends with its last; `result_state` is that of its
final slice (set only there: `COMPLETED`, `FAILED`, `CANCELED`, spelt with one L), `update_type` and `trigger_type`
the first slice's (a retry of a failed update is a new update, `trigger_type` `RETRY_ON_FAILURE`). An update is
waste when it ended `FAILED` or `CANCELED`: its cost produced nothing.

The pipeline name is the lines' (silver's latest `system.lakeflow.pipelines` name), else the pipeline id. The business
unit is the one with the largest effective cost of the update's lines. Rows are dated by the update's start: pass
every line of the updates being written (an update can cross midnight) and write rows by `run_date`.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from chargeback.marts.job_runs import cost_columns, costed_runs, has_timeline, run_outcomes, span_columns

WASTE_STATES = ("FAILED", "CANCELED")

_UPDATE = ("workspace_id", "dlt_update_id")


def pipeline_update_costs(usage_lines: DataFrame, pipeline_update_timeline: DataFrame, run_id: str) -> DataFrame:
    """`pipeline_update_costs`: usage summed per pipeline update, with outcome, pipeline and unit (module docstring).

    Args:
        usage_lines: priced, attributed usage lines (silver): workspace_id, workspace_name, pipeline_id,
            pipeline_name (both NULL on lines of other workloads), dlt_update_id, owner_identity, usage_start_time,
            usage_end_time, list_cost, effective_cost, currency_code, business_unit (lines without dlt_update_id
            are ignored).
        pipeline_update_timeline: `system.lakeflow.pipeline_update_timeline` (workspace_id, pipeline_id,
            update_id, update_type, trigger_type, result_state, period_start_time, period_end_time).
        run_id: the pipeline run writing the rows.
    """
    outcomes = run_outcomes(
        pipeline_update_timeline.withColumnRenamed("update_id", "dlt_update_id"),
        usage_lines,
        _UPDATE,
        first={"_timeline_pipeline_id": "pipeline_id", "update_type": "update_type", "trigger_type": "trigger_type"},
        final=("result_state",),
    )
    updates = costed_runs(
        usage_lines,
        outcomes,
        _UPDATE,
        F.max("pipeline_id").alias("_line_pipeline_id"),
        F.max("pipeline_name").alias("_pipeline_name"),
    )
    pipeline_id = F.coalesce("_line_pipeline_id", "_timeline_pipeline_id")
    return updates.select(
        "dlt_update_id",
        "workspace_id",
        "workspace_name",
        pipeline_id.alias("pipeline_id"),
        F.coalesce(F.col("_pipeline_name"), pipeline_id).alias("pipeline_name"),
        *span_columns("update"),
        "result_state",
        "update_type",
        "trigger_type",
        has_timeline().alias("has_timeline"),
        F.coalesce(F.col("result_state").isin(list(WASTE_STATES)), F.lit(False)).alias("is_waste"),
        *cost_columns(run_id),
    )
