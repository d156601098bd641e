"""Optional system tables (`jobs.sources`): absent, with fewer columns than documented, or present but unreadable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from pyspark.errors import AnalysisException
from pyspark.sql import functions as F

from chargeback.contracts.system_tables import WAREHOUSES
from chargeback.errors import SourceTableError
from chargeback.jobs.sources import optional
from chargeback.names import TableName

NAME = TableName.parse("system.compute.warehouses")


@dataclass
class Store:
    """The two calls `optional` makes of a table store."""

    spark: Any
    table: Any = None

    def exists(self, name: TableName) -> bool:
        return self.table is not None

    def read(self, name: TableName) -> Any:
        return self.table


@pytest.mark.transform
def test_an_absent_table_reads_as_empty_and_a_missing_column_as_null(spark):
    assert optional(Store(spark), NAME, WAREHOUSES).count() == 0
    # created_by is observed on real accounts but not documented: a table without it still reads.
    older = spark.createDataFrame(
        [("1", "wh-1", "bi")], "workspace_id string, warehouse_id string, warehouse_name string"
    )
    table = optional(Store(spark, older), NAME, WAREHOUSES)
    assert set(WAREHOUSES.fieldNames()) <= set(table.columns)
    assert table.select("warehouse_name", F.col("created_by").isNull()).collect() == [("bi", True)]


class Unreadable:
    """A table the job's principal may not SELECT: Unity Catalog refuses it when the plan is resolved."""

    @property
    def columns(self) -> list[str]:
        raise AnalysisException(message="[INSUFFICIENT_PERMISSIONS] User does not have SELECT on Table\nmore")


def test_a_table_that_exists_but_cannot_be_read_is_refused_in_one_line() -> None:
    with pytest.raises(SourceTableError) as refused:
        optional(Store(None, Unreadable()), NAME, WAREHOUSES)
    assert str(refused.value) == (
        "source table system.compute.warehouses exists but cannot be read: "
        "[INSUFFICIENT_PERMISSIONS] User does not have SELECT on Table"
    )
