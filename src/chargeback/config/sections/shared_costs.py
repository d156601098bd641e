"""The `shared_costs` section: shared-cost pools, what usage each claims, and how each is split."""

from __future__ import annotations

from decimal import Decimal
from functools import partial

from yaml.nodes import Node

from chargeback.config.model import IDLE_METHODS, METHODS, IdleRule, PoolMatch, SharedPool
from chargeback.config.reader import Placed, join_path, line_of, show
from chargeback.config.values import ID_PATTERN, ConfigReader, Units


def parse_shared_costs(r: ConfigReader, node: Node | None, units: Units) -> tuple[SharedPool, ...]:
    first_use: dict[str, tuple[str, int]] = {}  # pool id -> (path, line) of the pool that uses it first
    placed = r.items(
        node,
        "shared_costs",
        ("id", "match", "method"),
        ("same_product", "business_units", "percentages", "business_unit", "idle"),
        partial(_parse_pool, r, units, first_use),
    )
    _check_warehouses_split_once(r, placed)
    return tuple(pool for pool, _, _ in placed)


def _check_warehouses_split_once(r: ConfigReader, placed: list[Placed[SharedPool]]) -> None:
    """A warehouse's hours can be split by the task time on it only once: by one consumption pool."""
    splitter: dict[str, tuple[SharedPool, Node, str]] = {}  # warehouse id -> the consumption pool that names it first
    for pool, item, path in placed:
        if pool.method != "consumption":
            continue
        for warehouse_id in pool.match.warehouse_ids:
            if warehouse_id not in splitter:
                splitter[warehouse_id] = (pool, item, path)
                continue
            first, first_item, first_path = splitter[warehouse_id]
            r.problem(
                item,
                f"{path}.match.warehouse_ids",
                f"warehouse {show(warehouse_id)} is already split by consumption pool {show(first.id)} "
                f"({first_path}, line {line_of(first_item)})",
            )


def _parse_pool(
    r: ConfigReader, units: Units, first_use: dict[str, tuple[str, int]], f: dict[str, Node], path: str, item: Node
) -> SharedPool | None:
    pool_id = r.get(f, path, "id", lambda n, p: r.matching(n, p, ID_PATTERN, "a valid pool id"))
    if pool_id is not None and pool_id in first_use:
        first_path, first_line = first_use[pool_id]
        r.problem(f["id"], f"{path}.id", f"duplicate pool id (first used by {first_path}, line {first_line})")
    elif pool_id is not None:
        first_use[pool_id] = (path, line_of(item))
    match = r.get(f, path, "match", lambda n, p: _pool_match(r, n, p))
    method = r.get(f, path, "method", lambda n, p: r.choice(n, p, METHODS))
    same_product = r.get(f, path, "same_product", r.boolean)
    listed = r.get(f, path, "business_units", lambda n, p: r.list_of(n, p, lambda m, q: r.unit(m, q, units)))
    shares = r.get(f, path, "percentages", lambda n, p: _percentages(r, n, p, units))
    keeper = r.get(f, path, "business_unit", lambda n, p: r.unit(n, p, units))
    idle = r.get(f, path, "idle", lambda n, p: _idle_rule(r, n, p, units))
    if method is not None:
        _check_method_fields(r, f, path, item, method, bool(same_product))
        _check_consumption_fields(r, f, path, method, match)
    if pool_id is None or match is None or method is None:
        return None
    shares = (shares or ()) if method == "fixed" else ()
    return SharedPool(
        id=pool_id,
        match=match,
        method=method,
        same_product=bool(same_product),
        business_units=_targets(method, listed, shares, keeper, units),
        percentages=shares,
        business_unit=keeper if method == "central" else None,
        idle=(idle or IdleRule("spread")) if method == "consumption" else None,
    )


def _targets(
    method: str,
    listed: tuple[str, ...] | None,
    shares: tuple[tuple[str, Decimal], ...],
    keeper: str | None,
    units: Units,
) -> tuple[str, ...]:
    """The units a pool's cost goes to; none for consumption, whose cost goes to the identities that ran statements
    on its warehouses (attribution finds their units)."""
    if method == "fixed":
        return tuple(unit for unit, _ in shares)
    if method == "central":
        return (keeper,) if keeper else ()
    if method == "consumption":
        return ()
    return listed or units.ids


def _check_method_fields(
    r: ConfigReader, f: dict[str, Node], path: str, item: Node, method: str, same_product: bool
) -> None:
    """Each method takes its own fields and no others."""
    if same_product and method != "proportional":
        r.problem(f["same_product"], f"{path}.same_product", "same_product applies only to method proportional")
    if "business_units" in f and method not in ("proportional", "even"):
        r.problem(
            f["business_units"],
            f"{path}.business_units",
            f"business_units applies only to methods proportional and even, not {method}",
        )
    if method == "fixed" and "percentages" not in f:
        r.problem(item, f"{path}.percentages", "method fixed needs percentages (unit -> percent, summing to 100)")
    if "percentages" in f and method != "fixed":
        r.problem(f["percentages"], f"{path}.percentages", f"percentages applies only to method fixed, not {method}")
    if method == "central" and "business_unit" not in f:
        r.problem(item, f"{path}.business_unit", "method central needs business_unit, the unit that keeps the pool")
    if "business_unit" in f and method != "central":
        # A consumption pool names a unit only for its idle hours, and that unit belongs under idle.
        hint = (
            " (idle hours go to a unit by idle: {method: unit, business_unit: ...})" if method == "consumption" else ""
        )
        r.problem(
            f["business_unit"],
            f"{path}.business_unit",
            f"business_unit applies only to method central, not {method}{hint}",
        )


def _check_consumption_fields(
    r: ConfigReader, f: dict[str, Node], path: str, method: str, match: PoolMatch | None
) -> None:
    """Consumption is measured per SQL warehouse, and only it has idle hours to place."""
    if method == "consumption" and match is not None and not match.warehouse_ids:
        r.problem(
            f["match"],
            f"{path}.match.warehouse_ids",
            "method consumption needs match.warehouse_ids: task time is measured per SQL warehouse",
        )
    if "idle" in f and method != "consumption":
        r.problem(f["idle"], f"{path}.idle", f"idle applies only to method consumption, not {method}")


def _idle_rule(r: ConfigReader, node: Node, path: str, units: Units) -> IdleRule | None:
    f = r.fields(node, path, ("method",), ("business_unit",))
    if f is None:
        return None
    method = r.get(f, path, "method", lambda n, p: r.choice(n, p, IDLE_METHODS))
    unit = r.get(f, path, "business_unit", lambda n, p: r.unit(n, p, units))
    if method == "unit" and "business_unit" not in f:
        r.problem(node, f"{path}.business_unit", "idle method unit needs business_unit, the unit idle hours go to")
    if "business_unit" in f and method not in (None, "unit"):
        r.problem(
            f["business_unit"], f"{path}.business_unit", f"business_unit applies only to idle method unit, not {method}"
        )
    if method is None or (method == "unit") != (unit is not None):
        return None
    return IdleRule(method, unit)


def _pool_match(r: ConfigReader, node: Node, path: str) -> PoolMatch | None:
    criteria = ("billing_origin_products", "sku_patterns", "workspace_ids", "warehouse_ids", "unallocated")
    f = r.fields(node, path, (), criteria)
    if f is None:
        return None
    if not f:
        r.problem(node, path, f"match needs at least one criterion: {', '.join(criteria)}")
        return None
    return PoolMatch(
        billing_origin_products=r.get(f, path, "billing_origin_products", lambda n, p: r.list_of(n, p, r.product))
        or (),
        sku_patterns=r.get(f, path, "sku_patterns", lambda n, p: r.list_of(n, p, r.text)) or (),
        workspace_ids=r.get(f, path, "workspace_ids", lambda n, p: r.list_of(n, p, r.workspace_id)) or (),
        warehouse_ids=r.get(f, path, "warehouse_ids", lambda n, p: r.list_of(n, p, r.text)) or (),
        unallocated=r.get(f, path, "unallocated", r.boolean),
    )


def _percentages(r: ConfigReader, node: Node, path: str, units: Units) -> tuple[tuple[str, Decimal], ...] | None:
    entries = r.entries(node, path)
    if entries is None:
        return None
    shares = []
    complete = True
    for key, (key_node, value_node) in entries.items():
        unit = r.unit(key_node, join_path(path, key), units)
        percent = r.percent(value_node, join_path(path, key))
        if unit is None or percent is None:
            complete = False
        else:
            shares.append((unit, percent))
    total = sum((percent for _, percent in shares), Decimal(0))
    if complete and total != 100:
        r.problem(node, path, f"percentages sum to {total}, not exactly 100")
    return tuple(shares)
