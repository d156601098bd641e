"""`system.query.history`: the statements of warehouses, serverless notebooks and pipeline updates."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from numpy.random import Generator

from chargeback.local.synthetic.account import JOB_CHURN_SCORING, SP_DATA_ENG, SP_FINANCE, SP_PLATFORM, WS_PROD
from chargeback.local.synthetic.columns import ACTIVITY_CHUNK_ROWS, Struct, const, pick
from chargeback.local.synthetic.plan import ActivityPlan, Stream
from chargeback.local.synthetic.runs import COMPUTE_TYPES, PipelineUpdates
from chargeback.local.synthetic.statements import (
    ALERTS,
    DASHBOARDS,
    DBT,
    EDITOR,
    ETL,
    GENIE,
    IDENTITY_INDEX,
    NOTEBOOK,
    PIPELINES,
    QUERY_IDENTITIES,
    SERVICE_CLIENT_P,
    STATEMENT_TYPES,
    USER_CLIENT_P,
    Statements,
    durations_ms,
    statement_kinds,
    statement_table,
    statement_types,
    statuses,
)
from chargeback.local.synthetic.values import (
    categorical,
    char_matrix,
    digit_chars,
    hex_id,
    job_run_number,
    mix64,
    run_cluster_id_chars,
    strings,
    update_id_chars,
    uuid_chars,
)
from chargeback.local.synthetic.warehouses import WAREHOUSES, WarehouseHours
from chargeback.local.synthetic.window import MS, H, S, Window, epoch_day
from chargeback.local.synthetic.workload import is_regional

# Statements on a warehouse per usage record of its hour (so query history grows with `scale`).
QUERIES_PER_RECORD = 0.6
# Salts the job task run ids of the churn job's dbt statements (`query_source.job_info`).
_SALT_TASK = np.uint64(71)


def _row_identities(streams: list[Stream], stream: np.ndarray, rng: Generator) -> np.ndarray:
    """Each warehouse statement's `executed_by`, drawn from the warehouse's users."""
    weights = np.zeros((len(streams), len(QUERY_IDENTITIES)))
    for i, s in enumerate(streams):
        cfg = WAREHOUSES.get(s.workload.metadata.get("warehouse_id", ""))
        for identity, weight in cfg.identities if cfg else ():
            weights[i, IDENTITY_INDEX[identity]] = weight
    weights = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)
    return categorical(rng, weights[stream])


def _dashboard_owners(streams: list[Stream]) -> np.ndarray:
    """Per stream, whose privileges a warehouse's dashboards run with (`executed_as` differs from `executed_by`)."""
    owners = [WAREHOUSES.get(s.workload.metadata.get("warehouse_id", "")) for s in streams]
    return np.array([IDENTITY_INDEX[o.dashboard_owner if o else None] for o in owners])


def _clients(rng: Generator, identity: np.ndarray) -> np.ndarray:
    services = np.isin(identity, [IDENTITY_INDEX[SP_FINANCE], IDENTITY_INDEX[SP_PLATFORM]])
    probabilities = np.where(services[:, None], SERVICE_CLIENT_P, USER_CLIENT_P)
    return np.where(identity == IDENTITY_INDEX[SP_DATA_ENG], DBT, categorical(rng, probabilities))


def warehouse_statement_tables(
    streams: list[Stream], plan: ActivityPlan, window: Window, hours: WarehouseHours, salt: np.uint64, rng: Generator
) -> Iterator[pa.Table]:
    """Statements on the warehouses, hour by hour, chunked: busy hours get about QUERIES_PER_RECORD statements per
    usage record, idle hours none or a few cached results and metadata statements with no task time."""
    idle = hours.idle
    count = np.where(
        idle,
        (rng.random(len(idle)) < 0.3) * rng.integers(1, 4, len(idle)),
        1 + rng.poisson(QUERIES_PER_RECORD * hours.records),
    )
    session_words = rng.integers(0, 2**63, 2, dtype=np.int64).astype(np.uint64)
    churn = _block_by_hour(streams, plan, window, JOB_CHURN_SCORING)
    cumulative = np.cumsum(count)
    cuts = np.searchsorted(cumulative, np.arange(ACTIVITY_CHUNK_ROWS, cumulative[-1], ACTIVITY_CHUNK_ROWS)) + 1
    edges = np.unique(np.concatenate(([0], cuts, [len(count)])))
    for lo, hi in itertools.pairwise(edges.tolist()):
        yield _warehouse_statements(
            streams, window, hours, np.arange(lo, hi), count[lo:hi], churn, salt, session_words, rng
        )


def _block_by_hour(streams: list[Stream], plan: ActivityPlan, window: Window, job_id: str) -> np.ndarray:
    """The usage block of a job's stream in each hour of the window (-1 when the job is not running)."""
    (index,) = [i for i, s in enumerate(streams) if not s.launch and s.workload.metadata.get("job_id") == job_id]
    blocks = np.full(window.hours + 1, -1, dtype=np.int64)
    mine = plan.stream == index
    blocks[plan.hour[mine]] = plan.block[mine]
    return blocks


def _warehouse_statements(
    streams: list[Stream],
    window: Window,
    hours: WarehouseHours,
    slots: np.ndarray,
    count: np.ndarray,
    churn_block: np.ndarray,
    salt: np.uint64,
    session_words: np.ndarray,
    rng: Generator,
) -> pa.Table:
    slot = np.repeat(slots, count)
    rank = np.arange(len(slot)) - np.repeat(np.cumsum(count) - count, count)
    statements = _warehouse_statement_rows(streams, hours, slot, rank, rng)
    warehouse_ids = [s.workload.metadata.get("warehouse_id") for s in streams]
    extra = {
        "session_id": _session_ids(statements, session_words),
        "compute": Struct(
            {"type": const("WAREHOUSE", len(slot)), "warehouse_id": pick(warehouse_ids, statements.stream)}
        ),
        "query_source": _warehouse_query_source(streams, window, statements, churn_block, salt, rng),
    }
    return statement_table(rng, statements, streams, extra)


def _warehouse_statement_rows(
    streams: list[Stream], hours: WarehouseHours, slot: np.ndarray, rank: np.ndarray, rng: Generator
) -> Statements:
    """Who runs each statement, from which client, when, and what it is; `rank` 0 in the first hour of a block is
    the statement that woke the warehouse."""
    n = len(slot)
    stream, idle = hours.stream[slot], hours.idle[slot]
    identity = _row_identities(streams, stream, rng)
    client = np.where(idle, rng.choice((EDITOR, DASHBOARDS), n), _clients(rng, identity))
    kind = statement_kinds(rng, client, idle)
    lo, hi, open_until, running = hours.lo[slot], hours.hi[slot], hours.open_until[slot], hours.running_at[slot]
    span = np.where(idle, 60 * S, hi - lo - S)
    start = lo + (rng.random(n) * span).astype(np.int64) // MS * MS
    start = np.where(hours.block_start[slot] & (rank == 0), lo, start)  # the statement that woke the warehouse
    # A statement received before the warehouse was RUNNING waited for compute, then ran.
    end = np.minimum(np.maximum(start, running) + durations_ms(rng, kind) * MS, np.where(idle, start + H, open_until))
    boundary = (start // H + 1) * H
    on_the_hour = ~idle & (rng.random(n) < 0.01) & (boundary <= open_until)
    end = np.where(on_the_hour, boundary, end)
    owner = _dashboard_owners(streams)[stream]
    executed_as = np.where(client == DASHBOARDS, owner, identity)
    tags = np.select(
        [client == DBT, identity == IDENTITY_INDEX[SP_FINANCE], (client == EDITOR) & (rng.random(n) < 0.05)],
        [1 + (rng.random(n) < 0.4), np.full(n, 3), np.full(n, 4)],
        0,
    )
    return Statements(
        stream,
        identity,
        executed_as,
        client,
        kind,
        start,
        end,
        np.maximum(running - start, 0) // MS,
        statement_types(rng, kind),
        statuses(rng, kind),
        tags,
    )


def _session_ids(s: Statements, session_words: np.ndarray) -> pa.Array:
    """One session per warehouse, day and identity."""
    day = (s.start // (24 * H)).astype(np.uint64)
    session = (s.stream.astype(np.uint64) << np.uint64(40)) | (day << np.uint64(8)) | s.identity.astype(np.uint64)
    return strings(uuid_chars(mix64(session ^ session_words[0]), mix64(session ^ session_words[1])))


def _churn_job_info(
    streams: list[Stream], window: Window, s: Statements, churn_block: np.ndarray, salt: np.uint64
) -> Struct:
    """A dbt statement during a run of the churn job is one of its SQL tasks: query_source.job_info names the run."""
    n = len(s.stream)
    absolute_hour = s.start // H - epoch_day(window.start_date) * 24
    in_window = (absolute_hour >= 0) & (absolute_hour < len(churn_block))
    block = np.where(in_window, churn_block[np.clip(absolute_hour, 0, len(churn_block) - 1)], -1)
    churn_ws = np.array([x.workload.workspace == WS_PROD for x in streams])[s.stream]
    in_job = (s.client == DBT) & (block >= 0) & churn_ws
    run_key = (np.maximum(block, 0).astype(np.uint64) << np.uint64(32)) ^ salt
    task_run = 10**14 + mix64(run_key ^ _SALT_TASK ^ s.start.astype(np.uint64)) % (9 * 10**14)
    return Struct(
        {
            "job_id": strings(char_matrix([JOB_CHURN_SCORING])[np.zeros(n, int)], in_job),
            "job_run_id": strings(digit_chars(job_run_number(run_key), 15), in_job),
            "job_task_run_id": strings(digit_chars(task_run, 15), in_job),
        }
    )


def _warehouse_query_source(
    streams: list[Stream],
    window: Window,
    s: Statements,
    churn_block: np.ndarray,
    salt: np.uint64,
    rng: Generator,
) -> Struct:
    """The job run, dashboard, alert, saved query or Genie space a warehouse statement came from."""
    n, stream, client = len(s.stream), s.stream, s.client
    warehouse_ids = [x.workload.metadata.get("warehouse_id") for x in streams]
    dashboards = [hex_id(f"dashboard:{w}:{j}") for w in warehouse_ids for j in range(2)]
    queries = [hex_id(f"query:{w}:{j}", 36) for w in warehouse_ids for j in range(3)]
    alert = client == ALERTS
    editor_query = (client == EDITOR) & (rng.random(n) < 0.5)
    query_index = np.where(alert, 3 * stream + 2, 3 * stream + rng.integers(0, 2, n))
    return Struct(
        {
            "job_info": _churn_job_info(streams, window, s, churn_block, salt),
            "dashboard_id": pick(
                [*dashboards, None],
                np.where(client == DASHBOARDS, 2 * stream + rng.integers(0, 2, n), len(dashboards)),
            ),
            "alert_id": pick(
                [*(hex_id(f"alert:{w}", 36) for w in warehouse_ids), None],
                np.where(alert, stream, len(warehouse_ids)),
            ),
            "sql_query_id": pick([*queries, None], np.where(alert | editor_query, query_index, len(queries))),
            "genie_space_id": pick(
                [*(hex_id(f"genie:{w}") for w in warehouse_ids), None],
                np.where(client == GENIE, stream, len(warehouse_ids)),
            ),
        }
    )


def notebook_statement_table(streams: list[Stream], plan: ActivityPlan, window: Window, rng: Generator) -> pa.Table:
    """Statements of serverless notebooks: SERVERLESS_COMPUTE, no warehouse, NULL waiting_for_compute."""
    wanted = np.array([not s.launch and s.workload.kind == "notebook" and is_regional(s.workload) for s in streams])
    groups = np.flatnonzero(wanted[plan.stream])
    count = rng.poisson(0.6 * plan.records[groups])
    group = np.repeat(groups, count)
    n = len(group)
    stream = plan.stream[group]
    start = (epoch_day(window.start_date) * 24 + plan.hour[group]) * H + rng.integers(0, 3_599_000, n) * MS
    client = np.full(n, NOTEBOOK)
    kind = statement_kinds(rng, client)
    identity = np.array([IDENTITY_INDEX.get(s.workload.identity.get("run_as"), 0) for s in streams])[stream]
    statements = Statements(
        stream,
        identity,
        identity,
        client,
        kind,
        start,
        start + np.maximum(durations_ms(rng, kind), 1) * MS,
        np.full(n, -1),
        statement_types(rng, kind),
        statuses(rng, kind),
        np.full(n, 5),
    )
    notebook_ids = [s.workload.metadata.get("notebook_id") for s in streams]
    extra = {
        "session_id": strings(uuid_chars(mix64(group.astype(np.uint64)), mix64(stream.astype(np.uint64)))),
        "compute": Struct({"type": const("SERVERLESS_COMPUTE", n)}),
        "query_source": Struct({"job_info": Struct({}), "notebook_id": pick(notebook_ids, stream)}),
    }
    return statement_table(rng, statements, streams, extra)


def pipeline_statement_table(
    streams: list[Stream], updates: PipelineUpdates, window: Window, rng: Generator
) -> pa.Table:
    """One statement per pipeline update (query history covers Lakeflow pipelines), on the update's compute."""
    n = len(updates.stream)
    start = updates.start + rng.integers(5_000, 60_000, n) * MS
    end = np.maximum(updates.end - rng.integers(0, 10_000, n) * MS, start + S)
    client = np.full(n, PIPELINES)
    kind = np.full(n, ETL)
    identity = np.array([IDENTITY_INDEX.get(s.workload.identity.get("run_as"), 0) for s in streams])[updates.stream]
    statements = Statements(
        updates.stream,
        identity,
        identity,
        client,
        kind,
        start,
        end,
        np.full(n, -1),
        np.full(n, STATEMENT_TYPES.index("REFRESH")),
        updates.state,
        np.full(n, 5),
    )
    extra = {
        "session_id": strings(update_id_chars(updates.salted_key ^ np.uint64(1))),
        "compute": Struct(
            {
                "type": pick(COMPUTE_TYPES, np.where(updates.has_cluster, 2, 1)),
                "cluster_id": strings(
                    run_cluster_id_chars(window, updates.block_hour, updates.salted_key), updates.has_cluster
                ),
            }
        ),
        "query_source": Struct(
            {
                "job_info": Struct({}),
                "pipeline_info": Struct(
                    {
                        "pipeline_id": pick(
                            [s.workload.metadata.get("dlt_pipeline_id") for s in streams], updates.stream
                        ),
                        "update_id": strings(update_id_chars(updates.salted_key)),
                    }
                ),
            }
        ),
    }
    return statement_table(rng, statements, streams, extra)
