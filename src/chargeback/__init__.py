"""FinOps chargeback for Databricks: price, attribute and allocate every dollar of `system.billing.usage`."""

__version__ = "0.1.1"
