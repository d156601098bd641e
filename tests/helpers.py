"""Builders for tiny inline test data with the real source schemas."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from chargeback.config import Config, parse_config
from chargeback.contracts.system_tables import LIST_PRICES, USAGE
from chargeback.contracts.table_spec import TableSpec
from chargeback.local.synthetic import USAGE_TABLE

DAY = dt.date(2026, 10, 5)


def struct_value(schema: StructType, values: dict[str, Any] | None) -> tuple | None:
    """A tuple in `schema`'s field order from a dict of the fields that are set (nested dicts for structs)."""
    if values is None:
        return None
    out = []
    for f in schema.fields:
        v = values.get(f.name)
        out.append(struct_value(f.dataType, v) if isinstance(f.dataType, StructType) else v)
    return tuple(out)


def usage_row(
    quantity: str,
    *,
    record_type: str = "ORIGINAL",
    sku: str = "PREMIUM_JOBS_SERVERLESS_COMPUTE_US_EAST_N_VIRGINIA",
    hour: int = 10,
    day: dt.date = DAY,
    workspace_id: str = "1111111111111111",
    tags: dict[str, str] | None = None,
    metadata: dict[str, str] | None = None,
    identity: dict[str, str] | None = None,
    product: str = "JOBS",
    record_id: str = "r",
    ingestion_date: dt.date | None = None,
) -> tuple:
    start = dt.datetime.combine(day, dt.time(hour))
    return struct_value(
        USAGE,
        {
            "account_id": "acc",
            "workspace_id": workspace_id,
            "record_id": record_id,
            "sku_name": sku,
            "cloud": "AWS",
            "usage_start_time": start,
            "usage_end_time": start + dt.timedelta(hours=1),
            "usage_date": day,
            "custom_tags": tags if tags is not None else {},
            "usage_unit": "DBU",
            "usage_quantity": Decimal(quantity),
            "usage_metadata": metadata or {"job_id": "42"},
            "identity_metadata": identity or {},
            "record_type": record_type,
            "ingestion_date": ingestion_date or day,
            "billing_origin_product": product,
            "product_features": {"is_serverless": True},
            "usage_type": "COMPUTE_TIME",
        },
    )  # type: ignore[return-value]


def price_row(sku: str, price: str, start: dt.datetime, end: dt.datetime | None, default: str | None = None) -> tuple:
    return struct_value(
        LIST_PRICES,
        {
            "account_id": "acc",
            "price_start_time": start,
            "price_end_time": end,
            "sku_name": sku,
            "cloud": "AWS",
            "currency_code": "USD",
            "usage_unit": "DBU",
            "pricing": {
                "default": Decimal(default or price),
                "effective_list": {"default": Decimal(price)},
            },
        },
    )  # type: ignore[return-value]


BASE_CONFIG = """
version: 1
currency: USD
price_currency: USD
lookback_days: 30
business_units:
  - {id: data-eng, name: Data Engineering}
  - {id: finance, name: Finance}
  - {id: marketing, name: Marketing}
  - {id: platform, name: Platform}
attribution:
  tag_keys: [business_unit, team]
  tag_values: []
  budget_policies: []
  workloads: []
  identities: []
  workspaces: []
"""


def config(extra: str = "", **sections: str) -> Config:
    """BASE_CONFIG with top-level sections replaced or appended (YAML text)."""
    text = BASE_CONFIG
    if "attribution" in sections:
        text = text[: text.index("attribution:")] + sections.pop("attribution")
    for body in sections.values():
        text += body
    return parse_config(text + extra, "test.yml")


def inject_job_spike(store: Any, day: dt.date, factor: int = 20) -> str:
    """Append `factor` times the ORIGINAL usage of `day`'s largest job to the lakehouse's usage; returns its id."""
    job_id = F.col("usage_metadata.job_id")
    jobs = store.read(USAGE_TABLE).where(
        (F.col("usage_date") == F.lit(day)) & (F.col("record_type") == "ORIGINAL") & job_id.isNotNull()
    )
    largest = jobs.groupBy(job_id.alias("j")).agg(F.sum("usage_quantity").alias("q")).orderBy(F.desc("q"), "j")
    target = largest.first().j
    extra = jobs.where(job_id == target).withColumns(
        {
            "usage_quantity": (F.col("usage_quantity") * factor).cast("decimal(38,18)"),
            "record_id": F.concat("record_id", F.lit("-spike")),
        }
    )
    store.write_raw(USAGE_TABLE, extra, mode="append")
    return str(target)


def spec_frame(spark: Any, spec: TableSpec, rows: Iterable[dict[str, Any]]) -> DataFrame:
    """A DataFrame with exactly `spec`'s columns and types, from dicts of the columns that are set (others NULL)."""
    names = spec.column_names
    tuples = []
    for r in rows:
        unknown = set(r) - set(names)
        assert not unknown, f"not columns of {spec.table}: {sorted(unknown)}"
        tuples.append(tuple(r.get(n) for n in names))
    return spark.createDataFrame(tuples, spec.ddl_schema(with_comments=False))


def _sort_key(row: tuple) -> tuple:
    return tuple((v is not None, v if v is not None else 0) for v in row)


def assert_rows(df: DataFrame, columns: Sequence[str], expected: Iterable[Sequence[Any]]) -> None:
    """`df`'s `columns` hold exactly the `expected` rows, in any order (values compared with ==, so 2.50 == 2.5);
    on a mismatch the message lists the missing and unexpected rows and both whole sorted tables."""
    actual = [tuple(r) for r in df.select(*columns).collect()]
    wanted = [tuple(r) for r in expected]
    if Counter(actual) == Counter(wanted):
        return
    missing = list((Counter(wanted) - Counter(actual)).elements())
    unexpected = list((Counter(actual) - Counter(wanted)).elements())

    def table(rows: list[tuple]) -> str:
        return "\n".join(f"  {r}" for r in sorted(rows, key=_sort_key)) or "  (none)"

    raise AssertionError(
        f"rows of {list(columns)} differ\nmissing (expected, not produced):\n{table(missing)}\n"
        f"unexpected (produced, not expected):\n{table(unexpected)}\n"
        f"actual:\n{table(actual)}\nexpected:\n{table(wanted)}"
    )


class RecordingSpark:
    """Just enough of a Databricks session for `UnityCatalog.ensure`: an existing table and the SQL it is sent."""

    def __init__(self, columns: list[str]):
        self.columns, self.statements = columns, []
        self.catalog = self

    def tableExists(self, name: str) -> bool:
        return True

    def table(self, name: str) -> RecordingSpark:
        return self

    def sql(self, statement: str) -> None:
        self.statements.append(statement)
