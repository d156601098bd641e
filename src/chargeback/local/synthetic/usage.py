"""`system.billing.usage`: the dimension table, the per-record facts with their corrections, and the engine-side
reshape of facts and dimensions into the Databricks schema."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from numpy.random import Generator

from chargeback import dates
from chargeback.contracts import system_tables
from chargeback.local.synthetic.account import ACCOUNT_ID, RESTATEMENT_MOVED_TAG
from chargeback.local.synthetic.columns import arrow_schema
from chargeback.local.synthetic.plan import ActivityPlan, Stream
from chargeback.local.synthetic.values import (
    decimal18,
    digit_chars,
    job_run_number,
    run_cluster_id_chars,
    strings,
    update_id_chars,
    uuid_chars,
)
from chargeback.local.synthetic.window import US_PER_HOUR, Window, epoch_day
from chargeback.local.synthetic.workload import Workload, changed_part

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


# Share of ORIGINAL records that get corrected (a RETRACTION, usually followed by a RESTATEMENT).
CORRECTION_RATE = 0.01


# Variant bits of a stream's dimension row: the period (before or after the reorg instant) and whether a
# restatement "moved" the record to another business unit; a moved record keeps its own period's metadata.
_BEFORE, _AFTER, _MOVED = 0, 1, 2
_VARIANTS = 4


def _custom_tags(w: Workload, variant: int) -> dict[str, str]:
    tags = dict(w.policy.tags) if w.policy and not w.policy.deleted else {}
    if w.tags_in_usage:
        tags.update(changed_part(w, "tags") if variant & _AFTER else w.tags)
    if variant & _MOVED:
        tags[RESTATEMENT_MOVED_TAG[0]] = RESTATEMENT_MOVED_TAG[1]
    return tags


def _metadata_fields(streams: list[Stream]) -> list[str]:
    used = {name for s in streams for name in (*s.workload.metadata, *changed_part(s.workload, "metadata"))}
    if any(s.workload.policy for s in streams):
        used.add("budget_policy_id")
    return [f.name for f in system_tables.USAGE_METADATA.fields if f.name in used]


def dimension_table(streams: list[Stream]) -> pa.Table:
    """One row per (stream, tag variant) with every column that is constant for it; key `dim_id`."""
    metadata_fields = _metadata_fields(streams)
    usage = system_tables.USAGE
    rows = []
    for index, s in enumerate(streams):
        w = s.workload
        for variant in range(_VARIANTS):
            metadata = changed_part(w, "metadata") if variant & _AFTER else dict(w.metadata)
            if w.policy:
                metadata["budget_policy_id"] = w.policy.policy_id
            rows.append(
                {
                    "dim_id": index * _VARIANTS + variant,
                    "account_id": ACCOUNT_ID,
                    "workspace_id": w.workspace.workspace_id,
                    "sku_name": s.sku,
                    "cloud": w.workspace.cloud,
                    "custom_tags": _custom_tags(w, variant),
                    "usage_unit": w.usage_unit,
                    "identity_metadata": dict(w.identity) or None,
                    "billing_origin_product": w.product,
                    "product_features": dict(w.features) or None,
                    "usage_type": w.usage_type,
                    **{f"um_{name}": metadata.get(name) for name in metadata_fields},
                }
            )
    arrow = arrow_schema([usage[c] for c in _DIMENSION_COLUMNS])
    fields = [pa.field("dim_id", pa.int32()), *arrow, *(pa.field(f"um_{n}", pa.string()) for n in metadata_fields)]
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


_DIMENSION_COLUMNS = (
    "account_id",
    "workspace_id",
    "sku_name",
    "cloud",
    "custom_tags",
    "usage_unit",
    "identity_metadata",
    "billing_origin_product",
    "product_features",
    "usage_type",
)


# --- per-record facts, vectorised ----------------------------------------------------------------------------

_ORIGINAL, _RETRACTION, _RESTATEMENT = 0, 1, 2
RECORD_TYPES = ("ORIGINAL", "RETRACTION", "RESTATEMENT")
# Serverless runs emit several records per hour (spec §5.1); this many records make up one run.
RECORDS_PER_RUN = 4


_NANO = 10**9


def run_salt(rng: Generator) -> np.uint64:
    """The salt of every run id (job runs, pipeline updates, job clusters): the first draw after the plan."""
    return np.uint64(rng.integers(0, 2**63, dtype=np.int64))


def usage_fact_chunks(
    streams: list[Stream],
    plan: ActivityPlan,
    window: Window,
    rng: Generator,
    chunk_rows: int,
    salt: np.uint64 | None = None,
) -> Iterator[pa.Table]:
    """Facts tables of at most about `chunk_rows` ORIGINAL records each, plus their corrections.

    `salt` is `run_salt(rng)` drawn by the caller (who needs it for the run tables), else drawn here.
    """
    if salt is None:
        salt = run_salt(rng)
    cumulative = np.cumsum(plan.records)
    # Chunks end on (hour, stream) group boundaries, so a group's records stay together.
    cuts = np.searchsorted(cumulative, np.arange(chunk_rows, cumulative[-1], chunk_rows)) + 1
    edges = np.unique(np.concatenate(([0], cuts, [len(cumulative)])))
    for lo, hi in itertools.pairwise(edges.tolist()):
        yield _facts(streams, plan, slice(lo, hi), window, rng, salt)


@dataclass
class _Records:
    """Per-record numpy columns of one chunk, before they become arrow arrays."""

    stream: np.ndarray
    hour: np.ndarray
    run_key: np.ndarray
    block_hour: np.ndarray
    variant: np.ndarray
    quantity_nano: np.ndarray
    quantity_atto: np.ndarray
    ingestion_day: np.ndarray
    record_type: np.ndarray

    def take(self, index: np.ndarray) -> _Records:
        return _Records(**{k: v[index] for k, v in vars(self).items()})

    @staticmethod
    def concat(parts: list[_Records]) -> _Records:
        return _Records(**{k: np.concatenate([vars(p)[k] for p in parts]) for k in vars(parts[0])})


def _facts(
    streams: list[Stream], plan: ActivityPlan, groups: slice, window: Window, rng: Generator, salt: np.uint64
) -> pa.Table:
    originals = _original_records(streams, plan, groups, window, rng)
    records = _Records.concat([originals, *_corrections(originals, window, rng)])
    return _facts_table(streams, records, window, rng, salt)


def _original_records(
    streams: list[Stream], plan: ActivityPlan, groups: slice, window: Window, rng: Generator
) -> _Records:
    counts = plan.records[groups]
    n = int(counts.sum())
    group = np.repeat(np.arange(len(counts)), counts)
    rank = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    stream = plan.stream[groups][group]
    hour = plan.hour[groups][group]
    block = plan.block[groups][group].astype(np.uint64)
    # A run spans the consecutive active hours of its block; several runs share an hour at large scale.
    run_key = (block << np.uint64(32)) | (rank // RECORDS_PER_RUN).astype(np.uint64)
    block_hour = plan.block_start[groups][group]
    mean = np.array([s.workload.quantity_per_record for s in streams])[stream]
    # Lognormal draws (median ~0.85 x mean) in whole nano-units; exact decimals are built from integers.
    quantity_nano = np.maximum(np.rint(mean * rng.lognormal(-0.16, 0.55, n) * _NANO), 1).astype(np.int64)
    quantity_atto = rng.integers(0, _NANO, n, dtype=np.int64)
    day = (window.start_date - dt.date(1970, 1, 1)).days + hour // 24
    # ORIGINAL records land within about 12 hours, so late-evening usage is ingested the next day.
    ingestion_day = day + ((hour % 24 + rng.integers(1, 13, n)) >= 24)
    variant = np.where(hour >= window.change_hour, _AFTER, _BEFORE)
    return _Records(
        stream,
        hour,
        run_key,
        block_hour,
        variant,
        quantity_nano,
        quantity_atto,
        ingestion_day,
        np.full(n, _ORIGINAL, np.int8),
    )


def _corrections(originals: _Records, window: Window, rng: Generator) -> list[_Records]:
    """RETRACTION copies with negated quantities and, for most, a RESTATEMENT with corrected values.

    Corrections arrive 2 to 10 days after the usage, some 31 to 40 days after (beyond a 30-day lookback),
    and some usage of the window's first month is corrected only after that month has ended. Those due
    after `window.as_of` have not arrived yet and are left out.
    """
    chosen = np.flatnonzero(rng.random(len(originals.stream)) < CORRECTION_RATE)
    n = len(chosen)
    kind = rng.choice(3, size=n, p=(0.6, 0.1, 0.3))  # restated quantity, restated (moved) tags, retraction only
    day0 = epoch_day(window.start_date)
    usage_day = day0 + originals.hour[chosen] // 24
    next_month = epoch_day(dates.next_month(window.start_date))
    delay = np.where(rng.random(n) < 0.15, rng.integers(31, 41, n), rng.integers(2, 11, n))
    after_close = (usage_day < next_month) & (rng.random(n) < 0.3)
    delay = np.where(after_close, next_month - usage_day + rng.integers(0, 7, n), delay)
    restated_nano = originals.quantity_nano[chosen] * rng.integers(500, 1200, n) // 1000
    restated_atto = rng.integers(0, _NANO, n, dtype=np.int64)
    ingestion_day = usage_day + delay
    arrived = ingestion_day <= epoch_day(window.as_of)

    retraction = originals.take(chosen[arrived])
    retraction.quantity_nano = -retraction.quantity_nano
    retraction.quantity_atto = -retraction.quantity_atto
    retraction.ingestion_day = ingestion_day[arrived]
    retraction.record_type[:] = _RETRACTION

    restated = arrived & (kind != 2)
    restatement = originals.take(chosen[restated])
    moved = kind[restated] == 1
    restatement.quantity_nano = np.where(moved, restatement.quantity_nano, restated_nano[restated])
    restatement.quantity_atto = np.where(moved, restatement.quantity_atto, restated_atto[restated])
    restatement.variant = np.where(moved, restatement.variant | _MOVED, restatement.variant)
    restatement.ingestion_day = ingestion_day[restated]
    restatement.record_type[:] = _RESTATEMENT
    return [retraction, restatement]


def _facts_table(streams: list[Stream], r: _Records, window: Window, rng: Generator, salt: np.uint64) -> pa.Table:
    n = len(r.stream)
    absolute_hour = epoch_day(window.start_date) * 24 + r.hour
    start_us = absolute_hour.astype(np.int64) * US_PER_HOUR
    usage_day = (absolute_hour // 24).astype(np.int32)
    ids = rng.integers(0, np.iinfo(np.uint64).max, size=(n, 2), dtype=np.uint64, endpoint=True)
    has_policy = np.array([s.workload.policy is not None for s in streams])[r.stream]
    key = r.run_key ^ salt
    columns = {
        "dim_id": pa.array((r.stream * _VARIANTS + r.variant).astype(np.int32)),
        "record_id": strings(uuid_chars(ids[:, 0], ids[:, 1])),
        "usage_start_time": pa.array(start_us).cast(pa.timestamp("us", tz="UTC")),
        "usage_end_time": pa.array(start_us + US_PER_HOUR).cast(pa.timestamp("us", tz="UTC")),
        "usage_date": pa.array(usage_day).cast(pa.date32()),
        "usage_quantity": decimal18(r.quantity_nano, r.quantity_atto),
        "record_type": pa.array(RECORD_TYPES).take(pa.array(r.record_type)),
        "ingestion_date": pa.array(r.ingestion_day.astype(np.int32)).cast(pa.date32()),
        "has_usage_policy": pa.array(has_policy & (usage_day >= epoch_day(window.usage_policy_since))),
        "run_job_run_id": strings(
            digit_chars(job_run_number(key), 15), _has_run_field(streams, r.stream, "job_run_id")
        ),
        "run_dlt_update_id": strings(update_id_chars(key), _has_run_field(streams, r.stream, "dlt_update_id")),
        "run_cluster_id": strings(
            run_cluster_id_chars(window, r.block_hour, key), _has_run_field(streams, r.stream, "cluster_id")
        ),
    }
    return pa.table(columns)


def _has_run_field(streams: list[Stream], stream: np.ndarray, name: str) -> np.ndarray:
    return np.array([name in s.run_fields for s in streams])[stream]


# --- engine side: reshape facts + dimensions into the usage schema ------------------------------------------

# Facts columns that fill usage_metadata fields per record (coalesced with the stream's constant value).
_RUN_COLUMNS = {"job_run_id": "run_job_run_id", "dlt_update_id": "run_dlt_update_id", "cluster_id": "run_cluster_id"}


def usage_frame(spark: SparkSession, facts: pa.Table, dims: DataFrame) -> tuple[DataFrame, int]:
    from pyspark.sql import functions as F

    joined = spark.createDataFrame(facts).join(F.broadcast(dims), "dim_id")
    return joined.select(*_usage_columns(set(dims.columns))), facts.num_rows


def _usage_columns(dim_columns: set[str]) -> list[Column]:
    from pyspark.sql import functions as F

    def metadata_field(name: str, dtype: object) -> Column:
        sources = []
        if name in _RUN_COLUMNS:
            sources.append(F.col(_RUN_COLUMNS[name]))
        if name == "usage_policy_id":
            # usage_policy_id is the renamed budget_policy_id: filled on newer records only.
            sources.append(F.when(F.col("has_usage_policy"), F.col("um_budget_policy_id")))
        elif f"um_{name}" in dim_columns:
            sources.append(F.col(f"um_{name}"))
        if not sources:
            return F.lit(None).cast(dtype).alias(name)  # type: ignore[arg-type]
        return (F.coalesce(*sources) if len(sources) > 1 else sources[0]).alias(name)

    metadata = F.struct(*[metadata_field(f.name, f.dataType) for f in system_tables.USAGE_METADATA.fields])
    return [metadata.alias(f.name) if f.name == "usage_metadata" else F.col(f.name) for f in system_tables.USAGE.fields]
