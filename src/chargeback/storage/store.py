"""Reading and writing tables: the only place pipeline code touches storage.

`TableStore` creates tables from a `TableSpec` (columns, comments, grain, primary key) and writes with Delta
`replaceWhere`, one transaction per table; `UnityCatalog` is the store on Databricks, `local.lakehouse` the
one on a laptop.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from chargeback.contracts.table_spec import Column, TableSpec
from chargeback.dates import DaySet
from chargeback.errors import SourceTableError
from chargeback.names import TableName, quote, sql_string, validate_identifier

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def date_predicate(column: str, start: dt.date, end: dt.date) -> str:
    """`column BETWEEN start AND end` for a validated column name and real dates (no untrusted text)."""
    validate_identifier(column, "column")
    return f"{quote(column)} >= DATE'{start.isoformat()}' AND {quote(column)} <= DATE'{end.isoformat()}'"


def days_predicate(column: str, days: DaySet) -> str:
    """`column` in one of the ranges of `days` (at least one range): one `BETWEEN` per range."""
    if not days:
        raise ValueError("no days to match")
    if len(days.ranges) == 1:
        return date_predicate(column, *days.ranges[0])
    return " OR ".join(f"({date_predicate(column, first, last)})" for first, last in days.ranges)


class TableStore(ABC):
    """Read and write tables by three-part name."""

    def __init__(self, spark: SparkSession):
        self.spark = spark
        self._ensured: set[TableName] = set()

    @abstractmethod
    def exists(self, name: TableName) -> bool: ...

    @abstractmethod
    def read(self, name: TableName) -> DataFrame: ...

    def ensure(self, name: TableName, spec: TableSpec) -> None:
        """Create the table with its comments if it does not exist, else add the columns `spec` has and it lacks.

        A newer release may add columns to a table an earlier one created: existing rows get NULL there.
        Checked once per table and session.
        """
        if name in self._ensured:
            return
        if not self.exists(name):
            self._create(name, spec)
        else:
            present = set(self.read(name).columns)
            missing = tuple(c for c in spec.columns if c.name not in present)
            if missing:
                self._add_columns(name, spec, missing)
        self._ensured.add(name)

    @abstractmethod
    def _create(self, name: TableName, spec: TableSpec) -> None: ...

    @abstractmethod
    def _add_columns(self, name: TableName, spec: TableSpec, columns: tuple[Column, ...]) -> None: ...

    @abstractmethod
    def _overwrite(self, name: TableName, df: DataFrame, replace_where: str | None) -> None: ...

    @abstractmethod
    def sql(self, query: str) -> DataFrame:
        """Run SQL in which tables are named by their three-part names."""

    def read_required(self, name: TableName, columns: list[str] | None = None) -> DataFrame:
        """Read a source table, failing with a one-line reason if it or a needed column is missing."""
        if not self.exists(name):
            raise SourceTableError(f"source table {name} does not exist")
        df = self.read(name)
        missing = [c for c in columns or [] if c not in df.columns]
        if missing:
            raise SourceTableError(f"source table {name} lacks column(s) {', '.join(missing)}")
        return df

    def write(
        self,
        name: TableName,
        spec: TableSpec,
        df: DataFrame,
        replace_days: tuple[str, DaySet] | None = None,
    ) -> None:
        """Replace the rows of `name` whose `date_column` is in `replace_days` (`(date_column, days)`) by `df`, or
        all rows; with no days, nothing (no commit).

        Rows of `df` outside those days are dropped first (engine: replace-where-unchecked).
        """
        if replace_days is not None and not replace_days[1]:
            return
        self.ensure(name, spec)
        df = df.select(*spec.column_names)
        predicate = None
        if replace_days is not None:
            predicate = days_predicate(*replace_days)
            df = df.where(predicate)
        self._overwrite(name, df, predicate)

    def stage(self, name: TableName, df: DataFrame, *more: DataFrame) -> DataFrame:
        """Write `df` to the scratch table `name` (replacing it, schema and all), append `more`, and return it as
        read back.

        A result used more than once (by the gate, then by a write) is computed once: Spark Connect on serverless
        compute has no cache. The table holds only the latest run's intermediate rows; nothing reads it but the run.
        Rows read from a table are appended rather than unioned in (engine: column-comments).
        """
        self._stage(name, df)
        for part in more:
            self._append(name, part.select(*df.columns))
        return self.read(name)

    @abstractmethod
    def _stage(self, name: TableName, df: DataFrame) -> None: ...

    @abstractmethod
    def rows_written(self, name: TableName) -> int:
        """Rows the last write to `name` wrote, from its commit log: counting them again would re-read the table."""

    @abstractmethod
    def version(self, name: TableName) -> int:
        """The table's newest version: it changes with every commit."""

    @abstractmethod
    def read_version(self, name: TableName, version: int) -> DataFrame:
        """The table as it was at `version` (Delta time travel)."""

    def restore(self, name: TableName, spec: TableSpec, version: int, replace_days: tuple[str, DaySet]) -> None:
        """Put the rows of `replace_days` back as they were at `version`: undoes the writes since that replaced those
        days (as `write` does, one commit)."""
        self.write(name, spec, self.read_version(name, version), replace_days)

    def append(self, name: TableName, spec: TableSpec, df: DataFrame) -> None:
        """Append rows (run logs): one Delta commit."""
        self.ensure(name, spec)
        self._append(name, df.select(*spec.column_names))

    @abstractmethod
    def _append(self, name: TableName, df: DataFrame) -> None: ...

    def set_current_schema(self, catalog: str, schema: str) -> None:
        """Make unqualified table names resolve in `catalog.schema` (as dashboard datasets expect)."""
        self.spark.sql(f"USE CATALOG {quote(validate_identifier(catalog, 'catalog'))}")
        self.spark.sql(f"USE SCHEMA {quote(validate_identifier(schema, 'schema'))}")


class UnityCatalog(TableStore):
    """Unity Catalog tables on Databricks (inside a job, or through databricks-connect)."""

    def exists(self, name: TableName) -> bool:
        return bool(self.spark.catalog.tableExists(str(name)))

    def read(self, name: TableName) -> DataFrame:
        return self.spark.table(name.quoted)

    def _create(self, name: TableName, spec: TableSpec) -> None:
        clustering = f" CLUSTER BY ({', '.join(quote(c) for c in spec.partition_by)})" if spec.partition_by else ""
        self.spark.sql(
            f"CREATE TABLE IF NOT EXISTS {name.quoted} ({spec.ddl_schema()}) USING delta{clustering} "
            f"COMMENT {sql_string(spec.comment)}"
        )

    def _add_columns(self, name: TableName, spec: TableSpec, columns: tuple[Column, ...]) -> None:
        self.spark.sql(f"ALTER TABLE {name.quoted} ADD COLUMNS ({spec.ddl_schema(columns=columns)})")

    def _overwrite(self, name: TableName, df: DataFrame, replace_where: str | None) -> None:
        writer = df.write.format("delta").mode("overwrite")
        if replace_where is not None:
            writer = writer.option("replaceWhere", replace_where)
        writer.saveAsTable(name.quoted)

    def _append(self, name: TableName, df: DataFrame) -> None:
        df.write.format("delta").mode("append").saveAsTable(name.quoted)

    def _stage(self, name: TableName, df: DataFrame) -> None:
        df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").saveAsTable(name.quoted)

    def rows_written(self, name: TableName) -> int:
        # Delta records numOutputRows in the operationMetrics of every WRITE commit ("Operation metrics keys",
        # https://docs.databricks.com/aws/en/delta/history); DESCRIBE HISTORY lists the newest commit first, and
        # an optimization (auto compaction) may have committed after the write.
        history = self.spark.sql(f"DESCRIBE HISTORY {name.quoted} LIMIT 10").where("operation = 'WRITE'")
        newest = history.select("operationMetrics").limit(1).collect()
        return int((newest[0][0] or {}).get("numOutputRows", 0)) if newest else 0

    def version(self, name: TableName) -> int:
        return int(self.spark.sql(f"DESCRIBE HISTORY {name.quoted} LIMIT 1").select("version").collect()[0][0])

    def read_version(self, name: TableName, version: int) -> DataFrame:
        # `spark.read.option("versionAsOf", 0).table(...)`: "Query an earlier version of a table (time travel)",
        # https://docs.databricks.com/aws/en/delta/history
        return self.spark.read.option("versionAsOf", version).table(name.quoted)

    def sql(self, query: str) -> DataFrame:
        return self.spark.sql(query)
