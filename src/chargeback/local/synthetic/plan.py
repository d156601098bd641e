"""Usage streams and the activity plan: which hours each billed stream is active, with how many records."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.random import Generator

from chargeback.local.synthetic.inventory import ACTIVITY_PROFILES
from chargeback.local.synthetic.window import Window
from chargeback.local.synthetic.workload import Workload

# Original usage rows per day when `scale` is not given: a 60-day demo then generates in seconds.
DEFAULT_ROWS_PER_DAY = 2_000


@dataclass(frozen=True)
class Stream:
    """A sequence of usage records on one SKU: a workload, or the cold-start (LAUNCH) records of an endpoint."""

    workload: Workload
    sku: str
    launch: bool = False

    @property
    def run_fields(self) -> tuple[str, ...]:
        """usage_metadata fields that change with every run (job run, pipeline update, job cluster)."""
        return {
            "job_classic": ("job_run_id", "cluster_id"),
            "job_serverless": ("job_run_id",),
            "pipeline_classic": ("dlt_update_id", "cluster_id"),
            "pipeline_serverless": ("dlt_update_id",),
        }.get(self.workload.kind, ())


def billing_streams(workloads: tuple[Workload, ...]) -> list[Stream]:
    """Every workload's stream, followed by the LAUNCH streams of scale-to-zero endpoints."""
    streams = [Stream(w, w.sku) for w in workloads]
    streams += [Stream(w, w.launch_sku, launch=True) for w in workloads if w.launch_sku]
    return streams


def expected_rows_per_day(streams: list[Stream]) -> float:
    """Expected ORIGINAL rows per day at scale multiplier 1 (LAUNCH streams are few and left out)."""
    total = 0.0
    for s in streams:
        if not s.launch:
            hours, weekend = ACTIVITY_PROFILES[s.workload.activity]
            total += sum(hours) * (5 + 2 * weekend) / 7 * max(s.workload.records_per_hour, 1.0)
    return total


@dataclass(frozen=True)
class ActivityPlan:
    """Which (hour, stream) pairs have usage, with how many records, in hour-major order.

    `block` numbers each run of consecutive active hours of a stream, so run ids survive chunk boundaries.
    """

    hour: np.ndarray
    stream: np.ndarray
    records: np.ndarray
    block: np.ndarray
    block_start: np.ndarray


def plan_usage(streams: list[Stream], window: Window, rng: Generator, scale: int | None) -> ActivityPlan:
    """The activity plan for about `scale` ORIGINAL rows per day on average over a week (weekends are quieter)."""
    return plan_activity(streams, window, rng, (scale or DEFAULT_ROWS_PER_DAY) / expected_rows_per_day(streams))


def plan_activity(streams: list[Stream], window: Window, rng: Generator, multiplier: float) -> ActivityPlan:
    """Draw which hours each stream is active and how many records each active hour has."""
    hour_of_day = np.arange(window.hours) % 24
    weekday = (np.datetime64(window.start_date) + np.arange(window.hours) // 24).astype("datetime64[D]")
    weekend = np.isin(((weekday.astype(np.int64) + 3) % 7), (5, 6))  # 1970-01-01 was a Thursday
    main = [s for s in streams if not s.launch]
    prob = np.empty((len(main), window.hours))
    for i, s in enumerate(main):
        hours, weekend_factor = ACTIVITY_PROFILES[s.workload.activity]
        prob[i] = np.asarray(hours)[hour_of_day] * np.where(weekend, weekend_factor, 1.0)
        if s.workload.workspace.cancelled:
            prob[i, window.cancel_hour :] = 0.0
    active = rng.random(prob.shape) < prob
    # A LAUNCH record bills the first hour after an idle gap of a scale-to-zero endpoint.
    index = {s.workload.key: i for i, s in enumerate(main)}
    launches = [
        active[index[s.workload.key]] & ~np.concatenate(([False], active[index[s.workload.key], :-1]))
        for s in streams
        if s.launch
    ]
    active = np.vstack([active, *launches]) if launches else active
    rate = np.array([1.0 if s.launch else max(s.workload.records_per_hour * multiplier, 1.0) for s in streams])
    records = 1 + rng.poisson(np.repeat(rate[:, None] - 1.0, window.hours, axis=1))
    starts = active & ~np.concatenate((np.zeros((len(streams), 1), bool), active[:, :-1]), axis=1)
    block = np.cumsum(starts).reshape(active.shape) - 1
    block_start_hour = np.nonzero(starts)[1]  # row-major, like the block numbers
    hour, stream = np.nonzero(active.T)  # hour-major: a chunk is a contiguous range of hours
    blocks = block[stream, hour]
    return ActivityPlan(hour, stream, records[stream, hour], blocks, block_start_hour[blocks])


def workspace_ids(streams: list[Stream]) -> list[str | None]:
    return [s.workload.workspace.workspace_id for s in streams]
