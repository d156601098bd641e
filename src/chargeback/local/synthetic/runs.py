"""`system.lakeflow.job_run_timeline` and `system.lakeflow.pipeline_update_timeline`: the runs usage bills."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from numpy.random import Generator

from chargeback.contracts import system_tables
from chargeback.local.synthetic.account import ACCOUNT_ID
from chargeback.local.synthetic.columns import (
    Struct,
    arrow_column,
    column_arrow_type,
    const,
    lists,
    nullable,
    pick,
    row_chunks,
    table,
    timestamps,
)
from chargeback.local.synthetic.plan import ActivityPlan, Stream, workspace_ids
from chargeback.local.synthetic.usage import RECORDS_PER_RUN
from chargeback.local.synthetic.values import (
    categorical,
    digit_chars,
    job_run_number,
    mix64,
    run_cluster_id_chars,
    strings,
    update_id_chars,
    uuid_chars,
)
from chargeback.local.synthetic.window import MS, H, S, Window, epoch_day, epoch_micros
from chargeback.local.synthetic.workload import changed_part, is_regional

if TYPE_CHECKING:
    from pyspark.sql.types import StructType


JOB_KINDS = ("job_classic", "job_serverless")
PIPELINE_KINDS = ("pipeline_classic", "pipeline_serverless")
_SCHEDULED = ("nightly", "early", "etl")


@dataclass(frozen=True)
class RunPlan:
    """The runs usage bills (job runs or pipeline updates), sorted by run key `block << 32 | k`.

    Run k of a block of consecutive active hours has the usage records ranked 4k to 4k+3 in each hour of the block
    (`RECORDS_PER_RUN`), as the usage facts number them: it spans the hours from the first to the last it bills.
    """

    stream: np.ndarray
    key: np.ndarray
    first_hour: np.ndarray
    last_hour: np.ndarray
    block_hour: np.ndarray

    @property
    def block(self) -> np.ndarray:
        return self.key >> np.uint64(32)

    @property
    def k(self) -> np.ndarray:
        return (self.key & np.uint64(0xFFFFFFFF)).astype(np.int64)


def plan_runs(streams: list[Stream], plan: ActivityPlan, kinds: tuple[str, ...]) -> RunPlan:
    """The runs of regional streams of the given workload kinds."""
    wanted = np.array([not s.launch and s.workload.kind in kinds and is_regional(s.workload) for s in streams])
    groups = np.flatnonzero(wanted[plan.stream])
    per_group = (plan.records[groups] + RECORDS_PER_RUN - 1) // RECORDS_PER_RUN
    group = np.repeat(groups, per_group)
    k = np.arange(int(per_group.sum())) - np.repeat(np.cumsum(per_group) - per_group, per_group)
    key = (plan.block[group].astype(np.uint64) << np.uint64(32)) | k.astype(np.uint64)
    order = np.argsort(key, kind="stable")  # within a run, groups stay hour-major: first and last hour
    key, group = key[order], group[order]
    unique, first, count = np.unique(key, return_index=True, return_counts=True)
    head, tail = group[first], group[first + count - 1]
    return RunPlan(plan.stream[head], unique, plan.hour[head], plan.hour[tail], plan.block_start[head])


def _run_times(
    streams: list[Stream], runs: RunPlan, window: Window, rng: Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, end, scheduled): a scheduled run's first run of a block starts minutes after the hour."""
    n = len(runs.key)
    base = epoch_day(window.start_date) * 24
    scheduled = np.array([s.workload.activity in _SCHEDULED for s in streams])[runs.stream]
    start_ms = np.where(scheduled & (runs.k == 0), rng.integers(5_000, 300_000, n), rng.integers(0, 2_400_000, n))
    end_ms = rng.integers(np.where(runs.first_hour == runs.last_hour, start_ms + 120_000, 120_000), 3_540_000)
    start = (base + runs.first_hour) * H + start_ms * MS
    end = (base + runs.last_hour) * H + end_ms * MS
    return start, end, scheduled


def retries(
    stream: np.ndarray, start: np.ndarray, end: np.ndarray, failed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(failed, retry) index pairs: a failed run is retried by the next run of its stream that starts after it ended
    (each run retries at most one failed run: the one that ended first)."""
    key = (stream.astype(np.int64) << np.int64(51)) | start  # epoch microseconds stay below 2^51 until 2041
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    f = np.flatnonzero(failed)
    f = f[np.argsort(end[f], kind="stable")]
    position = np.searchsorted(ordered, (stream[f].astype(np.int64) << np.int64(51)) | end[f], side="right")
    found = position < len(ordered)
    f, position = f[found], position[found]
    same_stream = (ordered[position] >> np.int64(51)) == stream[f]
    f, target = f[same_stream], order[position[same_stream]]
    target, first = np.unique(target, return_index=True)
    return f[first], target


RUN_STATES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED", "ERROR", "SKIPPED")
_SUCCEEDED, _FAILED, _TIMED_OUT, _CANCELLED, _ERROR, _SKIPPED = range(6)
_RUN_STATE_P = (0.88, 0.07, 0.015, 0.025, 0.01)
JOB_TRIGGER_TYPES = ("CRON", "ONETIME", "ONETIME_RETRY")
_TERMINATION_CODES = ("SUCCESS", "RUN_EXECUTION_ERROR", "RUN_EXECUTION_ERROR", "CANCELLED", "CLUSTER_ERROR", "SKIPPED")
_TERMINATION_TYPES = ("SUCCESS", "CLIENT_ERROR", "CLIENT_ERROR", "CLIENT_ERROR", "SERVICE_ERROR", "CLIENT_ERROR")


@dataclass(frozen=True)
class JobAttempts:
    """One row per attempt of a job run, each ending in a final timeline row: a run's first attempt, the repair of
    a failed run (same run id: a second final row), and runs that never started (start = end, SKIPPED, no usage).
    """

    stream: np.ndarray
    run_number: np.ndarray  # the 15-digit job run id
    salted_key: np.ndarray
    block_hour: np.ndarray
    has_cluster: np.ndarray
    start: np.ndarray
    end: np.ndarray
    state: np.ndarray  # index into RUN_STATES
    trigger: np.ndarray  # index into JOB_TRIGGER_TYPES
    setup_s: np.ndarray
    queue_s: np.ndarray
    cleanup_s: np.ndarray

    def take(self, index: np.ndarray) -> JobAttempts:
        return JobAttempts(**{k: v[index] for k, v in vars(self).items()})


def job_runs(streams: list[Stream], runs: RunPlan, window: Window, salt: np.uint64, rng: Generator) -> JobAttempts:
    """Times and outcomes of the billed job runs: some fail, some are repaired, some are retried by a new run."""
    n = len(runs.key)
    start, end, scheduled = _run_times(streams, runs, window, rng)
    state = categorical(rng, np.tile(np.array(_RUN_STATE_P) / sum(_RUN_STATE_P), (n, 1)))
    repaired = (state == _FAILED) & (end - start > 15 * 60 * S) & (rng.random(n) < 0.5)
    split = start + ((end - start) * rng.uniform(0.2, 0.6, n)).astype(np.int64) // MS * MS
    resume = np.minimum(split + rng.integers(60_000, 240_000, n) * MS, end - 60 * S)
    repair_state = np.where(rng.random(n) < 0.8, _SUCCEEDED, _FAILED)
    final = np.where(repaired, repair_state, state)
    retry = np.zeros(n, bool)
    retry[retries(runs.stream, start, end, np.isin(final, (_FAILED, _TIMED_OUT)))[1]] = True
    trigger = np.where(retry, 2, np.where(scheduled, 0, 1))
    classic = np.array([s.workload.kind == "job_classic" for s in streams])[runs.stream]
    setup = np.where(classic, rng.integers(60, 420, n), rng.integers(2, 40, n))
    queue = np.where(rng.random(n) < 0.1, rng.integers(1, 120, n), 0)
    cleanup = rng.integers(0, 30, n)
    salted = runs.key ^ salt
    firsts = JobAttempts(
        runs.stream,
        job_run_number(salted),
        salted,
        runs.block_hour,
        classic,
        start,
        np.where(repaired, split, end),
        state,
        trigger,
        setup,
        queue,
        cleanup,
    )
    r = np.flatnonzero(repaired)
    repairs = JobAttempts(
        runs.stream[r],
        firsts.run_number[r],
        salted[r],
        runs.block_hour[r],
        classic[r],
        resume[r],
        end[r],
        repair_state[r],
        trigger[r],
        setup[r],
        np.zeros(len(r), dtype=np.int64),
        cleanup[r],
    )
    return _concat_attempts([firsts, repairs, _never_started(streams, window, rng)])


def _never_started(streams: list[Stream], window: Window, rng: Generator) -> JobAttempts:
    """About one run per job and fortnight skipped at its trigger time (start = end, no usage)."""
    jobs = [i for i, s in enumerate(streams) if not s.launch and s.workload.kind in JOB_KINDS]
    jobs = [i for i in jobs if is_regional(streams[i].workload)]
    day, job = np.nonzero(rng.random((window.days, len(jobs))) < 0.07)
    stream = np.array(jobs, dtype=np.int64)[job]
    n = len(stream)
    at = (epoch_day(window.start_date) + day) * 24 * H + rng.integers(0, 86_400_000, n) * MS
    scheduled = np.array([s.workload.activity in _SCHEDULED for s in streams])[stream]
    zero = np.zeros(n, dtype=np.int64)
    number = rng.integers(10**14, 10**15, n, dtype=np.int64).astype(np.uint64)
    return JobAttempts(
        stream,
        number,
        number,
        zero,
        np.zeros(n, bool),
        at,
        at,
        np.full(n, _SKIPPED),
        np.where(scheduled, 0, 1),
        zero,
        zero,
        zero,
    )


def _concat_attempts(parts: list[JobAttempts]) -> JobAttempts:
    return JobAttempts(**{k: np.concatenate([vars(p)[k] for p in parts]) for k in vars(parts[0])})


def _job_names(streams: list[Stream]) -> list[str | None]:
    """Per stream, the job name before (2i) and after (2i + 1) the rename instant."""
    names: list[str | None] = []
    for s in streams:
        names += [s.workload.metadata.get("job_name"), changed_part(s.workload, "metadata").get("job_name")]
    return names


def _compute_refs(n: int, classic: np.ndarray, cluster: pa.Array, schema: StructType, column: str) -> pa.Array:
    """A one-element `compute` array per row: CLASSIC_COMPUTE with the cluster, or SERVERLESS_COMPUTE."""
    element = column_arrow_type(schema, column).value_type
    refs = arrow_column(
        element, n, Struct({"type": pick(COMPUTE_TYPES, np.where(classic, 2, 1)), "cluster_id": cluster})
    )
    return lists(np.arange(n + 1), refs)


COMPUTE_TYPES = ("WAREHOUSE", "SERVERLESS_COMPUTE", "CLASSIC_COMPUTE")


def job_run_timeline_tables(streams: list[Stream], jobs: JobAttempts, window: Window) -> Iterator[pa.Table]:
    """Clock-hour slices of every attempt; result state, termination and durations on each attempt's last slice."""
    row, slice_start, slice_end, last = _hour_slices(jobs.start, jobs.end)
    schema = system_tables.JOB_RUN_TIMELINE
    names = _job_names(streams)
    for part in row_chunks(len(row)):
        a = jobs.take(row[part])
        final = last[part]
        n = len(a.stream)
        cluster = strings(run_cluster_id_chars(window, a.block_hour, a.salted_key), a.has_cluster)
        with_ids = a.has_cluster & final  # compute_ids is empty on most rows (spec §4)
        ids_offsets = np.concatenate(([0], np.cumsum(with_ids)))
        after = (a.start >= epoch_micros(window.change_time)).astype(np.int64)  # the name when the run began
        run_s = (a.end - a.start) // S
        durations = {
            "setup_duration_seconds": a.setup_s,
            "queue_duration_seconds": a.queue_s,
            "run_duration_seconds": run_s,
            "cleanup_duration_seconds": a.cleanup_s,
            "execution_duration_seconds": np.maximum(run_s - a.setup_s - a.cleanup_s, 0),
        }
        code = np.where((a.state == _ERROR) & ~a.has_cluster, len(_TERMINATION_CODES), a.state)
        yield table(
            schema,
            n,
            {
                "account_id": const(ACCOUNT_ID, n),
                "workspace_id": pick(workspace_ids(streams), a.stream),
                "job_id": pick([s.workload.metadata.get("job_id") for s in streams], a.stream),
                "run_id": strings(digit_chars(a.run_number, 15)),
                "period_start_time": timestamps(slice_start[part]),
                "period_end_time": timestamps(slice_end[part]),
                "trigger_type": pick(JOB_TRIGGER_TYPES, a.trigger),
                "result_state": pick([*RUN_STATES, None], np.where(final, a.state, len(RUN_STATES))),
                "run_type": const("JOB_RUN", n),
                "run_name": pick(names, 2 * a.stream + after),
                "compute_ids": lists(ids_offsets, cluster.filter(pa.array(with_ids))),
                "termination_code": pick(
                    [*_TERMINATION_CODES, "CLOUD_FAILURE", None], np.where(final, code, len(_TERMINATION_CODES) + 1)
                ),
                "job_parameters": pa.array([[]], column_arrow_type(schema, "job_parameters")).take(
                    pa.array(np.zeros(n, int))
                ),
                "compute": _compute_refs(n, a.has_cluster, cluster, schema, "compute"),
                "termination_type": pick([*_TERMINATION_TYPES, None], np.where(final, a.state, len(RUN_STATES))),
                **{k: nullable(v, final) for k, v in durations.items()},
            },
        )


UPDATE_STATES = ("COMPLETED", "FAILED", "CANCELED")


@dataclass(frozen=True)
class PipelineUpdates:
    """One row per billed pipeline update. A failed update is retried by the next update of its pipeline that starts
    after it ended: `trigger_type` RETRY_ON_FAILURE and the failed update's `request_id` (spec §4: retries share
    a request)."""

    stream: np.ndarray
    salted_key: np.ndarray
    block_hour: np.ndarray
    has_cluster: np.ndarray
    start: np.ndarray
    end: np.ndarray
    state: np.ndarray  # index into UPDATE_STATES
    retry: np.ndarray
    request: np.ndarray  # request_id as two 64-bit words
    full_refresh: np.ndarray

    def take(self, index: np.ndarray) -> PipelineUpdates:
        return PipelineUpdates(**{k: v[index] for k, v in vars(self).items()})


def pipeline_updates(
    streams: list[Stream], runs: RunPlan, window: Window, salt: np.uint64, rng: Generator
) -> PipelineUpdates:
    n = len(runs.key)
    start, end, _ = _run_times(streams, runs, window, rng)
    state = categorical(rng, np.tile([0.92, 0.05, 0.03], (n, 1)))
    failed, retried = retries(runs.stream, start, end, state == 1)
    retry = np.zeros(n, bool)
    retry[retried] = True
    # A retry joins its failed update's request (chains of retries too: a few rounds reach the first request).
    group = np.arange(n)
    while True:
        joined = group.copy()
        joined[retried] = group[failed]
        if np.array_equal(joined, group):
            break
        group = joined
    group = group.astype(np.uint64)
    words = rng.integers(0, 2**63, 2, dtype=np.int64).astype(np.uint64)
    request = np.stack([mix64(group ^ words[0]), mix64(group ^ words[1])], axis=1)
    classic = np.array([s.workload.kind == "pipeline_classic" for s in streams])[runs.stream]
    return PipelineUpdates(
        runs.stream, runs.key ^ salt, runs.block_hour, classic, start, end, state, retry, request, rng.random(n) < 0.04
    )


def pipeline_update_timeline_tables(
    streams: list[Stream], updates: PipelineUpdates, window: Window
) -> Iterator[pa.Table]:
    row, slice_start, slice_end, last = _hour_slices(updates.start, updates.end)
    for part in row_chunks(len(row)):
        u = updates.take(row[part])
        final = last[part]
        n = len(u.stream)
        yield table(
            system_tables.PIPELINE_UPDATE_TIMELINE,
            n,
            {
                "workspace_id": pick(workspace_ids(streams), u.stream),
                "pipeline_id": pick([s.workload.metadata.get("dlt_pipeline_id") for s in streams], u.stream),
                "update_id": strings(update_id_chars(u.salted_key)),
                "update_type": pick(("REFRESH", "FULL_REFRESH"), u.full_refresh.astype(np.int64)),
                "request_id": strings(uuid_chars(u.request[:, 0], u.request[:, 1])),
                "run_as_user_name": pick([s.workload.identity.get("run_as") for s in streams], u.stream),
                "trigger_type": pick(("API_CALL", "RETRY_ON_FAILURE"), u.retry.astype(np.int64)),
                "result_state": pick([*UPDATE_STATES, None], np.where(final, u.state, len(UPDATE_STATES))),
                "compute": Struct(
                    {
                        "type": pick(COMPUTE_TYPES, np.where(u.has_cluster, 2, 1)),
                        "cluster_id": strings(run_cluster_id_chars(window, u.block_hour, u.salted_key), u.has_cluster),
                    }
                ),
                "period_start_time": timestamps(slice_start[part]),
                "period_end_time": timestamps(slice_end[part]),
                "account_id": const(ACCOUNT_ID, n),
            },
        )


def _hour_slices(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut [start, end) at clock hours: (row, slice start, slice end, is last slice); start == end gives one slice."""
    first = start // H
    last = np.maximum(end - 1, start) // H
    count = last - first + 1
    row = np.repeat(np.arange(len(start)), count)
    i = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    hour = first[row] + i
    return row, np.maximum(start[row], hour * H), np.minimum(end[row], (hour + 1) * H), i == count[row] - 1
