"""The usage table as it grows day by day: records held back until their ingestion day, and late corrections.

`generate` writes the table as it reads the day after its last usage day. `hold_back` turns it into the table as it
read at the end of an earlier day (the records ingested later wait in `PENDING_USAGE_TABLE`); `arrive` then
appends one ingestion day: the records ingested that day and, optionally, late corrections of a share of the
original records of the days before (a RETRACTION and a RESTATEMENT at 90% of the quantity), as
`system.billing.usage` receives them. This is what an incremental run sees from one day to the next.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from chargeback.contracts.system_table_names import USAGE_TABLE
from chargeback.names import TableName

if TYPE_CHECKING:
    from chargeback.local.lakehouse import LocalLakehouse

PENDING_USAGE_TABLE = TableName("system", "billing", "usage_pending")
_STAGING = TableName("system", "billing", "usage_staging")
_RESTATED_SHARE = "0.9"


def _replace_usage(store: LocalLakehouse, rows: DataFrame) -> None:
    """Overwrite the usage table with rows derived from it, staged first (a table is not overwritten from itself)."""
    store.write_raw(_STAGING, rows, "overwrite")
    store.write_raw(USAGE_TABLE, store.read(_STAGING), "overwrite")


def hold_back(store: LocalLakehouse, through: dt.date) -> int:
    """Keep in the usage table only the records ingested by `through`; return how many wait."""
    usage = store.read(USAGE_TABLE)
    later = F.col("ingestion_date") > F.lit(through)
    store.write_raw(PENDING_USAGE_TABLE, usage.where(later), "overwrite")
    _replace_usage(store, usage.where(~later))
    return store.read(PENDING_USAGE_TABLE).count()


def late_corrections(store: LocalLakehouse, day: dt.date, share: float, over_days: int, seed: int) -> DataFrame:
    """A RETRACTION and a RESTATEMENT, ingested on `day`, for `share` of the ORIGINAL records of the `over_days`
    days before it that have no correction yet (picked by a hash of their id, so the same seed picks the same)."""
    usage = store.read(USAGE_TABLE)
    corrected = usage.where(F.col("record_type") != "ORIGINAL").select("record_id").distinct()
    buckets = 1_000_000
    picked = (
        usage.where(
            (F.col("record_type") == "ORIGINAL")
            & F.col("usage_date").between(F.lit(day - dt.timedelta(days=over_days)), F.lit(day - dt.timedelta(days=1)))
            & (F.pmod(F.xxhash64("record_id", F.lit(seed)), F.lit(buckets)) < F.lit(int(share * buckets)))
        )
        .join(corrected, "record_id", "left_anti")
        .withColumn("ingestion_date", F.lit(day))
    )
    quantity_type = usage.schema["usage_quantity"].dataType
    retraction = picked.withColumns(
        {"record_type": F.lit("RETRACTION"), "usage_quantity": (-F.col("usage_quantity")).cast(quantity_type)}
    )
    restated = F.col("usage_quantity") * F.lit(_RESTATED_SHARE).cast("decimal(2,1)")
    restatement = picked.withColumns(
        {"record_type": F.lit("RESTATEMENT"), "usage_quantity": restated.cast(quantity_type)}
    )
    return retraction.unionByName(restatement).select(*usage.columns)


def arrive(
    store: LocalLakehouse, day: dt.date, correction_share: float = 0.0, over_days: int = 20, seed: int = 1
) -> int:
    """Append the held-back records ingested on `day`, and late corrections (`late_corrections`); return how many
    records arrived."""
    usage = store.read(USAGE_TABLE)
    arrived = store.read(PENDING_USAGE_TABLE).where(F.col("ingestion_date") == F.lit(day)).select(*usage.columns)
    if correction_share:
        arrived = arrived.unionByName(late_corrections(store, day, correction_share, over_days, seed))
    store.write_raw(_STAGING, arrived, "overwrite")
    count = store.read(_STAGING).count()
    store.write_raw(USAGE_TABLE, store.read(_STAGING), "append")
    return count
