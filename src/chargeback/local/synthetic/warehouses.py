"""`system.compute.warehouses` and `system.compute.warehouse_events`, and the hours the warehouses ran."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numpy.random import Generator

from chargeback.contracts import system_tables
from chargeback.local.synthetic.account import (
    ACCOUNT_ID,
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
    WH_FINANCE_BI,
    WH_FINANCE_REPORTING,
    WH_MARKETING_ADHOC,
    WH_RETIRED,
    WH_SHARED_BI,
    WS_PROD,
    Workspace,
)
from chargeback.local.synthetic.columns import const, pick, table, timestamps
from chargeback.local.synthetic.inventory import WORKLOADS
from chargeback.local.synthetic.plan import ActivityPlan, Stream, workspace_ids
from chargeback.local.synthetic.window import MS, H, S, Window, epoch_day
from chargeback.local.synthetic.workload import is_regional

RESIZE_SIZE, RESIZE_MAX_CLUSTERS = "LARGE", 4  # shared-bi is resized at the reorg instant


@dataclass(frozen=True)
class Warehouse:
    """A SQL warehouse's configuration and who queries it (identity, weight; None = NULL `executed_by`)."""

    warehouse_type: str
    size: str
    min_clusters: int
    max_clusters: int
    auto_stop_minutes: int
    channel: str
    created_by: str
    dashboard_owner: str
    identities: tuple[tuple[str | None, float], ...]


WAREHOUSES: dict[str, Warehouse] = {
    WH_FINANCE_BI: Warehouse(
        "SERVERLESS",
        "SMALL",
        1,
        2,
        10,
        "CURRENT",
        USER_FRANK,
        USER_FRANK,
        ((USER_FRANK, 0.3), (SP_FINANCE, 0.25), (USER_SAM, 0.15), (USER_ALICE, 0.1), (USER_BOB, 0.1), (None, 0.1)),
    ),
    WH_SHARED_BI: Warehouse(
        "SERVERLESS",
        "MEDIUM",
        1,
        2,
        10,
        "CURRENT",
        USER_PLATFORM_ADMIN,
        USER_PLATFORM_ADMIN,
        (
            (USER_ALICE, 0.2),
            (USER_BOB, 0.14),
            (USER_MARIA, 0.14),
            (USER_FRANK, 0.1),
            (USER_SAM, 0.1),
            (SP_DATA_ENG, 0.16),
            (SP_PLATFORM, 0.06),
            (USER_GUEST, 0.04),
            (None, 0.04),
            (REDACTED, 0.02),
        ),
    ),
    WH_MARKETING_ADHOC: Warehouse(
        "SERVERLESS",
        "2X_SMALL",
        1,
        1,
        5,
        "PREVIEW",
        USER_MARIA,
        USER_MARIA,
        ((USER_MARIA, 0.6), (USER_BOB, 0.2), (USER_GUEST, 0.15), (None, 0.05)),
    ),
    WH_FINANCE_REPORTING: Warehouse(
        "PRO", "SMALL", 1, 1, 30, "CURRENT", USER_FRANK, USER_FRANK, ((USER_FRANK, 0.4), (SP_FINANCE, 0.5), (None, 0.1))
    ),
}


def warehouse_rows(window: Window) -> list[dict[str, object]]:
    """SCD2 rows of every regional warehouse (shared-bi resized at the reorg), plus one deleted before the window."""
    rows = []
    warehouses = [w for w in WORKLOADS if w.kind == "sql" and is_regional(w)]
    for i, w in enumerate(warehouses):
        wid = w.metadata["warehouse_id"]
        cfg = WAREHOUSES[wid]
        created = window.start - dt.timedelta(days=90 + 13 * i, seconds=2_221 * i)
        rows.append(_warehouse_row(w.workspace, wid, w.key, cfg, dict(w.tags), created, None))
        if wid == WH_SHARED_BI:
            resized = Warehouse(**{**vars(cfg), "size": RESIZE_SIZE, "max_clusters": RESIZE_MAX_CLUSTERS})
            changed = window.change_time - dt.timedelta(minutes=17)
            rows.append(_warehouse_row(w.workspace, wid, w.key, resized, dict(w.tags), changed, None))
    retired = Warehouse("CLASSIC", "X_LARGE", 1, 1, 120, "CURRENT", USER_PLATFORM_ADMIN, USER_PLATFORM_ADMIN, ())
    created = window.start - dt.timedelta(days=400)
    deleted = window.start - dt.timedelta(days=10, hours=5)
    rows.append(_warehouse_row(WS_PROD, WH_RETIRED, "legacy-bi", retired, {}, created, None))
    rows.append(_warehouse_row(WS_PROD, WH_RETIRED, "legacy-bi", retired, {}, deleted, deleted))
    return rows


def _warehouse_row(
    ws: Workspace,
    warehouse_id: str,
    name: str,
    cfg: Warehouse,
    tags: dict[str, str],
    change_time: dt.datetime,
    delete_time: dt.datetime | None,
) -> dict[str, object]:
    return {
        "warehouse_id": warehouse_id,
        "workspace_id": ws.workspace_id,
        "account_id": ACCOUNT_ID,
        "warehouse_name": name,
        "warehouse_type": cfg.warehouse_type,
        "warehouse_channel": cfg.channel,
        "warehouse_size": cfg.size,
        "min_clusters": cfg.min_clusters,
        "max_clusters": cfg.max_clusters,
        "auto_stop_minutes": cfg.auto_stop_minutes,
        "tags": tags,
        "change_time": change_time,
        "delete_time": delete_time,
        "created_by": cfg.created_by,
    }


@dataclass(frozen=True)
class WarehouseHours:
    """Every billed hour of every regional warehouse, plus one unbilled hour each after the window (billing lags
    query history), and the warehouse events of their blocks of consecutive hours. Times are epoch microseconds.

    Statements of a busy hour start in [lo, hi) and may run on until `open_until`, the end of the run of busy
    hours they are in: so no statement reaches an idle hour, and some end exactly on the hour.
    """

    stream: np.ndarray
    records: np.ndarray
    idle: np.ndarray
    block_start: np.ndarray  # the hour is the first of its block
    lo: np.ndarray
    hi: np.ndarray
    open_until: np.ndarray
    running_at: np.ndarray  # when the block's warehouse became RUNNING (queries before it waited for compute)
    event_stream: np.ndarray
    event_type: np.ndarray  # index into WAREHOUSE_EVENT_TYPES
    event_count: np.ndarray
    event_time: np.ndarray


WAREHOUSE_EVENT_TYPES = ("STARTING", "RUNNING", "SCALED_UP", "SCALED_DOWN", "STOPPING", "STOPPED")  # 0 to 5


def warehouse_hours(streams: list[Stream], plan: ActivityPlan, window: Window, rng: Generator) -> WarehouseHours:
    """The hours and events of the regional warehouses: a block of billed hours starts (STARTING, then RUNNING)
    minutes into its first hour and stops `auto_stop_minutes` after its last statement, inside its last hour.

    Its last hour is idle half of the time (the auto-stop tail), a middle hour now and then, a one-hour block
    sometimes (a dashboard served from the result cache); the busiest middle hours scale up to two clusters.
    """
    parts: list[dict[str, np.ndarray]] = []
    events: list[tuple[np.ndarray, ...]] = []
    base = epoch_day(window.start_date) * 24
    for index, s in enumerate(streams):
        if s.launch or s.workload.kind != "sql" or not is_regional(s.workload):
            continue
        cfg = WAREHOUSES[s.workload.metadata["warehouse_id"]]
        mine = plan.stream == index
        h = _billed_hours(cfg, (base + plan.hour[mine]) * H, plan.records[mine], plan.block[mine], rng)
        kinds, counts, times = _block_events(cfg, h, rng)
        # Statements in the first hour after the window: billing has not caught up with them yet.
        late_start = (base + window.hours) * H + rng.integers(0, 20_000) * MS
        late_running = late_start + rng.integers(4_000, 30_000) * MS
        kinds += [np.array([0, 1])]
        counts += [np.array([0, 1])]
        times += [np.array([late_start, late_running])]
        event_type, event_count, event_time = np.concatenate(kinds), np.concatenate(counts), np.concatenate(times)
        events.append((np.full(len(event_type), index), event_type, event_count, event_time))
        parts.append(_hour_columns(index, h, late_start, late_running))
    joined = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    stream, kind, count, time = (np.concatenate(x) for x in zip(*events, strict=True))
    order = np.lexsort((time, stream))
    return WarehouseHours(
        **joined, event_stream=stream[order], event_type=kind[order], event_count=count[order], event_time=time[order]
    )


@dataclass(frozen=True)
class _BilledHours:
    """One warehouse's billed hours, in order: where its blocks start and end, which hours are idle, and when
    statements may start in each (`lo` to `hi`). Times are epoch microseconds; `start` is the clock hour."""

    records: np.ndarray
    first: np.ndarray
    last: np.ndarray
    idle: np.ndarray
    start: np.ndarray
    starting: np.ndarray  # when the hour's block started (STARTING), if the hour is the first of its block
    running: np.ndarray  # when the hour's block was RUNNING, if the hour is the first of its block
    lo: np.ndarray
    hi: np.ndarray
    auto_stop: int


def _billed_hours(
    cfg: Warehouse, start: np.ndarray, records: np.ndarray, block: np.ndarray, rng: Generator
) -> _BilledHours:
    n = len(start)
    first = np.concatenate(([True], block[1:] != block[:-1]))
    last = np.concatenate((block[1:] != block[:-1], [True]))
    u = rng.random(n)
    idle = np.where(first & last, u < 0.15, np.where(last, u < 0.5, ~first & (u < 0.08)))
    starting = start + rng.integers(0, 480_000, n) * MS
    running = starting + rng.integers(4_000, 90_000, n) * MS
    auto_stop = cfg.auto_stop_minutes * 60 * S
    lo = np.where(first, starting, start)
    hi = np.where(last, start + H - auto_stop - 120 * S, start + H)
    return _BilledHours(records, first, last, idle, start, starting, running, lo, hi, auto_stop)


def _open_until(h: _BilledHours) -> np.ndarray:
    """Per hour, the end of the run of busy hours it is in (a minute after `lo` for an idle hour)."""
    busy = ~h.idle
    segment = np.cumsum(busy & (h.first | np.concatenate(([True], h.idle[:-1]))))
    segment_end = busy & (h.last | np.concatenate((h.idle[1:], [True])))
    cap = np.zeros(int(segment.max()) + 1, dtype=np.int64)
    cap[segment[segment_end]] = h.hi[segment_end]
    return np.where(busy, cap[segment], h.lo + 61 * S)


def _block_events(
    cfg: Warehouse, h: _BilledHours, rng: Generator
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """(event types, cluster counts, times): STARTING/RUNNING at the first hour of a block, STOPPING/STOPPED in the
    last, and scaling in the busiest middle hours of a warehouse that can scale."""
    f, la = np.flatnonzero(h.first), np.flatnonzero(h.last)
    stop_base = np.where(h.idle[la], np.maximum(h.lo[la] + 61 * S, h.running[f] + S), h.hi[la])
    stopping = np.minimum(stop_base + h.auto_stop + rng.integers(0, 30_000, len(la)) * MS, h.start[la] + H - 20 * S)
    stopped = stopping + rng.integers(3_000, 15_000, len(la)) * MS
    kinds = [np.zeros(len(f), int), np.ones(len(f), int), np.full(len(la), 4), np.full(len(la), 5)]
    counts = [np.zeros(len(f), int), np.ones(len(f), int), np.ones(len(la), int), np.zeros(len(la), int)]
    times = [h.starting[f], h.running[f], stopping, stopped]
    if cfg.max_clusters > 1:
        busiest = ~h.idle & ~h.first & ~h.last & (h.records >= np.quantile(h.records, 0.75))
        b = np.flatnonzero(busiest)
        kinds += [np.full(len(b), 2), np.full(len(b), 3)]
        counts += [np.full(len(b), 2), np.ones(len(b), int)]
        times += [
            h.start[b] + rng.integers(60_000, 900_000, len(b)) * MS,
            h.start[b] + rng.integers(2_400_000, 3_300_000, len(b)) * MS,
        ]
    return kinds, counts, times


def _hour_columns(index: int, h: _BilledHours, late_start: np.int64, late_running: np.int64) -> dict[str, np.ndarray]:
    """The `WarehouseHours` columns of one warehouse: its billed hours, then the unbilled hour after the window."""
    n = len(h.start)
    # The block's RUNNING time, carried to each of its hours.
    block_running = h.running[h.first][np.cumsum(h.first) - 1]
    late_end = late_start + 40 * 60 * S
    return {
        "stream": np.full(n + 1, index),
        "records": np.append(h.records, 2),
        "idle": np.append(h.idle, False),
        "block_start": np.append(h.first, True),
        "lo": np.append(h.lo, late_start),
        "hi": np.append(h.hi, late_end),
        "open_until": np.append(_open_until(h), late_end),
        "running_at": np.append(block_running, late_running),
    }


def warehouse_event_table(streams: list[Stream], hours: WarehouseHours) -> pa.Table:
    n = len(hours.event_stream)
    return table(
        system_tables.WAREHOUSE_EVENTS,
        n,
        {
            "account_id": const(ACCOUNT_ID, n),
            "workspace_id": pick(workspace_ids(streams), hours.event_stream),
            "warehouse_id": pick([s.workload.metadata.get("warehouse_id") for s in streams], hours.event_stream),
            "event_type": pick(WAREHOUSE_EVENT_TYPES, hours.event_type),
            "cluster_count": hours.event_count.astype(np.int32),
            "event_time": timestamps(hours.event_time),
        },
    )
