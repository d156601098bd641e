# Databricks notebook source
# MAGIC %md
# MAGIC # Backfill
# MAGIC
# MAGIC Recompute the chargeback tables for a period (both dates inclusive), in this notebook's session, with the
# MAGIC same steps as the `backfill` job. Closed months are not rewritten: their changes are booked as corrections
# MAGIC in the first open month. Do not run it while the daily job runs.

# COMMAND ----------

# The package, built from this notebook's own bundle: its folder comes from the notebook's path, not the working
# directory (serverless promises none). In a job whose environment already has the bundle's wheel, skip this cell.
notebook_path = dbutils.notebook.entry_point.getDbutils().notebook().getContext().notebookPath().get()
bundle_files = "/Workspace" + notebook_path.rsplit("/", 2)[0]  # <files>/notebooks/<this notebook>

# COMMAND ----------

# MAGIC %pip install --quiet "$bundle_files"

# COMMAND ----------

dbutils.widgets.text("start_date", "", "Start date (YYYY-MM-DD)")
dbutils.widgets.text("end_date", "", "End date (YYYY-MM-DD)")
dbutils.widgets.text("catalog", "main", "Catalog")
dbutils.widgets.text("schema", "chargeback", "Schema")
dbutils.widgets.text("config", "", "Config file (empty: the one built into the package)")
dbutils.widgets.text("usage_table", "system.billing.usage", "Usage table")
dbutils.widgets.text("list_prices_table", "system.billing.list_prices", "List prices table")

# COMMAND ----------

from chargeback.jobs.notebooks import backfill

backfill(
    dbutils.widgets.get("start_date"),
    dbutils.widgets.get("end_date"),
    dbutils.widgets.get("catalog"),
    dbutils.widgets.get("schema"),
    dbutils.widgets.get("config"),
    dbutils.widgets.get("usage_table"),
    dbutils.widgets.get("list_prices_table"),
)
