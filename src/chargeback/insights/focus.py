"""Gold `focus_costs`: the allocated cost as a FOCUS 1.2 cost and usage dataset, with FOCUS 1.3 split allocation.

One FOCUS row per `cost_daily` row, so FOCUS totals equal the chargeback statements by construction:

* direct cost: a `Usage` charge of the workload (`ResourceId` = workload id), with its pricing quantity;
* shared cost: the pool's charge split into allocated rows (FOCUS 1.3 split cost allocation). Each keeps the
  shared pool as `ResourceId` and names the receiving business unit in `AllocatedResourceId`/`Name` and
  `AllocatedTags`; `AllocatedMethodId` is the pool id and `AllocatedMethodDetails` gives the row's
  `AllocatedRatio`. The allocated rows of one origin charge (pool x day x workspace x product x SKU) sum to
  it exactly (allocation is exact), and their ratios sum to exactly 1: each ratio is the row's share of the
  origin cost at 12 decimals, the rounding remainder going to the largest share (ties: smallest unit);
  an origin below a millionth of the currency is split evenly;
* corrections of a closed month: `ChargeClass = 'Correction'`, billed in the month they are booked
  (`BillingPeriodStart`) for the day they correct (`ChargePeriodStart`). A correction is a difference of
  two charges, so it has no pricing quantity (FOCUS allows NULL for corrections) and no allocation ratio.

`ServiceCategory` and `ServiceSubcategory` follow from the product (`ServiceName`), one pair per product.
`InvoiceId` is NULL: the system tables tie no charge to a Databricks invoice. `x_UsageDate`, the clustering key,
is the first column (Delta keeps statistics on the first 32 only).

All costs are in the chargeback currency: `BilledCost` = `EffectiveCost` = `ContractedCost` = effective cost
(configured discounts are negotiated rates; there is no amortisation), `ListCost` = list cost. JSON columns
(`Tags`, `AllocatedTags`, `AllocatedMethodDetails`) are strings (engine: map-columns-in-date-range-overwrite).
`Tags` carry the resolved `business_unit` (and the workload type). Columns
prefixed `x_` are this product's extensions.
"""

from __future__ import annotations

from decimal import Decimal

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from chargeback.config import Config
from chargeback.contracts.cost_tables import COST_GRAIN
from chargeback.marts import cost as cost_marts
from chargeback.money import MONEY, QUANTITY, RATIO, ratio_of, times_ratio

PROVIDER = "Databricks"
_TS = "timestamp"

# FOCUS ServiceCategory -> ServiceSubcategory -> billing_origin_product: each product has one category and one
# subcategory of that category (FOCUS 1.2 allowed values). Any other product is 'Other' / 'Other (Other)'.
SERVICE_CATEGORIES: dict[str, dict[str, tuple[str, ...]]] = {
    "AI and Machine Learning": {
        "AI Platforms": ("MODEL_SERVING", "AI_RUNTIME"),
        "Generative AI": ("FOUNDATION_MODEL_TRAINING", "AI_GATEWAY", "AGENT_EVALUATION", "AI_FUNCTIONS"),
        "Other (AI and Machine Learning)": ("VECTOR_SEARCH",),
    },
    "Analytics": {
        "Analytics Platforms": ("SQL",),
        "Data Processing": ("DLT", "PREDICTIVE_OPTIMIZATION"),
        "Other (Analytics)": ("LAKEHOUSE_MONITORING", "CLEAN_ROOM", "DATA_SHARING"),
    },
    "Compute": {
        # JOBS runs on classic clusters and serverless alike; ALL_PURPOSE clusters are priced in DBUs, not VMs.
        "Other (Compute)": ("JOBS", "ALL_PURPOSE"),
        "Serverless Compute": ("INTERACTIVE", "NOTEBOOKS"),
    },
    "Databases": {
        "Relational Databases": ("DATABASE", "LAKEBASE"),
        "Other (Databases)": ("ONLINE_TABLES",),
    },
    "Integration": {"Other (Integration)": ("LAKEFLOW_CONNECT", "DATA_CLASSIFICATION")},
    "Networking": {"Network Connectivity": ("NETWORKING",)},
    "Storage": {"Object Storage": ("DEFAULT_STORAGE",)},
    "Web": {"Application Platforms": ("APPS",)},
}
OTHER_SERVICE = ("Other", "Other (Other)")


_ORIGIN = ("usage_date", "pool_id", "workspace_id", "billing_origin_product", "sku_name", "currency_code")
_DIRECT_KEY = tuple(c for c in COST_GRAIN if c not in ("cost_kind", "pool_id"))


def service_category(product: Column) -> Column:
    result = F.lit(OTHER_SERVICE[0])
    for category, subcategories in SERVICE_CATEGORIES.items():
        products = [p for members in subcategories.values() for p in members]
        result = F.when(product.isin(*products), F.lit(category)).otherwise(result)
    return result


def service_subcategory(product: Column) -> Column:
    result = F.lit(OTHER_SERVICE[1])
    for subcategories in SERVICE_CATEGORIES.values():
        for subcategory, products in subcategories.items():
            result = F.when(product.isin(*products), F.lit(subcategory)).otherwise(result)
    return result


def _json_entry(key: str, value: Column) -> Column:
    """`"key":"value"` for a value of the product's own identifiers (unit ids, workload types: no quotes)."""
    return F.concat(F.lit(f'"{key}":"'), value, F.lit('"'))


def allocation_ratios(shared: DataFrame) -> DataFrame:
    """Add `ratio` to shared rows: each row's share of its origin charge; an origin's ratios sum to exactly 1."""
    origin = Window.partitionBy(*_ORIGIN)
    owner_first = Window.partitionBy(*_ORIGIN).orderBy(F.col("_raw").desc(), F.col("business_unit"))
    # ratio_of divides at 6 decimals: an origin that rounds to zero there is split evenly. The divisor is made
    # non-zero first (engine: case-evaluates-every-branch), by magnitude, not by equality with zero
    # (engine: tiny-decimal-compare).
    significant = F.abs(F.col("_origin")) >= F.lit(Decimal("0.0000005"))
    raw = F.when(significant, ratio_of(F.col("effective_cost"), F.col("_divisor"))).otherwise(
        ratio_of(F.lit(1), F.col("_n"))
    )
    return (
        shared.withColumn("_origin", F.sum("effective_cost").over(origin))
        .withColumn("_n", F.count(F.lit(1)).over(origin))
        .withColumn("_divisor", F.when(significant, F.col("_origin")).otherwise(F.lit(1)))
        .withColumn("_raw", raw)
        .withColumn("_owner", F.row_number().over(owner_first) == 1)
        .withColumn(
            "ratio",
            (
                F.col("_raw")
                + F.when(F.col("_owner"), F.lit(1).cast(RATIO) - F.sum("_raw").over(origin)).otherwise(F.lit(0))
            ).cast(RATIO),
        )
        .drop("_origin", "_n", "_divisor", "_raw", "_owner")
    )


def _focus_input(daily: DataFrame, lines: DataFrame, config: Config) -> DataFrame:
    """`cost_daily` rows (shared ones with their allocation `ratio`) joined to their quantities, unit names, pool
    methods, workspace names and account."""
    spark = daily.sparkSession
    units = spark.createDataFrame(
        [(u.id, u.name) for u in config.business_units], "business_unit string, _unit_name string"
    )
    methods = spark.createDataFrame([(p.id, p.method) for p in config.shared_costs], "pool_id string, _method string")
    workspaces = lines.groupBy("workspace_id").agg(
        F.max("workspace_name").alias("_workspace_name"), F.max("account_id").alias("_account_id")
    )
    account = lines.agg(F.max("account_id").alias("_any_account"))
    direct_quantity = (
        lines.where(F.col("pool_id").isNull())
        .groupBy(*_DIRECT_KEY)
        .agg(F.sum("usage_quantity").cast(QUANTITY).alias("_direct_q"), F.max("usage_unit").alias("_direct_unit"))
        .withColumn("cost_kind", F.lit("direct"))
    )
    pool_quantity = (
        lines.where(F.col("pool_id").isNotNull())
        .groupBy(*_ORIGIN)
        .agg(F.sum("usage_quantity").cast(QUANTITY).alias("_pool_q"), F.max("usage_unit").alias("_pool_unit"))
        .withColumn("cost_kind", F.lit("shared"))
    )
    shared = allocation_ratios(daily.where(F.col("cost_kind") == "shared"))
    return (
        daily.where(F.col("cost_kind") != "shared")
        .withColumn("ratio", F.lit(None).cast(RATIO))
        .unionByName(shared)
        .join(direct_quantity, [*_DIRECT_KEY, "cost_kind"], "left")
        .join(pool_quantity, [*_ORIGIN, "cost_kind"], "left")
        .join(F.broadcast(units), "business_unit", "left")
        .join(F.broadcast(methods), "pool_id", "left")
        .join(workspaces, "workspace_id", "left")
        .crossJoin(account)
    )


def _is_correction() -> Column:
    return F.col("cost_kind") == "correction"


def _is_allocated() -> Column:
    return F.col("pool_id").isNotNull()


def _unit_name() -> Column:
    return F.coalesce("_unit_name", "business_unit")


def _charge_description() -> Column:
    """The charge without its correction prefix: the pool share and its unit, or the SKU and workload."""
    return F.when(
        _is_allocated(),
        F.concat(
            F.lit("Share of shared-cost pool "),
            F.col("pool_id"),
            F.lit(" ("),
            F.col("sku_name"),
            F.lit(") allocated to "),
            _unit_name(),
        ),
    ).otherwise(
        F.concat(F.col("sku_name"), F.lit(" usage of "), F.col("workload_type"), F.lit(" "), F.col("workload_name"))
    )


def _billing_columns() -> list[Column]:
    """`x_UsageDate` to `ListCost`: the account, billing and charge periods, the charge and its costs."""
    is_correction = _is_correction()
    description = _charge_description()
    charged_day = cost_marts.charged_day().cast("timestamp")
    account_id = F.coalesce("_account_id", "_any_account")
    return [
        F.col("usage_date").alias("x_UsageDate"),
        F.col("effective_cost").cast(MONEY).alias("BilledCost"),
        account_id.alias("BillingAccountId"),
        account_id.alias("BillingAccountName"),
        F.col("currency_code").alias("BillingCurrency"),
        F.col("billing_month").cast("timestamp").alias("BillingPeriodStart"),
        F.add_months(F.col("billing_month"), 1).cast("timestamp").alias("BillingPeriodEnd"),
        F.lit("Usage").alias("ChargeCategory"),
        F.when(is_correction, F.lit("Correction")).otherwise(F.lit(None).cast("string")).alias("ChargeClass"),
        F.when(is_correction, F.concat(F.lit("Correction: "), description))
        .otherwise(description)
        .alias("ChargeDescription"),
        charged_day.alias("ChargePeriodStart"),
        F.date_add(cost_marts.charged_day(), 1).cast("timestamp").alias("ChargePeriodEnd"),
        F.col("effective_cost").cast(MONEY).alias("ContractedCost"),
        F.col("effective_cost").cast(MONEY).alias("EffectiveCost"),
        F.lit(PROVIDER).alias("InvoiceIssuerName"),
        F.col("list_cost").cast(MONEY).alias("ListCost"),
    ]


def _service_columns() -> list[Column]:
    """`PricingQuantity` to `ConsumedUnit`: quantities (an allocated row's share of its pool's), the provider and
    the service."""
    quantity = (
        F.when(_is_correction(), F.lit(None).cast(QUANTITY))
        .when(_is_allocated(), times_ratio(F.col("_pool_q"), F.col("ratio")).cast(QUANTITY))
        .otherwise(F.col("_direct_q"))
    )
    unit = F.coalesce("_pool_unit", "_direct_unit")
    return [
        quantity.alias("PricingQuantity"),
        unit.alias("PricingUnit"),
        F.lit(PROVIDER).alias("ProviderName"),
        F.lit(PROVIDER).alias("PublisherName"),
        service_category(F.col("billing_origin_product")).alias("ServiceCategory"),
        F.col("billing_origin_product").alias("ServiceName"),
        F.lit("Usage-Based").alias("ChargeFrequency"),
        F.lit(None).cast("string").alias("InvoiceId"),
        service_subcategory(F.col("billing_origin_product")).alias("ServiceSubcategory"),
        quantity.alias("ConsumedQuantity"),
        unit.alias("ConsumedUnit"),
    ]


def _resource_columns(run_id: str) -> list[Column]:
    """`ResourceId` to `x_RunId`: the workload, the workspace, tags, the split allocation and the extensions."""
    is_allocated = _is_allocated()
    details = F.when(
        is_allocated & ~_is_correction(),
        F.concat(
            F.lit('{"Elements":[{"AllocatedRatio":'),
            F.col("ratio").cast("string"),
            F.lit("}],"),
            _json_entry("x_Method", F.col("_method")),
            F.lit("}"),
        ),
    )
    unit_tag = _json_entry("business_unit", F.col("business_unit"))
    return [
        F.col("workload_id").alias("ResourceId"),
        F.col("workload_name").alias("ResourceName"),
        F.col("workload_type").alias("ResourceType"),
        F.col("sku_name").alias("SkuId"),
        F.col("workspace_id").alias("SubAccountId"),
        F.coalesce("_workspace_name", "workspace_id").alias("SubAccountName"),
        F.lit("Workspace").alias("SubAccountType"),
        F.concat(
            F.lit("{"), unit_tag, F.lit(","), _json_entry("workload_type", F.col("workload_type")), F.lit("}")
        ).alias("Tags"),
        F.col("pool_id").alias("AllocatedMethodId"),
        details.alias("AllocatedMethodDetails"),
        F.when(is_allocated, F.col("business_unit")).alias("AllocatedResourceId"),
        F.when(is_allocated, _unit_name()).alias("AllocatedResourceName"),
        F.when(is_allocated, F.concat(F.lit("{"), unit_tag, F.lit("}"))).alias("AllocatedTags"),
        F.col("business_unit").alias("x_BusinessUnit"),
        F.col("cost_kind").alias("x_CostKind"),
        F.col("pool_id").alias("x_PoolId"),
        F.lit(run_id).alias("x_RunId"),
    ]


def focus_costs(daily: DataFrame, lines: DataFrame, config: Config, run_id: str) -> DataFrame:
    """FOCUS rows from `cost_daily` rows, with quantities, account and workspace names from `usage_costs` lines.

    `lines` must cover the days of `daily` (its corrections excepted, which carry no quantity).
    """
    rows = _focus_input(daily, lines, config)
    return rows.select(*_billing_columns(), *_service_columns(), *_resource_columns(run_id))
