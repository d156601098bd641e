"""The top level of the config file: its scalar settings and closed months, and every section read in turn
and assembled into a `Config`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from yaml.nodes import Node

from chargeback.config.model import DEFAULT_MAX_SHRINK_PERCENT, SUPPORTED_VERSION, Config
from chargeback.config.sections.attribution import parse_attribution
from chargeback.config.sections.budgets import parse_budgets
from chargeback.config.sections.business_units import parse_business_units
from chargeback.config.sections.policies import parse_serverless_policies
from chargeback.config.sections.pricing import check_fx_coverage, parse_discounts, parse_fx_rates
from chargeback.config.sections.shared_costs import parse_shared_costs
from chargeback.config.values import ConfigReader

_REQUIRED = ("version", "currency", "price_currency", "lookback_days", "business_units")
_OPTIONAL = (
    "fx_rates",
    "attribution",
    "discounts",
    "shared_costs",
    "closed_months",
    "serverless_policies",
    "budgets",
    "max_shrink_percent",
)


def parse_document(r: ConfigReader, root: Node, source: str) -> Config | None:
    """The whole config; None when a required setting is unusable (the reader then holds the problems)."""
    top = r.fields(root, "", _REQUIRED, _OPTIONAL)
    if top is None:
        return None
    version, currency, price_currency, lookback_days = _settings(r, top)
    units, known = parse_business_units(r, top.get("business_units"))
    attribution = parse_attribution(r, top.get("attribution"), known)
    fx_rates = parse_fx_rates(r, top.get("fx_rates"))
    if currency and price_currency and currency != price_currency:
        check_fx_coverage(r, top["currency"], price_currency, currency, fx_rates)
    max_shrink: Decimal | None = DEFAULT_MAX_SHRINK_PERCENT
    if "max_shrink_percent" in top:
        max_shrink = r.percent(top["max_shrink_percent"], "max_shrink_percent")
    discounts = parse_discounts(r, top.get("discounts"))
    pools = parse_shared_costs(r, top.get("shared_costs"), known)
    closed = _closed_months(r, top.get("closed_months"))
    policies = parse_serverless_policies(r, top.get("serverless_policies"), known, attribution)
    budgets = parse_budgets(r, top.get("budgets"), known, attribution)
    if version is None or currency is None or price_currency is None or lookback_days is None:
        return None
    return Config(
        version=version,
        currency=currency,
        price_currency=price_currency,
        fx_rates=tuple(rate for rate, _, _ in fx_rates),
        lookback_days=lookback_days,
        business_units=units,
        attribution=attribution,
        discounts=discounts,
        shared_costs=pools,
        closed_months=closed,
        source=source,
        serverless_policies=policies,
        budgets=budgets,
        max_shrink_percent=DEFAULT_MAX_SHRINK_PERCENT if max_shrink is None else max_shrink,
    )


def _settings(r: ConfigReader, top: dict[str, Node]) -> tuple[int | None, str | None, str | None, int | None]:
    """(version, currency, price_currency, lookback_days), each None when missing or invalid."""
    version = r.get(top, "", "version", r.integer)
    if version is not None and version != SUPPORTED_VERSION:
        r.problem(
            top["version"], "version", f"unsupported version {version}; this release reads version {SUPPORTED_VERSION}"
        )
    currency = r.get(top, "", "currency", r.currency)
    price_currency = r.get(top, "", "price_currency", r.currency)
    lookback_days = r.get(top, "", "lookback_days", r.integer)
    if lookback_days is not None and not 1 <= lookback_days <= 365:
        r.problem(top["lookback_days"], "lookback_days", f"{lookback_days} is outside 1..365")
    return version, currency, price_currency, lookback_days


def _closed_months(r: ConfigReader, node: Node | None) -> tuple[dt.date, ...]:
    nodes = r.sequence(node, "closed_months") if node is not None else None
    months: list[dt.date] = []
    for index, item in enumerate(nodes or []):
        month = r.month(item, f"closed_months[{index}]")
        if month in months:
            r.problem(item, f"closed_months[{index}]", f"{month:%Y-%m} is listed twice")
        elif month is not None:
            months.append(month)
    return tuple(sorted(months))
