"""The Databricks system tables this product reads, by name (their schemas are in `system_tables`).

Apart from the schemas so the command line can name its default source tables without loading pyspark.
"""

from __future__ import annotations

from chargeback.names import TableName

# The system tables the generator writes and the pipeline may read: their Databricks names, and name -> schema.
USAGE_TABLE = TableName.parse("system.billing.usage")
LIST_PRICES_TABLE = TableName.parse("system.billing.list_prices")
WORKSPACES_TABLE = TableName.parse("system.access.workspaces_latest")
JOBS_TABLE = TableName.parse("system.lakeflow.jobs")
PIPELINES_TABLE = TableName.parse("system.lakeflow.pipelines")
SERVED_ENTITIES_TABLE = TableName.parse("system.serving.served_entities")
QUERY_HISTORY_TABLE = TableName.parse("system.query.history")
WAREHOUSES_TABLE = TableName.parse("system.compute.warehouses")
WAREHOUSE_EVENTS_TABLE = TableName.parse("system.compute.warehouse_events")
CLUSTERS_TABLE = TableName.parse("system.compute.clusters")
JOB_RUN_TIMELINE_TABLE = TableName.parse("system.lakeflow.job_run_timeline")
PIPELINE_UPDATE_TIMELINE_TABLE = TableName.parse("system.lakeflow.pipeline_update_timeline")
