"""The `serverless_policies` section: the serverless budget policies the config manages, their tags and
their grants, within the limits of the budget policy API."""

from __future__ import annotations

from functools import partial

from yaml.nodes import Node

from chargeback.config.model import (
    MAX_POLICY_NAME,
    MAX_POLICY_TAG_KEY,
    MAX_POLICY_TAG_VALUE,
    MAX_POLICY_TAGS,
    POLICY_ROLES,
    PRINCIPAL_KINDS,
    RESERVED_POLICY_TAG_KEYS,
    Attribution,
    PolicyGrant,
    ServerlessPolicy,
    normalise,
    tag_key_form,
)
from chargeback.config.reader import join_path, line_of, show
from chargeback.config.values import ConfigReader, Units

_DEFAULT_POLICY_PREFIX = "databricks:default-policy"  # the budget policy API reserves names starting with it


def parse_serverless_policies(
    r: ConfigReader, node: Node | None, units: Units, attribution: Attribution
) -> tuple[ServerlessPolicy, ...]:
    """Managed budget policies. Each tags usage with its unit under the first attribution tag key, so its
    declared tags must not name another unit, or the policy and the attribution rules would disagree."""
    first_use: dict[str, tuple[str, int]] = {}  # casefolded name -> (path, line) of the policy that has it
    placed = r.items(
        node,
        "serverless_policies",
        ("name", "business_unit"),
        ("tags", "permissions"),
        partial(_parse_policy, r, units, attribution, first_use),
    )
    return tuple(policy for policy, _, _ in placed)


def _parse_policy(
    r: ConfigReader,
    units: Units,
    attribution: Attribution,
    first_use: dict[str, tuple[str, int]],
    f: dict[str, Node],
    path: str,
    item: Node,
) -> ServerlessPolicy | None:
    unit_tag_key = attribution.tag_key_names[0] if attribution.tag_key_names else None
    name = r.get(f, path, "name", lambda n, p: _policy_name(r, n, p))
    if name is not None and name.casefold() in first_use:
        first_path, first_line = first_use[name.casefold()]
        r.problem(f["name"], f"{path}.name", f"duplicate policy name (first used by {first_path}, line {first_line})")
    elif name is not None:
        first_use[name.casefold()] = (path, line_of(item))
    unit = r.get(f, path, "business_unit", lambda n, p: r.unit(n, p, units))
    tags = r.get(f, path, "tags", lambda n, p: _policy_tags(r, n, p, unit, units, attribution)) or ()
    grants = r.get(f, path, "permissions", lambda n, p: _grants(r, n, p)) or ()
    _check_policy_limits(r, f, path, item, len(tags), unit, unit_tag_key)
    if name is None or unit is None or unit_tag_key is None:
        return None
    return ServerlessPolicy(name, unit, ((unit_tag_key, unit), *tags), grants)


def _check_policy_limits(
    r: ConfigReader,
    f: dict[str, Node],
    path: str,
    item: Node,
    tag_count: int,
    unit: str | None,
    unit_tag_key: str | None,
) -> None:
    """The business-unit tag the policy adds must exist and fit, next to the declared tags."""
    if unit_tag_key is None:
        r.problem(
            item,
            path,
            "a managed policy tags usage with its business unit under the first attribution.tag_keys entry, "
            "but attribution.tag_keys is empty",
        )
    elif tag_count + 1 > MAX_POLICY_TAGS:
        r.problem(
            f["tags"],
            f"{path}.tags",
            f"{tag_count} tags plus the business-unit tag exceed the {MAX_POLICY_TAGS} tags a policy can have",
        )
    elif len(unit_tag_key) > MAX_POLICY_TAG_KEY:
        r.problem(
            item,
            path,
            f"the business-unit tag key (the first attribution.tag_keys entry) is {len(unit_tag_key)} characters; "
            f"a policy tag key has at most {MAX_POLICY_TAG_KEY}",
        )
    if unit is not None and len(unit) > MAX_POLICY_TAG_VALUE:
        r.problem(
            f["business_unit"],
            f"{path}.business_unit",
            f"the policy tags usage with the unit id, which is {len(unit)} characters; a policy tag value has "
            f"at most {MAX_POLICY_TAG_VALUE}",
        )


def _policy_name(r: ConfigReader, node: Node, path: str) -> str | None:
    name = r.text(node, path)
    if name is None:
        return None
    try:
        name.encode("latin-1")
    except UnicodeEncodeError:
        r.problem(node, path, f"{show(name)} has characters outside ISO 8859-1 (latin-1), which policy names allow")
        return None
    if name.startswith(_DEFAULT_POLICY_PREFIX):
        r.problem(node, path, f"names starting with {_DEFAULT_POLICY_PREFIX!r} are reserved by Databricks")
        return None
    if len(name) > MAX_POLICY_NAME:
        r.problem(node, path, f"{show(name)} is {len(name)} characters; a policy name has at most {MAX_POLICY_NAME}")
        return None
    return name


def _policy_tags(
    r: ConfigReader, node: Node, path: str, unit: str | None, units: Units, attribution: Attribution
) -> tuple[tuple[str, str], ...] | None:
    """Declared tags (key -> value): no reserved key, and no business-unit key naming another unit."""
    entries = r.entries(node, path)
    if entries is None:
        return None
    unit_keys = [tag_key_form(key) for key in attribution.tag_key_names]
    tags = []
    for key, (key_node, value_node) in entries.items():
        key_path = _key_path(path, key)
        tag_key = r.text(key_node, key_path)
        value = r.text(value_node, key_path)
        if tag_key is None or value is None:
            continue
        # Every problem of the key and of the value is reported; a tag with any is not checked further.
        found = len(r.problems)
        _check_tag(r, key_node, value_node, key_path, (tag_key, value), unit_keys)
        if len(r.problems) > found:
            continue
        if (
            unit is not None
            and tag_key_form(tag_key) in unit_keys
            and not _selects_unit(r, value_node, key_path, (tag_key, value), unit, units, attribution)
        ):
            continue
        tags.append((tag_key, value))
    return tuple(tags)


def _check_tag(
    r: ConfigReader, key_node: Node, value_node: Node, key_path: str, tag: tuple[str, str], unit_keys: list[str]
) -> None:
    """The API's limits on a tag, its reserved keys, and the business-unit key the policy sets itself."""
    tag_key, value = tag
    if len(tag_key) > MAX_POLICY_TAG_KEY:
        r.problem(
            key_node,
            key_path,
            f"{show(tag_key)} is {len(tag_key)} characters; a policy tag key has at most {MAX_POLICY_TAG_KEY}",
        )
    if tag_key.strip().lower() in RESERVED_POLICY_TAG_KEYS:
        r.problem(key_node, key_path, f"{show(tag_key)} is a tag key Databricks reserves for budget policies")
    elif unit_keys and tag_key_form(tag_key) == unit_keys[0]:
        r.problem(
            key_node,
            key_path,
            f"{show(tag_key)} is the first attribution tag key, which the policy sets from business_unit "
            "itself: leave it out",
        )
    if len(value) > MAX_POLICY_TAG_VALUE:
        r.problem(
            value_node,
            key_path,
            f"{show(value)} is {len(value)} characters; a policy tag value has at most {MAX_POLICY_TAG_VALUE}",
        )


def _selects_unit(
    r: ConfigReader,
    value_node: Node,
    key_path: str,
    tag: tuple[str, str],
    unit: str,
    units: Units,
    attribution: Attribution,
) -> bool:
    """Whether a business-unit tag selects the policy's own unit and no other (if not, that is a problem)."""
    tag_key, value = tag
    others = _tag_value_units(normalise(value), units, attribution) - {unit}
    if others:
        r.problem(
            value_node,
            key_path,
            f"business-unit tag {tag_key}={value} would attribute usage to {', '.join(sorted(others))}, "
            f"not to the policy's business unit {unit!r}",
        )
        return False
    if not _tag_value_units(normalise(value), units, attribution):
        r.problem(
            value_node,
            key_path,
            f"business-unit tag {tag_key}={value} selects no business unit; name {unit!r} or leave it out",
        )
        return False
    return True


def _key_path(path: str, key: str, limit: int = 60) -> str:
    """`join_path(path, key)`, with a long key cut short: a 513-character key is not printed in full."""
    return join_path(path, key) if len(key) <= limit else f"{path}.{key[: limit - 4]}..."


def _tag_value_units(value: str, units: Units, attribution: Attribution) -> set[str]:
    """Every unit a normalised business-unit tag value selects, on any date."""
    selected = {rule.business_unit for rule in attribution.tag_values if rule.value == value}
    if value in units.by_normalised:
        selected.add(units.by_normalised[value])
    return selected


def _grants(r: ConfigReader, node: Node, path: str) -> tuple[PolicyGrant, ...]:
    first_use: dict[tuple[str, str], tuple[str, int]] = {}  # (kind, principal) -> (path, line) granting it first
    placed = r.items(node, path, ("role",), PRINCIPAL_KINDS, partial(_parse_grant, r, first_use))
    return tuple(grant for grant, _, _ in placed)


def _parse_grant(
    r: ConfigReader, first_use: dict[tuple[str, str], tuple[str, int]], f: dict[str, Node], p: str, item: Node
) -> PolicyGrant | None:
    role = r.get(f, p, "role", lambda n, q: r.choice(n, q, POLICY_ROLES))
    kinds = [kind for kind in PRINCIPAL_KINDS if kind in f]
    if len(kinds) != 1:
        r.problem(item, p, f"give exactly one of {', '.join(PRINCIPAL_KINDS)}")
        return None
    principal = r.get(f, p, kinds[0], r.text)
    if principal is None or role is None:
        return None
    first = first_use.get((kinds[0], principal))
    if first is not None:
        r.problem(item, p, f"{kinds[0]} {show(principal)} is already granted by {first[0]} (line {first[1]})")
        return None
    first_use[(kinds[0], principal)] = (p, line_of(item))
    return PolicyGrant(kinds[0], principal, role)
