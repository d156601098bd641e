"""`system.query.history` vocabularies and the 44 columns every source of statements shares."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numpy.random import Generator

from chargeback.contracts import system_tables
from chargeback.local.synthetic.account import (
    ACCOUNT_ID,
    CMK_WORKSPACES,
    REDACTED,
    SP_DATA_ENG,
    SP_FINANCE,
    SP_PLATFORM,
    USER_ALICE,
    USER_BOB,
    USER_FRANK,
    USER_GUEST,
    USER_MARIA,
    USER_PLATFORM_ADMIN,
    USER_SAM,
)
from chargeback.local.synthetic.columns import column_arrow_type, const, nullable, pick, table, timestamps
from chargeback.local.synthetic.plan import Stream, workspace_ids
from chargeback.local.synthetic.values import categorical, strings, user_id, uuid_chars
from chargeback.local.synthetic.window import MS

# Who runs statements: index into this tuple; None is a NULL executed_by.
QUERY_IDENTITIES: tuple[str | None, ...] = (
    USER_ALICE,
    USER_BOB,
    USER_MARIA,
    USER_FRANK,
    USER_SAM,
    USER_GUEST,
    USER_PLATFORM_ADMIN,
    SP_DATA_ENG,
    SP_FINANCE,
    SP_PLATFORM,
    REDACTED,
    None,
)
IDENTITY_INDEX = {identity: i for i, identity in enumerate(QUERY_IDENTITIES)}
CLIENT_APPLICATIONS = (
    "Databricks SQL Editor",
    "Databricks Dashboards",
    "PowerBI",
    "Tableau",
    "Genie",
    "DBeaver",
    "dbt",
    "Databricks SQL Alerts",
    "Databricks Notebook",
    "Lakeflow Pipelines",
)
EDITOR, DASHBOARDS, _POWERBI, _TABLEAU, GENIE, _DBEAVER, DBT, ALERTS, NOTEBOOK, PIPELINES = range(10)
_CLIENT_DRIVERS = (None, None, "odbc", "odbc", None, "jdbc", "python", None, None, None)
# Statement kinds: what a statement does, which decides its type, durations and task time.
_SELECT, _CACHED, _METADATA, ETL, _UNTYPED, _OTHER = range(6)
_KIND_P = {
    EDITOR: (0.62, 0.05, 0.15, 0.08, 0.05, 0.05),
    DASHBOARDS: (0.65, 0.30, 0.05, 0, 0, 0),
    _POWERBI: (0.75, 0.10, 0.15, 0, 0, 0),
    _TABLEAU: (0.75, 0.10, 0.15, 0, 0, 0),
    GENIE: (0.90, 0, 0.10, 0, 0, 0),
    _DBEAVER: (0.60, 0, 0.30, 0.05, 0.05, 0),
    DBT: (0.35, 0, 0.15, 0.50, 0, 0),
    ALERTS: (0.80, 0.20, 0, 0, 0, 0),
    NOTEBOOK: (0.70, 0, 0.20, 0, 0, 0.10),
    PIPELINES: (0, 0, 0, 1, 0, 0),
}
_IDLE_KIND_P = (0, 0.6, 0.4, 0, 0, 0)  # an idle hour sees only cached results and metadata: no task time
USER_CLIENT_P = (0.4, 0.3, 0.1, 0.1, 0.05, 0.05, 0, 0, 0, 0)
SERVICE_CLIENT_P = (0, 0.7, 0, 0, 0, 0, 0, 0.3, 0, 0)
STATEMENT_TYPES: tuple[str | None, ...] = (
    "SELECT",
    "SHOW",
    "SET",
    "USE",
    "DESCRIBE",
    "INSERT",
    "MERGE",
    "CREATE",
    "OPTIMIZE",
    "COPY",
    "EXPLAIN",
    "ANALYZE",
    "REFRESH",
    None,
)
# Per kind: (first statement type, number of types to choose from evenly); ETL weights are uneven on purpose.
_KIND_TYPES = {_SELECT: (0, 1), _CACHED: (0, 1), _METADATA: (1, 4), ETL: (5, 5), _UNTYPED: (13, 1), _OTHER: (10, 2)}
_STATEMENT_TEXTS = {
    "SELECT": "SELECT region, sum(amount) AS revenue FROM main.sales.orders WHERE order_date >= :start GROUP BY region",
    "SHOW": "SHOW TABLES IN main.sales",
    "SET": "SET TIME ZONE 'UTC'",
    "USE": "USE CATALOG main",
    "DESCRIBE": "DESCRIBE TABLE EXTENDED main.sales.orders",
    "INSERT": "INSERT INTO main.sales.daily_revenue SELECT order_date, sum(amount) FROM main.sales.orders GROUP BY 1",
    "MERGE": "MERGE INTO main.crm.customers t USING main.crm.updates s ON t.id = s.id "
    "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
    "CREATE": "CREATE OR REPLACE TABLE main.finance.ledger_snapshot AS SELECT * FROM main.finance.ledger",
    "OPTIMIZE": "OPTIMIZE main.sales.orders",
    "COPY": "COPY INTO main.raw.events FROM '/Volumes/main/raw/landing' FILEFORMAT = JSON",
    "EXPLAIN": "EXPLAIN SELECT * FROM main.sales.orders",
    "ANALYZE": "ANALYZE TABLE main.sales.orders COMPUTE STATISTICS",
    "REFRESH": "CREATE OR REFRESH STREAMING TABLE orders_bronze AS SELECT * FROM STREAM read_files('/Volumes/raw')",
}
_ERRORS = (
    "[TABLE_OR_VIEW_NOT_FOUND] The table or view `main.sales.order` cannot be found.",
    "[DIVIDE_BY_ZERO] Division by zero. Use `try_divide` to tolerate divisor being 0 and return NULL instead.",
    "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or function parameter with name `amt` cannot be resolved.",
)
EXECUTION_STATUSES = ("FINISHED", "FAILED", "CANCELED")  # one L, unlike the jobs tables
_QUERY_TAG_VARIANTS: tuple[dict[str, str | None] | None, ...] = (
    None,
    {"@@dbt_model_name": "fct_orders", "@@dbt_materialized": "incremental"},
    {"@@dbt_model_name": "dim_customers", "@@dbt_materialized": "table"},
    {"Team": "Finance-Reporting"},  # mixed-case key
    {"project": "churn", "adhoc": None},  # a key-only tag has a NULL value
    {},
)


def _query_tags(index: np.ndarray) -> pa.Array:
    variants = [None if t is None else list(t.items()) for t in _QUERY_TAG_VARIANTS]
    return pa.array(variants, column_arrow_type(system_tables.QUERY_HISTORY, "query_tags")).take(pa.array(index))


@dataclass
class Statements:
    """Per-statement numpy columns common to every source of statements, before they become a table."""

    stream: np.ndarray
    identity: np.ndarray
    executed_as: np.ndarray
    client: np.ndarray
    kind: np.ndarray
    start: np.ndarray
    end: np.ndarray
    wait_for_compute: np.ndarray  # ms; -1 for NULL (serverless)
    statement_type: np.ndarray
    status: np.ndarray
    tags: np.ndarray


def statement_kinds(rng: Generator, client: np.ndarray, idle: np.ndarray | None = None) -> np.ndarray:
    probabilities = np.array([_KIND_P[c] for c in range(len(CLIENT_APPLICATIONS))])[client]
    if idle is not None:
        probabilities[idle] = _IDLE_KIND_P
    return categorical(rng, probabilities)


def statement_types(rng: Generator, kind: np.ndarray) -> np.ndarray:
    first = np.array([_KIND_TYPES[k][0] for k in range(6)])[kind]
    choices = np.array([_KIND_TYPES[k][1] for k in range(6)])[kind]
    etl = rng.choice(5, size=len(kind), p=(0.35, 0.3, 0.15, 0.1, 0.1))
    return first + np.where(kind == ETL, etl, (rng.random(len(kind)) * choices).astype(np.int64))


def durations_ms(rng: Generator, kind: np.ndarray) -> np.ndarray:
    n = len(kind)
    select = np.clip(rng.lognormal(np.log(3_000), 1.4, n), 30, 3 * 3_600_000)
    etl = np.clip(rng.lognormal(np.log(90_000), 1.0, n), 1_000, 4 * 3_600_000)
    other = np.clip(rng.lognormal(np.log(800), 1.0, n), 20, 600_000)
    quick = rng.integers(5, 400, n).astype(float)
    out = np.select([kind == _SELECT, kind == ETL, kind == _OTHER], [select, etl, other], quick)
    return out.astype(np.int64)


def statuses(rng: Generator, kind: np.ndarray) -> np.ndarray:
    status = categorical(rng, np.tile([0.93, 0.04, 0.03], (len(kind), 1)))
    return np.where(np.isin(kind, (_CACHED, _METADATA)), 0, status)


def statement_table(rng: Generator, s: Statements, streams: list[Stream], extra: Mapping[str, object]) -> pa.Table:
    """The 44 columns of `system.query.history` from the common columns plus source-specific ones (`extra`).

    The random draws happen in a fixed order (durations, work, errors, statement ids, scans): keep it, or a seed
    generates other data.
    """
    n = len(s.stream)
    executing, durations = _duration_columns(rng, s)
    reads, read_bytes, work = _work_columns(rng, s, executing)
    texts = _text_columns(rng, s, streams)
    identity_ids = [None if i in (None, REDACTED) else user_id(i) for i in QUERY_IDENTITIES]
    ids = rng.integers(0, np.iinfo(np.uint64).max, size=(n, 2), dtype=np.uint64, endpoint=True)
    statement_ids = uuid_chars(ids[:, 0], ids[:, 1])
    cached = s.kind == _CACHED
    origin = np.roll(statement_ids, 1, axis=0)
    values: dict[str, object] = {
        "account_id": const(ACCOUNT_ID, n),
        "workspace_id": pick(workspace_ids(streams), s.stream),
        "statement_id": strings(statement_ids),
        "executed_by": pick(QUERY_IDENTITIES, s.identity),
        "execution_status": pick(EXECUTION_STATUSES, s.status),
        "executed_by_user_id": pick(identity_ids, s.identity),
        "statement_type": pick(STATEMENT_TYPES, s.statement_type),
        "client_application": pick(CLIENT_APPLICATIONS, s.client),
        "client_driver": pick(_CLIENT_DRIVERS, s.client),
        "start_time": timestamps(s.start),
        "end_time": timestamps(s.end),
        "read_partitions": np.where(reads, rng.integers(1, 64, n), 0),
        "read_io_cache_percent": np.where(reads, rng.integers(0, 101, n), 0).astype(np.int8),
        "from_result_cache": cached,
        "spilled_local_bytes": np.where(reads & (rng.random(n) < 0.02), read_bytes // 3, 0),
        "executed_as_user_id": pick(identity_ids, s.executed_as),
        "executed_as": pick(QUERY_IDENTITIES, s.executed_as),
        "cache_origin_statement_id": strings(origin, cached & (np.arange(n) > 0)),
        "query_tags": _query_tags(s.tags),
    }
    return table(system_tables.QUERY_HISTORY, n, {**values, **durations, **work, **texts, **extra})


def _duration_columns(rng: Generator, s: Statements) -> tuple[np.ndarray, dict[str, object]]:
    """(execution ms, duration columns): waiting for compute and at capacity, compiling and executing make the total."""
    n = len(s.stream)
    total = (s.end - s.start) // MS
    waited = np.maximum(s.wait_for_compute, 0)
    rest = total - waited
    queued = np.where((rng.random(n) < 0.05) & np.isin(s.kind, (_SELECT, ETL)), (rest * rng.uniform(0, 0.3, n)), 0)
    queued = queued.astype(np.int64)
    compiling = np.minimum(rest - queued, rng.integers(5, 600, n))
    executing = rest - queued - compiling
    return executing, {
        "total_duration_ms": total,
        "waiting_for_compute_duration_ms": nullable(waited, s.wait_for_compute >= 0),
        "waiting_at_capacity_duration_ms": queued,
        "execution_duration_ms": executing,
        "compilation_duration_ms": compiling,
    }


def _work_columns(
    rng: Generator, s: Statements, executing: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """(reads, read bytes, work columns): task time, result fetch, and the rows, files and bytes read and written."""
    n = len(s.stream)
    parallel = rng.lognormal(np.log(6), 1.3, n) * np.where(s.kind == ETL, 3, 1)
    partial = np.where(s.status == 0, 1.0, rng.uniform(0.05, 1.0, n))  # failed and cancelled statements used time
    task = (executing * parallel * partial).astype(np.int64)
    task = np.where(np.isin(s.kind, (_CACHED, _METADATA)), 0, task)
    task = np.where((s.kind == _UNTYPED) & (rng.random(n) < 0.5), 0, task)
    task_known = ~((s.kind == _CACHED) & (rng.random(n) < 0.5))  # cached results: task time 0 or NULL
    fetch = np.select(
        [s.kind == _SELECT, s.kind == _CACHED], [rng.integers(0, 800, n), rng.integers(0, 50, n)], 0
    ).astype(np.int64)
    reads = task > 0
    read_rows = np.where(reads, (task * rng.lognormal(np.log(2_000), 1.0, n)).astype(np.int64), 0)
    read_bytes = read_rows * rng.integers(40, 400, n)
    read_files = np.where(reads, np.maximum(read_bytes // (64 << 20), 1), 0)
    pruned = np.where(reads, (read_files * rng.uniform(0, 3, n)).astype(np.int64), 0)
    writes = s.kind == ETL
    written_rows = np.where(writes, read_rows // rng.integers(2, 20, n), 0)
    produced = np.where(
        s.kind == _SELECT, rng.integers(1, 10_000, n), np.where(s.kind == _CACHED, rng.integers(1, 500, n), 0)
    )
    return (
        reads,
        read_bytes,
        {
            "total_task_duration_ms": nullable(task, task_known),
            "result_fetch_duration_ms": fetch,
            "update_time": timestamps(s.end + fetch * MS),
            "pruned_files": pruned,
            "read_files": read_files,
            "read_rows": read_rows,
            "produced_rows": produced,
            "read_bytes": read_bytes,
            "written_bytes": np.where(writes, read_bytes // 4, 0),
            "shuffle_read_bytes": np.where(reads, read_bytes // 10, 0),
            "written_rows": written_rows,
            "written_files": np.where(writes, np.maximum(written_rows // 1_000_000, 1), 0),
            "pruned_files_bytes": pruned * (32 << 20),
            "read_files_bytes": read_files * (64 << 20),
        },
    )


def _text_columns(rng: Generator, s: Statements, streams: list[Stream]) -> dict[str, object]:
    """statement_text and error_message: both empty in workspaces with customer-managed keys."""
    n = len(s.stream)
    cmk = np.array([x.workload.workspace in CMK_WORKSPACES for x in streams])[s.stream]
    texts = [_STATEMENT_TEXTS.get(t or "", "CALL main.ops.refresh_stats()") for t in STATEMENT_TYPES]
    text_index = np.where(cmk, len(texts), s.statement_type)
    error_index = np.where(s.status == 1, rng.integers(0, len(_ERRORS), n), len(_ERRORS) + 1)
    error_index = np.where((s.status == 1) & cmk, len(_ERRORS), error_index)
    return {
        "statement_text": pick([*texts, ""], text_index),
        "error_message": pick([*_ERRORS, "", None], error_index),
    }
