"""Gold cost marts: corrections of closed days, exact to the last decimal on every engine."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from chargeback.marts.cost import corrections
from tests.helpers import assert_rows

CLOSED_DAY, BOOKING_DAY = dt.date(2026, 9, 30), dt.date(2026, 10, 1)
ROWS = (
    "usage_date date, business_unit string, workspace_id string, billing_origin_product string, sku_name string, "
    "workload_type string, workload_id string, cost_kind string, pool_id string, currency_code string, "
    "workload_name string, list_cost decimal(38,10), effective_cost decimal(38,10)"
)


def row(unit: str, cost: str) -> tuple:
    return (
        CLOSED_DAY,
        unit,
        "1",
        "JOBS",
        "SKU",
        "job",
        "j1",
        "direct",
        None,
        "USD",
        "job one",
        Decimal(cost),
        Decimal(cost),
    )


@pytest.mark.transform
def test_a_correction_keeps_every_decimal_of_the_difference(spark) -> None:  # type: ignore[no-untyped-def]
    # Negating a booking by multiplying with -1 typed it DECIMAL(38,8) on Spark (MONEY x DECIMAL(1,0) needs 40
    # digits), so the last two decimals of every correction were lost there; Sail kept them.
    truth = spark.createDataFrame([row("finance", "1.0000000001"), row("data-eng", "0")], ROWS)
    booked = spark.createDataFrame([row("finance", "0.0000000002"), row("data-eng", "0.0000000003")], ROWS)
    assert_rows(
        corrections(truth, booked, BOOKING_DAY, "r1"),
        ["usage_date", "original_usage_date", "business_unit", "cost_kind", "list_cost", "effective_cost"],
        [
            (BOOKING_DAY, CLOSED_DAY, "finance", "correction", Decimal("0.9999999999"), Decimal("0.9999999999")),
            (BOOKING_DAY, CLOSED_DAY, "data-eng", "correction", Decimal("-0.0000000003"), Decimal("-0.0000000003")),
        ],
    )
