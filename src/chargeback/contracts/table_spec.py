"""Table contracts: a table the product writes is a `TableSpec` (grain, primary key, typed and commented columns).

Pure data, no storage: `contracts/*_tables.py` declare every table with these; `storage.store` creates and
writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chargeback.names import quote, sql_string

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class Column:
    """A column of a table the product writes: name, Spark SQL type and comment."""

    name: str
    type: str
    comment: str


@dataclass(frozen=True)
class TableSpec:
    """A table the product writes: its grain (the table comment), primary key and columns."""

    table: str
    grain: str
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    partition_by: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def comment(self) -> str:
        return f"{self.grain} Primary key: ({', '.join(self.primary_key)})."

    def ddl_schema(self, with_comments: bool = True, columns: tuple[Column, ...] | None = None) -> str:
        return ", ".join(
            f"{quote(c.name)} {c.type}" + (f" COMMENT {sql_string(c.comment)}" if with_comments else "")
            for c in (self.columns if columns is None else columns)
        )


def with_null_columns(df: DataFrame, columns: tuple[Column, ...]) -> DataFrame:
    """`df` with `columns` appended as typed NULLs: an existing table brought up to a newer spec."""
    from pyspark.sql import functions as F

    return df.select(*df.columns, *(F.lit(None).cast(c.type).alias(c.name) for c in columns))
