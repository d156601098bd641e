"""Reading and writing tables (the only code that does), and Spark sessions on Databricks."""
