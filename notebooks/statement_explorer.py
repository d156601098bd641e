# Databricks notebook source
# MAGIC %md
# MAGIC # Chargeback statement explorer
# MAGIC
# MAGIC A month's statement, one line per business unit. Name a business unit to drill into its cost by workspace,
# MAGIC product, workload and cost kind (direct, shared, correction). Empty month = the latest month.
# MAGIC In a `dev` deployment the schema is `dev_<your user>_chargeback`.

# COMMAND ----------

# The package, built from this notebook's own bundle: its folder comes from the notebook's path, not the working
# directory (serverless promises none). In a job whose environment already has the bundle's wheel, skip this cell.
notebook_path = dbutils.notebook.entry_point.getDbutils().notebook().getContext().notebookPath().get()
bundle_files = "/Workspace" + notebook_path.rsplit("/", 2)[0]  # <files>/notebooks/<this notebook>

# COMMAND ----------

# MAGIC %pip install --quiet "$bundle_files"

# COMMAND ----------

dbutils.widgets.text("catalog", "main", "Catalog")
dbutils.widgets.text("schema", "chargeback", "Schema")
dbutils.widgets.text("billing_month", "", "Billing month (YYYY-MM)")
dbutils.widgets.text("business_unit", "", "Business unit (drill-down)")

# COMMAND ----------

from chargeback.jobs.notebooks import statement

display(
    statement(
        spark,
        dbutils.widgets.get("catalog"),
        dbutils.widgets.get("schema"),
        dbutils.widgets.get("billing_month"),
        dbutils.widgets.get("business_unit"),
    )
)
