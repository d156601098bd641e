"""Laptop only: the embedded engine, the local lakehouse, the synthetic account, and the engine differences."""
