"""The config tables: the chargeback config published as tables, and the reserved unit their business unit
columns share with every table the product writes.

The reserved unit is defined here, in the bottom layer, so that `chargeback.config` (which re-exports both) and
any contract can use it without importing each other.
"""

from __future__ import annotations

from chargeback.contracts.table_spec import Column, TableSpec

UNALLOCATED = "UNALLOCATED"
"""The reserved business unit that collects cost no rule or pool attributes."""

_VALID_FROM = Column("valid_from", "DATE", "First day the rule applies (inclusive).")
_VALID_TO = Column("valid_to", "DATE", "Day the rule stops applying (exclusive); NULL = open-ended.")
_UNIT_COLUMN = Column(
    "business_unit_id", "STRING", "Business unit id from the chargeback config (joins business_units)."
)

CONFIG_TABLES: dict[str, TableSpec] = {
    "business_units": TableSpec(
        table="business_units",
        grain=(
            "One row per business unit in the chargeback config. Cost no rule attributes is charged to the "
            f"reserved unit {UNALLOCATED}, which is not listed."
        ),
        primary_key=("business_unit_id",),
        columns=(
            Column("business_unit_id", "STRING", "Business unit id; charges are reported under this id."),
            Column("business_unit_name", "STRING", "Display name of the business unit."),
            Column(
                "parent_business_unit_id", "STRING", "Id of the parent unit for roll-ups; NULL for a top-level unit."
            ),
            Column("cost_center", "STRING", "Finance cost center the unit's charges post to; NULL if not set."),
        ),
    ),
    "attribution_rules": TableSpec(
        table="attribution_rules",
        grain=(
            "One row per explicit attribution rule in the chargeback config. Not listed, because they are "
            "implicit: a tag value equal to a unit's normalised id or name (precedence 1) and pipeline tags "
            "(precedence 4)."
        ),
        primary_key=("rule_type", "match_key", "valid_from"),
        columns=(
            Column("rule_type", "STRING", "tag_value, budget_policy, workload, identity or workspace."),
            Column(
                "precedence",
                "INT",
                "When several rules match a usage line the lowest wins: 1 tag value, 2 budget policy, "
                "3 workload, 4 pipeline tags (implicit), 5 identity, 6 workspace default.",
            ),
            Column(
                "match_key",
                "STRING",
                "What the rule matches: the normalised tag value, the budget policy id, "
                "'<workload_type>:<workload_id>' (e.g. 'job:123'), the user email or service principal id, "
                "or the workspace id.",
            ),
            _UNIT_COLUMN,
            _VALID_FROM,
            _VALID_TO,
        ),
    ),
    "discount_rules": TableSpec(
        table="discount_rules",
        grain="One row per negotiated discount in the chargeback config.",
        primary_key=("billing_origin_product", "sku_pattern", "valid_from"),
        columns=(
            Column("billing_origin_product", "STRING", "Product the discount applies to; NULL = any product."),
            Column("sku_pattern", "STRING", "Glob on sku_name ('*' = any characters); NULL = any SKU."),
            Column("discount_percent", "DECIMAL(9,4)", "Percent off the list price, 0 to 100."),
            _VALID_FROM,
            _VALID_TO,
        ),
    ),
    "fx_rates": TableSpec(
        table="fx_rates",
        grain="One row per exchange rate period in the chargeback config.",
        primary_key=("from_currency", "to_currency", "valid_from"),
        columns=(
            Column("from_currency", "STRING", "ISO 4217 code of the currency converted from (the price currency)."),
            Column("to_currency", "STRING", "ISO 4217 code of the currency converted to (the chargeback currency)."),
            Column("rate", "DECIMAL(20,10)", "1 from_currency = rate to_currency."),
            _VALID_FROM,
            _VALID_TO,
        ),
    ),
    "shared_cost_rules": TableSpec(
        table="shared_cost_rules",
        grain=(
            "One row per target business unit of each shared-cost pool in the chargeback config, and one row with "
            "business_unit_id NULL per pool split by consumption, which has no target units (its cost goes to the "
            "identities that ran statements on its warehouses). The key is unique counting NULL as a value."
        ),
        primary_key=("pool_id", "business_unit_id"),
        columns=(
            Column("pool_id", "STRING", "Shared-cost pool id."),
            Column(
                "pool_order",
                "INT",
                "Position of the pool in the config, from 1; a usage line belongs to the first pool it matches.",
            ),
            Column("method", "STRING", "How the pool is split: proportional, even, fixed, central or consumption."),
            Column(
                "same_product",
                "BOOLEAN",
                "Proportional only: weights are direct cost in the same billing_origin_product, not all products.",
            ),
            Column(
                "match_description",
                "STRING",
                "The pool's match criteria as JSON; usage lines must satisfy every criterion given.",
            ),
            Column(
                "business_unit_id",
                "STRING",
                "Target business unit id from the chargeback config (joins business_units); NULL for consumption.",
            ),
            Column(
                "percent",
                "DECIMAL(9,4)",
                "Share of the pool: the configured share for fixed, 100 for central; NULL for proportional, even "
                "and consumption, whose shares depend on the period's usage.",
            ),
            Column(
                "idle_method",
                "STRING",
                "Consumption only, where warehouse hours with no task time go: spread (to that day's users by "
                "task time), unit (to idle_business_unit_id) or keep (UNALLOCATED); NULL for other methods.",
            ),
            Column(
                "idle_business_unit_id",
                "STRING",
                "Business unit that idle hours go to when idle_method is unit; else NULL.",
            ),
        ),
    ),
}
"""The config tables by name; `chargeback.config.config_frames` fills them from a `Config`."""
