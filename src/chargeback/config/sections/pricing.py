"""Pricing sections: `discounts` off list price, and the `fx_rates` that convert prices to the chargeback
currency (checked to cover every day from the first rate on)."""

from __future__ import annotations

from functools import partial

from yaml.nodes import Node

from chargeback.config.model import Discount, FxRate
from chargeback.config.reader import Placed
from chargeback.config.values import ConfigReader


def parse_discounts(r: ConfigReader, node: Node | None) -> tuple[Discount, ...]:
    placed = r.items(
        node,
        "discounts",
        ("percent", "valid_from"),
        ("billing_origin_product", "sku_pattern", "valid_to"),
        partial(_parse_discount, r),
    )
    r.check_overlaps(placed, lambda d: (d.billing_origin_product, d.sku_pattern), "(product, sku_pattern)")
    return tuple(discount for discount, _, _ in placed)


def _parse_discount(r: ConfigReader, f: dict[str, Node], path: str, item: Node) -> Discount | None:
    product = r.get(f, path, "billing_origin_product", r.product)
    pattern = r.get(f, path, "sku_pattern", r.text)
    percent = r.get(f, path, "percent", r.percent)
    validity = r.validity(f, path)
    if "billing_origin_product" not in f and "sku_pattern" not in f:
        r.problem(item, path, "a discount needs billing_origin_product, sku_pattern or both")
    if percent is None or validity is None:
        return None
    return Discount(product, pattern, percent, *validity)


def parse_fx_rates(r: ConfigReader, node: Node | None) -> list[Placed[FxRate]]:
    placed = r.items(
        node,
        "fx_rates",
        ("from_currency", "to_currency", "rate", "valid_from"),
        ("valid_to",),
        partial(_parse_fx_rate, r),
    )
    r.check_overlaps(placed, lambda rate: (rate.from_currency, rate.to_currency), "currency pair")
    return placed


def _parse_fx_rate(r: ConfigReader, f: dict[str, Node], path: str, item: Node) -> FxRate | None:
    source = r.get(f, path, "from_currency", r.currency)
    target = r.get(f, path, "to_currency", r.currency)
    rate = r.get(f, path, "rate", r.rate)
    validity = r.validity(f, path)
    if source is not None and source == target:
        r.problem(item, path, f"from_currency and to_currency are both {source}")
    if source is None or target is None or rate is None or validity is None:
        return None
    return FxRate(source, target, rate, *validity)


def check_fx_coverage(
    r: ConfigReader, node: Node, price_currency: str, currency: str, rates: list[Placed[FxRate]]
) -> None:
    """Prices in `price_currency` convert to `currency` from the first rate on, without gaps and open-ended."""
    pair = sorted(
        (entry for entry in rates if (entry[0].from_currency, entry[0].to_currency) == (price_currency, currency)),
        key=lambda entry: entry[0].valid_from,
    )
    if not pair:
        r.problem(
            node,
            "currency",
            f"currency {currency} differs from price_currency {price_currency} but fx_rates has no rate with "
            f"from_currency {price_currency} and to_currency {currency} (1 {price_currency} = rate {currency})",
        )
        return
    end = pair[0][0].valid_to
    for rate, item, path in pair[1:]:
        if end is not None and rate.valid_from > end:
            r.problem(item, path, f"no {price_currency}->{currency} rate covers [{end}, {rate.valid_from})")
        if end is not None:
            end = None if rate.valid_to is None else max(end, rate.valid_to)
    if end is not None:
        r.problem(
            node,
            "currency",
            f"{price_currency}->{currency} rates end on {end}; leave valid_to out of the latest rate so later "
            "usage can be converted",
        )
