"""The local lakehouse: Delta tables in `<root>/<catalog>/<schema>/<table>`, registered in the embedded engine
under their three-part names, and the folder's guards (one writer at a time, synthetic data never over real).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from chargeback.contracts.table_spec import Column, TableSpec, with_null_columns
from chargeback.errors import ChargebackError, InputError, SourceTableError
from chargeback.local.engine import sail_catalog_name
from chargeback.names import TableName, quote, sql_string
from chargeback.storage.store import TableStore

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, DataFrameWriter, SparkSession


class LocalLakehouse(TableStore):
    """Delta tables in a local folder, registered in an embedded Sail session under three-part names."""

    def __init__(self, spark: SparkSession, root: Path):
        super().__init__(spark)
        self.root = Path(os.path.abspath(root))  # not resolve(): `root` may be the link of `engine_path`
        self._registered: set[TableName] = set()
        self._rows_written: dict[TableName, int] = {}
        for name in discover_tables(self.root):
            self._register(name)

    def path_of(self, name: TableName) -> Path:
        return self.root / name.catalog / name.schema / name.table

    def engine_name(self, name: TableName) -> str:
        return ".".join(quote(p) for p in (sail_catalog_name(name.catalog), name.schema, name.table))

    def _register(self, name: TableName) -> None:
        self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {quote(sail_catalog_name(name.catalog))}.{quote(name.schema)}")
        self.spark.sql(
            f"CREATE TABLE IF NOT EXISTS {self.engine_name(name)} USING delta "
            f"LOCATION {sql_string(str(self.path_of(name)))}"
        )
        self._registered.add(name)

    def exists(self, name: TableName) -> bool:
        return name in self._registered

    def read(self, name: TableName) -> DataFrame:
        if name not in self._registered:
            raise SourceTableError(f"table {name} does not exist in lakehouse {self.root}")
        return self.spark.read.format("delta").load(str(self.path_of(name)))

    def _create(self, name: TableName, spec: TableSpec) -> None:
        catalog = sail_catalog_name(name.catalog)
        self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {quote(catalog)}.{quote(name.schema)}")
        partition = f" PARTITIONED BY ({', '.join(quote(c) for c in spec.partition_by)})" if spec.partition_by else ""
        # Column comments become Delta field metadata, which trips a DataFusion check in Sail ("Physical input
        # schema should be the same as the one converted from logical input schema", apache/datafusion#12560)
        # when such a column goes through CASE WHEN, a union and an aggregate. Locally only the table comment is
        # kept; Unity Catalog tables get every column comment (engine: column-comments).
        plain = _plain_columns((c.name, c.type) for c in spec.columns)
        self.spark.sql(
            f"CREATE TABLE IF NOT EXISTS {self.engine_name(name)} ({spec.ddl_schema(with_comments=False)}) "
            f"USING delta{partition} "
            f"LOCATION {sql_string(str(self.path_of(name)))} COMMENT {sql_string(spec.comment)} "
            # A table's statistics columns are its own: a writer's option would not change them.
            f"TBLPROPERTIES ('delta.dataSkippingStatsColumns' = {sql_string(plain)})"
        )
        self._registered.add(name)

    def _add_columns(self, name: TableName, spec: TableSpec, columns: tuple[Column, ...]) -> None:
        # Sail has neither ALTER TABLE ADD COLUMNS nor mergeSchema: the table is rewritten once, in one commit.
        _delta_writer(with_null_columns(self.read(name), columns), "overwrite").option("overwriteSchema", "true").save(
            str(self.path_of(name))
        )

    # `_create` made the table, with its statistics columns: a writer's option would not change them.
    def _overwrite(self, name: TableName, df: DataFrame, replace_where: str | None) -> None:
        writer = df.write.format("delta").mode("overwrite")
        if replace_where is not None:
            writer = writer.option("replaceWhere", replace_where)
        before = self._newest_commit(name)
        writer.save(str(self.path_of(name)))
        # numOutputRows of the write's commit (Sail makes none when it neither adds nor removes a row).
        newest = self._newest_commit(name)
        rows = 0
        if newest is not None and newest != before:
            for line in newest.read_text(encoding="utf-8").splitlines():
                rows += int(json.loads(line).get("commitInfo", {}).get("operationMetrics", {}).get("numOutputRows", 0))
        self._rows_written[name] = rows

    def _append(self, name: TableName, df: DataFrame) -> None:
        df.write.format("delta").mode("append").save(str(self.path_of(name)))

    def _stage(self, name: TableName, df: DataFrame) -> None:
        self.write_raw(name, df, "overwrite")

    def rows_written(self, name: TableName) -> int:
        return self._rows_written.get(name, 0)

    def version(self, name: TableName) -> int:
        newest = self._newest_commit(name)
        return int(newest.stem) if newest is not None else -1

    def read_version(self, name: TableName, version: int) -> DataFrame:
        return self.spark.read.format("delta").option("versionAsOf", version).load(str(self.path_of(name)))

    def _newest_commit(self, name: TableName) -> Path | None:
        return max((self.path_of(name) / "_delta_log").glob("*.json"), default=None)

    def write_raw(self, name: TableName, df: DataFrame, mode: str) -> None:
        """Write a source-shaped table (synthetic system tables) as-is, then register it.

        An overwrite replaces the schema too: a table exported from an older Databricks release (fewer
        struct fields) must not make the write fail.
        """
        writer = _delta_writer(df, mode)
        if mode == "overwrite":
            writer = writer.option("overwriteSchema", "true")
        writer.save(str(self.path_of(name)))
        if name not in self._registered:
            self._register(name)

    def sql(self, query: str) -> DataFrame:
        return self.spark.sql(rewrite_system_catalog(query))

    def set_current_schema(self, catalog: str, schema: str) -> None:
        super().set_current_schema(sail_catalog_name(catalog), schema)


def _plain_columns(columns: Iterable[tuple[str, str]]) -> str:
    """The (name, type) columns that are neither decimal nor nested, comma-separated: the ones whose file statistics
    a local table keeps.

    Sail reads a decimal column that holds one value in a file from the file's JSON statistics, through a double:
    57.468010831799909416 reads back as 57.46801083179991 (engine: delta-decimal-statistics). Without statistics for
    decimal (or nested) columns it reads the Parquet value; dates and ids keep theirs for data skipping.
    """
    not_plain = ("decimal", "struct", "map", "array")
    return ",".join(name for name, kind in columns if not kind.lower().startswith(not_plain))


def _delta_writer(df: DataFrame, mode: str) -> DataFrameWriter:
    """A Delta writer of `df` that keeps file statistics for its plain columns only (`_plain_columns`), when it
    creates the table or replaces its schema."""
    plain = _plain_columns((f.name, f.dataType.simpleString()) for f in df.schema.fields)
    writer = df.write.format("delta").mode(mode)
    if plain:
        return writer.option("dataSkippingStatsColumns", plain)
    return writer.option("dataSkippingNumIndexedCols", "0")


# --- the local lakehouse folder ------------------------------------------------------------------------------

# Sail stores a path as a URL and then writes to the percent-encoded text (`a b` -> `a%20b`, `é` -> `%C3%A9`),
# so data would land beside the folder the user named. Paths of only these characters are passed as they are;
# any other root is reached through an ASCII-named link (inside it, every name is a validated identifier;
# engine: percent-encoded-paths).
_ENGINE_SAFE_PATH = re.compile(r"[A-Za-z0-9_./+-]+")
LOCK_FILE = ".chargeback.lock"
SYNTHETIC_MARKER = ".chargeback-synthetic.json"


@contextmanager
def engine_path(root: Path) -> Iterator[Path]:
    """`root`, or while the block runs an ASCII-named link to it that the local engine writes through unchanged."""
    root = root.resolve()
    if _ENGINE_SAFE_PATH.fullmatch(str(root)):
        yield root
        return
    holder = Path(tempfile.mkdtemp(prefix="chargeback-"))
    link = holder / "lakehouse"
    try:
        link.symlink_to(root, target_is_directory=True)
        yield link
    finally:
        shutil.rmtree(holder, ignore_errors=True)  # removes the link, never what it points to


@contextmanager
def exclusive_use(root: Path) -> Iterator[None]:
    """Hold the lakehouse for one writing command: a second one refuses at once instead of racing it.

    An advisory lock on a file in the lakehouse: released by the operating system when the process ends, even
    when it is killed, so a crash never leaves the lakehouse locked.
    """
    import fcntl

    path = root / LOCK_FILE
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"lakehouse {root} is in use by another chargeback command ({_holder(handle)})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _holder(handle: TextIO) -> str:
    handle.seek(0)
    try:
        holder = json.loads(handle.read())
        return f"pid {holder['pid']} since {holder['since']}"
    except (ValueError, KeyError, TypeError):
        return "holder unknown"


def refuse_foreign_source_tables(root: Path) -> None:
    """Synthetic tables may only replace synthetic ones: never source tables a user exported or copied here."""
    sources = [n for n in discover_tables(root) if n.catalog == "system"]
    if sources and not (root / SYNTHETIC_MARKER).is_file():
        raise ChargebackError(
            f"lakehouse {root} holds system tables chargeback did not generate ({sources[0]} and "
            f"{len(sources) - 1} more); synthetic data would overwrite them: use another --lakehouse"
        )


def mark_synthetic(root: Path, description: dict[str, object]) -> None:
    """Record that the lakehouse's system tables are synthetic (what `refuse_foreign_source_tables` reads)."""
    (root / SYNTHETIC_MARKER).write_text(json.dumps(description, default=str, sort_keys=True))


@contextmanager
def open_lakehouse(path: Path, catalogs: Iterable[str] = ()) -> Iterator[LocalLakehouse]:
    """Start the embedded engine over the lakehouse folder `path` (its catalogs plus `catalogs`) and yield it."""
    from chargeback.local.engine import local_session

    with engine_path(path) as root, local_session({*catalogs_in(root), *catalogs}) as spark:
        yield LocalLakehouse(spark, root)


def discover_tables(root: Path) -> list[TableName]:
    """Every Delta table folder `<root>/<catalog>/<schema>/<table>` whose three names are valid identifiers."""
    found = []
    if root.is_dir():
        for log in sorted(root.glob("*/*/*/_delta_log")):
            table_dir = log.parent
            try:
                found.append(TableName(table_dir.parent.parent.name, table_dir.parent.name, table_dir.name))
            except InputError:
                continue  # not a name a user could query; leave it alone
    return found


def catalogs_in(root: Path) -> set[str]:
    return {name.catalog for name in discover_tables(root)}


def require_query(query: str) -> None:
    """Refuse anything but one read-only query (SELECT, set operations, VALUES, DESCRIBE) before the engine sees it.

    `chargeback sql` only reads: the engine itself would run INSERT, DELETE or `CREATE TABLE ... LOCATION`
    anywhere on disk. Parsed, not pattern-matched, so a keyword inside a string or comment does not matter.
    """
    import logging

    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # it warns before falling back to a Command
    try:
        statements = [s for s in sqlglot.parse(query, read="spark") if s is not None]
    except ParseError as exc:
        raise InputError(f"not a query this command can check: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise InputError(f"one query at a time: found {len(statements)} statements")
    (statement,) = statements
    readable = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values, exp.Describe)
    writes = (exp.DML, exp.DDL, exp.Command, exp.Cache, exp.Uncache, exp.Set, exp.Use)
    written = next((node for node in statement.walk() if isinstance(node, writes)), None)
    if not isinstance(statement, readable) or written is not None:
        offending = written or statement
        kind = str(offending.this) if isinstance(offending, exp.Command) else type(offending).__name__
        kind = kind.upper()
        raise InputError(f"chargeback sql only reads: {kind} statements are refused")


def rewrite_system_catalog(query: str) -> str:
    """Point `system.<schema>.<table>` references at the local alias of the `system` catalog.

    Tokenising (rather than searching text) leaves string literals, comments and column names such as
    `t.system` untouched; only an identifier `system` that starts a three-part name is replaced.
    """
    from sqlglot.dialects.spark import Spark
    from sqlglot.tokens import TokenType

    tokens = Spark().tokenize(query)
    out, last = [], 0
    for i, tok in enumerate(tokens):
        is_three_part_head = (
            tok.token_type in (TokenType.VAR, TokenType.IDENTIFIER)
            and tok.text.lower() == "system"
            and (i == 0 or tokens[i - 1].token_type != TokenType.DOT)
            and i + 3 < len(tokens)
            and tokens[i + 1].token_type == TokenType.DOT
            and tokens[i + 3].token_type == TokenType.DOT
        )
        if is_three_part_head:
            out.append(query[last : tok.start])
            out.append(quote(sail_catalog_name("system")))
            last = tok.end + 1
    out.append(query[last:])
    return "".join(out)
