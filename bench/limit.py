"""The baselines the pipeline is measured against: the least work any correct pipeline must do.

- the bare limit: usage of the window priced with the pipeline's own join and casts, summed by day and product;
- each dashboard dataset (on gold) beside the same question asked of raw usage, priced in SQL.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from chargeback.storage.store import TableStore

# Raw usage of the period priced as the pipeline prices it (half-open interval, the casts of chargeback.money),
# with the business unit read from the first unit tag: what one would query without the pipeline.
_PRICED = """WITH prices AS (
  SELECT sku_name, cloud, usage_unit, price_start_time,
         LEAST(price_end_time, LEAD(price_start_time) OVER (
           PARTITION BY sku_name, cloud, usage_unit, currency_code ORDER BY price_start_time)) AS price_end_time,
         COALESCE(pricing.effective_list.default, pricing.default) AS unit_price,
         pricing.default AS list_price
  FROM system.billing.list_prices WHERE currency_code = 'USD'
), priced AS (
  SELECT u.*,
    CAST(CAST(u.usage_quantity AS DECIMAL(24,12)) * CAST(p.unit_price AS DECIMAL(13,10)) AS DECIMAL(38,10)) AS cost,
    CAST(CAST(u.usage_quantity AS DECIMAL(24,12)) * CAST(p.list_price AS DECIMAL(13,10)) AS DECIMAL(38,10))
      AS list_cost,
    COALESCE(u.custom_tags['business_unit'], u.custom_tags['BusinessUnit'], u.custom_tags['cost_center'],
             u.custom_tags['team']) AS unit_tag,
    COALESCE(u.usage_metadata.endpoint_id, u.usage_metadata.job_id, u.usage_metadata.dlt_pipeline_id,
             u.usage_metadata.warehouse_id, u.usage_metadata.app_id, u.usage_metadata.notebook_id,
             u.usage_metadata.cluster_id, u.billing_origin_product) AS workload_id
  FROM system.billing.usage u LEFT JOIN prices p
    ON u.sku_name = p.sku_name AND u.cloud = p.cloud AND u.usage_unit = p.usage_unit
   AND u.usage_end_time >= p.price_start_time AND (p.price_end_time IS NULL OR u.usage_end_time < p.price_end_time)
"""
_ALL = ")\n"
_IN_PERIOD = "WHERE u.usage_date BETWEEN :period.min AND :period.max)\n"

_PERIOD = {"keyword": "period", "dataType": "DATE", "complexType": "RANGE"}
# Dataset name -> (period filter of the priced CTE, query over it).
RAW_EQUIVALENTS = {
    "ds_cost": (
        _IN_PERIOD,
        """SELECT usage_date, trunc(usage_date, 'MM') AS billing_month,
  COALESCE(unit_tag, 'UNALLOCATED') AS business_unit, workspace_id, billing_origin_product, sku_name,
  CASE WHEN sku_name LIKE '%SERVERLESS%' THEN 'serverless' WHEN sku_name LIKE '%COMPUTE%' THEN 'classic'
       ELSE 'other (storage, networking)' END AS compute_type,
  workload_id, SUM(list_cost) AS list_cost, SUM(cost) AS effective_cost
FROM priced GROUP BY 1, 2, 3, 4, 5, 6, 7, 8""",
    ),
    "ds_month": (
        _ALL,
        """SELECT COALESCE(unit_tag, 'UNALLOCATED') AS business_unit, workspace_id, billing_origin_product,
  SUM(CASE WHEN trunc(usage_date, 'MM') = m.current_month THEN cost ELSE 0 END) AS month_to_date_cost,
  SUM(CASE WHEN trunc(usage_date, 'MM') = add_months(m.current_month, -1) THEN cost ELSE 0 END)
    AS previous_month_cost
FROM priced CROSS JOIN (SELECT trunc(MAX(usage_date), 'MM') AS current_month FROM priced) AS m
WHERE usage_date >= add_months(m.current_month, -1)
GROUP BY 1, 2, 3""",
    ),
    "ds_statement": (
        _IN_PERIOD,
        """SELECT trunc(usage_date, 'MM') AS billing_month, COALESCE(unit_tag, 'UNALLOCATED') AS business_unit,
  SUM(list_cost) AS list_cost, SUM(cost) AS total_cost
FROM priced GROUP BY 1, 2""",
    ),
    "ds_serving": (
        _IN_PERIOD,
        """SELECT usage_date, workspace_id, usage_metadata.endpoint_name AS endpoint_name,
  COALESCE(unit_tag, 'UNALLOCATED') AS business_unit,
  SUM(CASE WHEN sku_name LIKE '%_REAL_TIME_INFERENCE_LAUNCH%' THEN cost ELSE 0 END) AS launch_cost,
  SUM(CASE WHEN sku_name LIKE '%_REAL_TIME_INFERENCE_LAUNCH%' THEN 0 ELSE cost END) AS inference_cost,
  SUM(cost) AS effective_cost
FROM priced WHERE billing_origin_product = 'MODEL_SERVING' GROUP BY 1, 2, 3, 4""",
    ),
    "ds_tags": (
        _IN_PERIOD,
        """SELECT usage_date, workspace_id, billing_origin_product, SUM(cost) AS total_cost,
  SUM(CASE WHEN unit_tag IS NOT NULL THEN cost ELSE 0 END) AS tagged_cost,
  SUM(CASE WHEN unit_tag IS NULL THEN cost ELSE 0 END) AS unallocated_cost
FROM priced GROUP BY 1, 2, 3""",
    ),
    "ds_untagged": (
        _IN_PERIOD,
        """SELECT workspace_id, billing_origin_product, workload_id,
  COALESCE(identity_metadata.run_as, identity_metadata.owned_by, identity_metadata.created_by) AS owner,
  SUM(cost) AS untagged_cost
FROM priced WHERE unit_tag IS NULL GROUP BY 1, 2, 3, 4""",
    ),
    "ds_reconciliation": (_IN_PERIOD, "SELECT SUM(cost) AS billed_cost FROM priced"),
    "ds_policy_coverage": (
        _IN_PERIOD,
        """SELECT COALESCE(identity_metadata.run_as, identity_metadata.owned_by, identity_metadata.created_by) AS owner,
  workspace_id, SUM(cost) AS uncovered_cost
FROM priced
WHERE product_features.is_serverless AND usage_metadata.warehouse_id IS NULL  -- warehouses take no policy
  AND COALESCE(usage_metadata.usage_policy_id, usage_metadata.budget_policy_id) IS NULL
GROUP BY 1, 2""",
    ),
}


def dashboard_datasets(start: dt.date, end: dt.date) -> list[tuple[str, str, str | None]]:
    """(dataset name, its SQL on gold, the raw-usage equivalent or None), period = the bench window."""
    from chargeback.dashboard import DEFAULT_FILE, Selection, bind, load

    selection = Selection(as_of=end + dt.timedelta(days=1), period=(start, end))
    out = []
    for ds in load(DEFAULT_FILE)["datasets"]:
        raw = RAW_EQUIVALENTS.get(ds["name"])
        raw_ds = {"queryLines": [_PRICED, *raw], "parameters": [_PERIOD]} if raw else None
        out.append((ds["name"], bind(ds, selection), bind(raw_ds, selection) if raw_ds else None))
    return out


def limit_frame(store: TableStore, start: dt.date, end: dt.date) -> DataFrame:
    """The bare limit: usage of the window priced (the pipeline's own join and casts), summed by day and product."""
    from pyspark.sql import functions as F

    from chargeback.jobs.params import SourceTables
    from chargeback.money import MONEY, QUANTITY
    from chargeback.steps.pricing import price_intervals, price_usage
    from chargeback.steps.usage import usage_window

    src = SourceTables()
    usage = usage_window(store.read(src.usage), start, end).select(
        "usage_date",
        "billing_origin_product",
        "sku_name",
        "cloud",
        "usage_unit",
        "usage_end_time",
        F.col("usage_quantity").cast(QUANTITY).alias("usage_quantity"),
    )
    priced = price_usage(usage, price_intervals(store.read(src.list_prices), "USD"))
    return priced.groupBy("usage_date", "billing_origin_product").agg(F.sum("list_cost").cast(MONEY).alias("cost"))
