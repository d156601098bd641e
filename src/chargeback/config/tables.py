"""The config as the config tables' rows and DataFrames (`contracts.config_tables` declares the tables)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from chargeback.config.model import RULE_PRECEDENCE, Config, Dated, SharedPool
from chargeback.contracts.config_tables import CONFIG_TABLES
from chargeback.contracts.table_spec import TableSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType


class _Rule(Dated, Protocol):
    @property
    def business_unit(self) -> str: ...


def config_frames(spark: SparkSession, config: Config) -> dict[str, DataFrame]:
    """The config as DataFrames, one per `CONFIG_TABLES` entry, with exactly the spec's columns."""
    rows = _config_rows(config)
    return {name: spark.createDataFrame(rows[name], _struct(spec)) for name, spec in CONFIG_TABLES.items()}


def _config_rows(config: Config) -> dict[str, list[tuple[object, ...]]]:
    a = config.attribution
    rules = [
        *(_rule_row("tag_value", r.value, r) for r in a.tag_values),
        *(_rule_row("budget_policy", r.policy_id, r) for r in a.budget_policies),
        *(_rule_row("workload", f"{r.workload_type}:{r.workload_id}", r) for r in a.workloads),
        *(_rule_row("identity", r.identity, r) for r in a.identities),
        *(_rule_row("workspace", r.workspace_id, r) for r in a.workspaces),
    ]
    return {
        "business_units": [(u.id, u.name, u.parent, u.cost_center) for u in config.business_units],
        "attribution_rules": rules,
        "discount_rules": [
            (d.billing_origin_product, d.sku_pattern, d.percent, d.valid_from, d.valid_to) for d in config.discounts
        ],
        "fx_rates": [(f.from_currency, f.to_currency, f.rate, f.valid_from, f.valid_to) for f in config.fx_rates],
        "shared_cost_rules": [
            (pool.id, order, pool.method, pool.same_product, pool.match.description(), unit, percent, *_idle(pool))
            for order, pool in enumerate(config.shared_costs, start=1)
            for unit, percent in _pool_shares(pool)
        ],
    }


def _rule_row(rule_type: str, match_key: str, rule: _Rule) -> tuple[object, ...]:
    return (rule_type, RULE_PRECEDENCE[rule_type], match_key, rule.business_unit, rule.valid_from, rule.valid_to)


def _pool_shares(pool: SharedPool) -> list[tuple[str | None, Decimal | None]]:
    if pool.method == "fixed":
        return list(pool.percentages)
    if pool.method == "central":
        return [(unit, Decimal(100)) for unit in pool.business_units]
    if pool.method == "consumption":
        return [(None, None)]  # no target units, but the pool and its idle rule still get their row
    return [(unit, None) for unit in pool.business_units]


def _idle(pool: SharedPool) -> tuple[str | None, str | None]:
    return (pool.idle.method, pool.idle.business_unit) if pool.idle else (None, None)


def _struct(spec: TableSpec) -> StructType:
    """The Spark schema of a config table (imported here: loading a config must not need pyspark)."""
    from pyspark.sql.types import (
        BooleanType,
        DateType,
        DecimalType,
        IntegerType,
        StringType,
        StructField,
        StructType,
    )

    types = {
        "STRING": StringType(),
        "INT": IntegerType(),
        "BOOLEAN": BooleanType(),
        "DATE": DateType(),
        "DECIMAL(9,4)": DecimalType(9, 4),
        "DECIMAL(20,10)": DecimalType(20, 10),
    }
    return StructType([StructField(c.name, types[c.type], True) for c in spec.columns])
