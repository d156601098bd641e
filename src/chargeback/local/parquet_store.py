"""Tables as parquet folders, for an engine without Delta (JVM PySpark in local mode).

The pipeline's code is engine-agnostic: this store lets it run unchanged on plain Spark, where the benchmark
times it against Sail (and `tests/test_bench.py` checks that both engines bill the same).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from chargeback.contracts.table_spec import Column, TableSpec, with_null_columns
from chargeback.names import TableName
from chargeback.storage.store import TableStore

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


class ParquetStore(TableStore):
    """Tables as parquet folders for an engine without Delta: every write makes a new version folder.

    A windowed write keeps the previous version's rows outside the window, as Delta replaceWhere does.
    """

    def __init__(self, spark: SparkSession, root: Path, sources: tuple[TableName, ...] = ()):
        super().__init__(spark)
        self.root = root
        self.versions = dict.fromkeys(sources, 0)
        self._last_write: dict[TableName, str | None] = {}

    @staticmethod
    def version_path(root: Path, name: TableName, version: int) -> Path:
        return root / name.catalog / name.schema / name.table / f"v{version}"

    def exists(self, name: TableName) -> bool:
        return name in self.versions

    def read(self, name: TableName) -> DataFrame:
        return self.read_version(name, self.versions[name])

    def version(self, name: TableName) -> int:
        return self.versions[name]

    def read_version(self, name: TableName, version: int) -> DataFrame:
        return self.spark.read.parquet(str(self.version_path(self.root, name, version)))

    def _create(self, name: TableName, spec: TableSpec) -> None:
        self._save(name, self.spark.createDataFrame([], spec.ddl_schema(with_comments=False)))

    def _add_columns(self, name: TableName, spec: TableSpec, columns: tuple[Column, ...]) -> None:
        self._save(name, with_null_columns(self.read(name), columns))

    def _save(self, name: TableName, df: DataFrame) -> None:
        version = self.versions.get(name, -1) + 1
        df.write.parquet(str(self.version_path(self.root, name, version)))
        self.versions[name] = version

    def _overwrite(self, name: TableName, df: DataFrame, replace_where: str | None) -> None:
        if replace_where is not None:
            df = self.read(name).where(f"NOT COALESCE({replace_where}, false)").unionByName(df)
        self._save(name, df)
        self._last_write[name] = replace_where

    def _stage(self, name: TableName, df: DataFrame) -> None:
        self._save(name, df)

    def rows_written(self, name: TableName) -> int:
        """Plain parquet has no commit log: the rows of the newest version the last write replaced."""
        replaced = self._last_write.get(name)
        return (self.read(name) if replaced is None else self.read(name).where(replaced)).count()

    def _append(self, name: TableName, df: DataFrame) -> None:
        self._save(name, self.read(name).unionByName(df))

    def sql(self, query: str) -> DataFrame:
        return self.spark.sql(query)
