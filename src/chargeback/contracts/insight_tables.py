"""The insight tables: budget status, cost anomalies, and the FOCUS 1.2 export of cost_daily."""

from __future__ import annotations

from chargeback.contracts.table_spec import Column, TableSpec
from chargeback.money import MONEY, QUANTITY

# Up to 10^18: a deviation of 10^12 over the smallest scale, 0.01.
SCORE = "decimal(24,6)"
_TS = "timestamp"
_JSON = "string"  # FOCUS JSON columns are strings holding a JSON object


COST_ANOMALIES_DAILY = TableSpec(
    table="cost_anomalies_daily",
    grain="Gold: daily cost against a trailing robust baseline, per day x business unit and per day x workload "
    "for the largest workloads.",
    primary_key=("usage_date", "scope", "scope_key"),
    partition_by=("usage_date",),
    columns=(
        Column("usage_date", "date", "UTC date scored."),
        Column("scope", "string", "business_unit or workload."),
        Column("scope_key", "string", "The unit id, or workload_type:workload_id."),
        Column("business_unit", "string", "The unit; for workloads the unit that carried most of its cost."),
        Column("workload_type", "string", "Workload type (workload scope only)."),
        Column("workload_id", "string", "Workload id (workload scope only)."),
        Column("workload_name", "string", "Workload name (workload scope only)."),
        Column("effective_cost", MONEY, "Cost that day, as attributed before shared-cost pools."),
        Column("baseline_median", MONEY, "Median daily cost over the trailing window (zero days included)."),
        Column("baseline_mad", MONEY, "Median absolute deviation from baseline_median over the window."),
        Column("baseline_days", "int", "Days of history in the baseline (at most the window)."),
        Column("score", SCORE, "(cost - median) / max(1.4826 x MAD, 5% of median, 0.01): a robust z-score."),
        Column("tagged_cost", MONEY, "Business units: cost attributed by a business-unit tag that day."),
        Column("baseline_tagged_cost", MONEY, "Business units: median of tagged_cost over the window."),
        Column("is_anomaly", "boolean", "True when reason is set."),
        Column("reason", "string", "spike, new workload or attribution dropped; NULL when normal."),
        Column("floor", MONEY, "Absolute floor applied: smaller deviations never alert."),
        Column("currency_code", "string", "Chargeback currency (ISO 4217)."),
        Column("run_id", "string", "Id of the pipeline run that wrote the row."),
    ),
)


BUDGET_STATUS_MONTHLY = TableSpec(
    table="budget_status_monthly",
    grain="Gold: one row per month x configured budget (business unit, optionally narrowed to a workspace and a "
    "product).",
    primary_key=("billing_month", "business_unit", "workspace_scope", "product_scope"),
    partition_by=("billing_month",),
    columns=(
        Column("billing_month", "date", "First day of the month."),
        Column("business_unit", "string", "Business unit the budget belongs to."),
        Column("workspace_scope", "string", "Workspace id the budget is narrowed to; * for all workspaces."),
        Column("product_scope", "string", "billing_origin_product the budget is narrowed to; * for all products."),
        Column("budget_amount", MONEY, "Monthly budget in currency_code."),
        Column("warning_percent", "decimal(9,4)", "Forecast at this percent of the budget is a warning."),
        Column("critical_percent", "decimal(9,4)", "Forecast at this percent of the budget is critical."),
        Column("as_of_date", "date", "Last day of the month counted in actual_to_date."),
        Column("days_elapsed", "int", "Days of the month up to as_of_date."),
        Column("days_in_month", "int", "Days in the month."),
        Column("actual_to_date", MONEY, "Allocated effective cost of the month up to as_of_date (statement basis)."),
        Column("forecast_month_end", MONEY, "Actual to date plus forecast of the remaining days (trend x weekday)."),
        Column("forecast_ratio", "decimal(18,6)", "forecast_month_end / budget_amount."),
        Column("status", "string", "ok, warning, critical (by forecast) or over (actual already at the budget)."),
        Column("currency_code", "string", "Chargeback currency (ISO 4217)."),
        Column("run_id", "string", "Id of the pipeline run that wrote the row."),
    ),
)


FOCUS_COSTS = TableSpec(
    table="focus_costs",
    grain="Gold: FOCUS 1.2 cost and usage rows with FOCUS 1.3 split cost allocation, one per cost_daily row.",
    primary_key=(
        "x_UsageDate",
        "x_BusinessUnit",
        "SubAccountId",
        "ServiceName",
        "SkuId",
        "ResourceType",
        "ResourceId",
        "x_CostKind",
        "x_PoolId",
        "BillingCurrency",
        "ChargePeriodStart",
    ),
    partition_by=("x_UsageDate",),
    columns=(
        # The clustering key first: Delta collects statistics on the first 32 columns only, and liquid clustering
        # refuses a key without them (DELTA_CLUSTERING_COLUMN_MISSING_STATS). FOCUS sets no column order.
        Column(
            "x_UsageDate", "date", "usage_date of the cost_daily row: the day charged, or a correction's booking day."
        ),
        # FOCUS 1.2 mandatory columns.
        Column("BilledCost", MONEY, "Cost invoiced to the business unit: effective cost, in BillingCurrency."),
        Column("BillingAccountId", "string", "Databricks account id."),
        Column("BillingAccountName", "string", "Databricks account (its id: the system tables carry no account name)."),
        Column("BillingCurrency", "string", "Chargeback currency (ISO 4217)."),
        Column("BillingPeriodStart", _TS, "Inclusive start (UTC) of the month the charge is billed in."),
        Column("BillingPeriodEnd", _TS, "Exclusive end (UTC) of the month the charge is billed in."),
        Column("ChargeCategory", "string", "Usage (all Databricks charges here are usage)."),
        Column("ChargeClass", "string", "Correction for corrections of a closed month booked later; else NULL."),
        Column("ChargeDescription", "string", "What the charge is: SKU and workload, or the shared pool split."),
        Column(
            "ChargePeriodStart", _TS, "Inclusive start (UTC) of the day charged (for corrections: the day corrected)."
        ),
        Column("ChargePeriodEnd", _TS, "Exclusive end (UTC) of the day charged."),
        Column("ContractedCost", MONEY, "Cost at the negotiated (discounted) rate: the effective cost."),
        Column("EffectiveCost", MONEY, "Cost after discounts, in BillingCurrency."),
        Column("InvoiceIssuerName", "string", "Databricks."),
        Column("ListCost", MONEY, "Cost at list price, in BillingCurrency."),
        Column(
            "PricingQuantity",
            QUANTITY,
            "Usage quantity in PricingUnit; allocated rows carry their share; NULL for corrections.",
        ),
        Column("PricingUnit", "string", "Unit of PricingQuantity (DBU, DSU, ...)."),
        Column("ProviderName", "string", "Databricks."),
        Column("PublisherName", "string", "Databricks."),
        Column("ServiceCategory", "string", "FOCUS service category of the Databricks product."),
        Column("ServiceName", "string", "Databricks product (billing_origin_product)."),
        # Recommended and conditional columns the data supports.
        Column("ChargeFrequency", "string", "Usage-Based."),
        Column(
            "InvoiceId",
            "string",
            "Databricks invoice id: NULL, as the system tables link no charge to an invoice (FOCUS: NULL then).",
        ),
        Column(
            "ServiceSubcategory",
            "string",
            "FOCUS service subcategory of the Databricks product: one per ServiceName, within its ServiceCategory.",
        ),
        Column(
            "ConsumedQuantity",
            QUANTITY,
            "Usage quantity consumed, in ConsumedUnit (Databricks prices what it measures: = PricingQuantity).",
        ),
        Column("ConsumedUnit", "string", "Unit of ConsumedQuantity (= PricingUnit)."),
        Column("ResourceId", "string", "Workload id; for allocated rows the shared pool the cost comes from."),
        Column("ResourceName", "string", "Workload name; for allocated rows the pool id."),
        Column(
            "ResourceType", "string", "Workload type (job, pipeline, warehouse, ...); shared_pool for allocated rows."
        ),
        Column("SkuId", "string", "Databricks SKU."),
        Column("SubAccountId", "string", "Databricks workspace id."),
        Column("SubAccountName", "string", "Workspace name, else its id."),
        Column("SubAccountType", "string", "Workspace."),
        Column("Tags", _JSON, "JSON object: the resolved business_unit and the workload_type."),
        # FOCUS 1.3 split cost allocation.
        Column(
            "AllocatedMethodId", "string", "Shared-cost pool whose rule split the origin charge; NULL for direct cost."
        ),
        Column(
            "AllocatedMethodDetails",
            _JSON,
            'JSON {"Elements":[{"AllocatedRatio":r}],"x_Method":m}: this row\'s share of the origin charge; the '
            "ratios of one origin sum to exactly 1. NULL for direct cost and corrections.",
        ),
        Column("AllocatedResourceId", "string", "Business unit the shared cost is allocated to; NULL for direct cost."),
        Column("AllocatedResourceName", "string", "Display name of that business unit."),
        Column("AllocatedTags", _JSON, "JSON object with the receiving business_unit; NULL for direct cost."),
        # Extensions (and x_UsageDate, first).
        Column("x_BusinessUnit", "string", "Business unit charged; UNALLOCATED when no rule assigned it."),
        Column("x_CostKind", "string", "direct, shared or correction (cost_daily.cost_kind)."),
        Column("x_PoolId", "string", "Shared-cost pool for shared rows and their corrections, else NULL."),
        Column("x_RunId", "string", "Id of the pipeline run that wrote the row."),
    ),
)
