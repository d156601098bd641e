"""`system.billing.list_prices`: the account's list prices, with one price change inside the window."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from chargeback.local.synthetic.account import ACCOUNT_ID, PRICE_CHANGE_SKU, PRICE_SENTINEL_START, PROMOTIONAL_SKU
from chargeback.local.synthetic.window import Window

# List prices: (sku, cloud, unit, default, promotional or None, first start or None for the 2013 sentinel).
_PRICES: tuple[tuple[str, str, str, str, str | None, dt.datetime | None], ...] = (
    ("PREMIUM_JOBS_COMPUTE", "AWS", "DBU", "0.15", None, None),
    ("PREMIUM_JOBS_COMPUTE_(PHOTON)", "AWS", "DBU", "0.15", None, None),
    ("PREMIUM_ALL_PURPOSE_COMPUTE", "AWS", "DBU", "0.55", None, None),
    ("PREMIUM_ALL_PURPOSE_COMPUTE_(PHOTON)", "AWS", "DBU", "0.55", None, None),
    ("STANDARD_ALL_PURPOSE_COMPUTE", "AWS", "DBU", "0.40", None, None),
    ("PREMIUM_DLT_ADVANCED_COMPUTE", "AWS", "DBU", "0.36", None, None),
    ("PREMIUM_DLT_ADVANCED_COMPUTE_(PHOTON)", "AWS", "DBU", "0.36", None, None),
    (
        "PREMIUM_JOBS_SERVERLESS_COMPUTE_US_EAST_N_VIRGINIA",
        "AWS",
        "DBU",
        "0.35",
        None,
        dt.datetime(2025, 4, 30, 23, 59, 59, tzinfo=dt.UTC),
    ),
    (
        "ENTERPRISE_JOBS_SERVERLESS_COMPUTE_US_EAST_N_VIRGINIA",
        "AWS",
        "DBU",
        "0.45",
        None,
        dt.datetime(2025, 4, 30, 23, 59, 59, tzinfo=dt.UTC),
    ),
    (
        "PREMIUM_JOBS_SERVERLESS_COMPUTE_EUROPE_IRELAND",
        "AWS",
        "DBU",
        "0.35",
        None,
        dt.datetime(2025, 4, 30, 23, 59, 59, tzinfo=dt.UTC),
    ),
    (PRICE_CHANGE_SKU, "AWS", "DBU", "0.70", None, dt.datetime(2022, 5, 12, tzinfo=dt.UTC)),
    (
        "PREMIUM_ALL_PURPOSE_SERVERLESS_COMPUTE_US_EAST_N_VIRGINIA",
        "AWS",
        "DBU",
        "0.75",
        None,
        dt.datetime(2025, 2, 2, 8, tzinfo=dt.UTC),
    ),
    ("PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_US_EAST_N_VIRGINIA", "AWS", "DBU", "0.07", None, None),
    ("PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_LAUNCH_US_EAST_N_VIRGINIA", "AWS", "DBU", "0.07", None, None),
    ("PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_EUROPE_IRELAND", "AWS", "DBU", "0.078", None, None),
    ("PREMIUM_SERVERLESS_REAL_TIME_INFERENCE_LAUNCH_EUROPE_IRELAND", "AWS", "DBU", "0.078", None, None),
    (PROMOTIONAL_SKU, "AWS", "DBU", "0.40", "0.20", dt.datetime(2025, 6, 11, 17, tzinfo=dt.UTC)),
    (
        "PUBLIC_CONNECTIVITY_DATA_PROCESSED_US_EAST_N_VIRGINIA",
        "AWS",
        "GB",
        "0.01",
        None,
        dt.datetime(2024, 9, 1, tzinfo=dt.UTC),
    ),
    ("INTER_REGION_EGRESS_FROM_EUROPE_IRELAND", "AWS", "GB", "0.02", None, dt.datetime(2024, 9, 1, tzinfo=dt.UTC)),
    (
        "PREMIUM_DATABRICKS_STORAGE_US_EAST_N_VIRGINIA",
        "AWS",
        "DSU",
        "0.023",
        None,
        dt.datetime(2025, 3, 3, 10, 30, tzinfo=dt.UTC),
    ),
    # The same SKU name costs twice as much on Azure: prices must be joined on cloud too.
    ("PREMIUM_JOBS_COMPUTE", "AZURE", "DBU", "0.30", None, None),
    ("PREMIUM_JOBS_COMPUTE_(PHOTON)", "AZURE", "DBU", "0.30", None, None),
    ("PREMIUM_ALL_PURPOSE_COMPUTE", "AZURE", "DBU", "0.55", None, None),
    ("PREMIUM_SQL_PRO_COMPUTE_EU_NORTH", "AZURE", "DBU", "0.62", None, dt.datetime(2023, 8, 1, tzinfo=dt.UTC)),
    ("PREMIUM_JOBS_COMPUTE", "GCP", "DBU", "0.15", None, None),
    ("PREMIUM_ALL_PURPOSE_COMPUTE", "GCP", "DBU", "0.55", None, None),
)
# The price `PRICE_CHANGE_SKU` changes to inside the window.
CHANGED_PRICE = "0.66"


def _money(value: str) -> Decimal:
    return Decimal(value).quantize(Decimal("1e-18"))


def list_price_rows(window: Window) -> list[dict[str, object]]:
    """One row per (SKU, cloud, unit) in USD, plus the new row of the SKU whose price changes in the window."""
    rows = []
    for sku, cloud, unit, default, promotional, first_start in _PRICES:
        # A documented start after the window would leave its usage unpriced: start at the sentinel instead.
        start = first_start if first_start is not None and first_start <= window.start else PRICE_SENTINEL_START
        changes = sku == PRICE_CHANGE_SKU
        rows.append(
            _price_row(sku, cloud, unit, start, window.price_change_time if changes else None, default, promotional)
        )
        if changes:
            rows.append(_price_row(sku, cloud, unit, window.price_change_time, None, CHANGED_PRICE, None))
    return rows


def _price_row(
    sku: str, cloud: str, unit: str, start: dt.datetime, end: dt.datetime | None, default: str, promotional: str | None
) -> dict[str, object]:
    effective = promotional if promotional is not None else default
    return {
        "account_id": ACCOUNT_ID,
        "price_start_time": start,
        "price_end_time": end,
        "sku_name": sku,
        "cloud": cloud,
        "currency_code": "USD",
        "usage_unit": unit,
        "pricing": {
            "default": _money(default),
            "promotional": {"default": _money(promotional)} if promotional is not None else None,
            "effective_list": {"default": _money(effective)},
        },
    }
