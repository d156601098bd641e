# Databricks notebook source
# MAGIC %md
# MAGIC # Chargeback statement explorer
# MAGIC
# MAGIC A month's statement, one line per business unit. Name a business unit to drill into its cost by workspace,
# MAGIC product, workload and cost kind (direct, shared, correction). Empty month = the latest month.
# MAGIC In a `dev` deployment the schema is `dev_<your user>_chargeback`.

# COMMAND ----------

# MAGIC %pip install --quiet ..

# COMMAND ----------

dbutils.widgets.text("catalog", "main", "Catalog")
dbutils.widgets.text("schema", "chargeback", "Schema")
dbutils.widgets.text("billing_month", "", "Billing month (YYYY-MM)")
dbutils.widgets.text("business_unit", "", "Business unit (drill-down)")

# COMMAND ----------

from chargeback.notebooks import statement

display(
    statement(
        spark,
        dbutils.widgets.get("catalog"),
        dbutils.widgets.get("schema"),
        dbutils.widgets.get("billing_month"),
        dbutils.widgets.get("business_unit"),
    )
)
