"""The `attribution` section: the tag keys in priority order and the explicit, dated attribution rules."""

from __future__ import annotations

from functools import partial

from yaml.nodes import Node

from chargeback.config.model import (
    WORKLOAD_TYPES,
    Attribution,
    IdentityRule,
    PolicyRule,
    TagValueRule,
    WorkloadRule,
    WorkspaceRule,
    normalise,
)
from chargeback.config.reader import show
from chargeback.config.values import ConfigReader, Units

_PATH = "attribution"
_LISTS = ("tag_values", "budget_policies", "workloads", "identities", "workspaces")
_DATED = ("valid_to",)


def parse_attribution(r: ConfigReader, node: Node | None, units: Units) -> Attribution:
    f = (r.fields(node, _PATH, (), ("tag_keys", *_LISTS)) if node is not None else None) or {}
    tag_keys = _tag_keys(r, f["tag_keys"], f"{_PATH}.tag_keys") if "tag_keys" in f else ()
    tag_values = r.items(
        f.get("tag_values"),
        f"{_PATH}.tag_values",
        ("value", "business_unit", "valid_from"),
        _DATED,
        partial(_parse_tag_value, r, units),
    )
    policies = r.items(
        f.get("budget_policies"),
        f"{_PATH}.budget_policies",
        ("policy_id", "business_unit", "valid_from"),
        _DATED,
        partial(_parse_policy_rule, r, units),
    )
    workloads = r.items(
        f.get("workloads"),
        f"{_PATH}.workloads",
        ("workload_type", "workload_id", "business_unit", "valid_from"),
        _DATED,
        partial(_parse_workload_rule, r, units),
    )
    identities = r.items(
        f.get("identities"),
        f"{_PATH}.identities",
        ("identity", "business_unit", "valid_from"),
        _DATED,
        partial(_parse_identity_rule, r, units),
    )
    workspaces = r.items(
        f.get("workspaces"),
        f"{_PATH}.workspaces",
        ("workspace_id", "business_unit", "valid_from"),
        _DATED,
        partial(_parse_workspace_rule, r, units),
    )
    r.check_overlaps(tag_values, lambda rule: rule.value, "tag value")
    r.check_overlaps(policies, lambda rule: rule.policy_id, "policy_id")
    r.check_overlaps(workloads, lambda rule: (rule.workload_type, rule.workload_id), "workload")
    r.check_overlaps(identities, lambda rule: rule.identity, "identity")
    r.check_overlaps(workspaces, lambda rule: rule.workspace_id, "workspace_id")
    return Attribution(
        tag_keys=tuple(normalise(key) for key in tag_keys),
        tag_key_names=tag_keys,
        tag_values=tuple(rule for rule, _, _ in tag_values),
        budget_policies=tuple(rule for rule, _, _ in policies),
        workloads=tuple(rule for rule, _, _ in workloads),
        identities=tuple(rule for rule, _, _ in identities),
        workspaces=tuple(rule for rule, _, _ in workspaces),
    )


def _tag_keys(r: ConfigReader, node: Node, path: str) -> tuple[str, ...]:
    """The tag keys as written; no two may normalise alike."""
    keys: dict[str, str] = {}  # normalised -> as written
    for index, item in enumerate(r.sequence(node, path) or []):
        raw = r.text(item, f"{path}[{index}]")
        if raw is None:
            continue
        key = normalise(raw)
        if not key:
            r.problem(item, f"{path}[{index}]", f"{show(raw)} has no letters or digits")
        elif key in keys:
            r.problem(item, f"{path}[{index}]", f"{show(raw)} normalises to {key!r}, which is already listed")
        else:
            keys[key] = raw
    return tuple(keys.values())


def _rule_unit(r: ConfigReader, units: Units, rule: dict[str, Node], p: str) -> str | None:
    return r.get(rule, p, "business_unit", lambda n, q: r.unit(n, q, units))


def _parse_tag_value(r: ConfigReader, units: Units, rule: dict[str, Node], p: str, _: Node) -> TagValueRule | None:
    raw, bu, validity = r.get(rule, p, "value", r.text), _rule_unit(r, units, rule, p), r.validity(rule, p)
    value = normalise(raw) if raw is not None else ""
    if raw is not None and not value:
        r.problem(rule["value"], f"{p}.value", f"{show(raw)} has no letters or digits")
    elif value and bu is not None and units.by_normalised.get(value, bu) != bu:
        r.problem(
            rule["value"],
            f"{p}.value",
            f"normalises to {value!r}, the id or name of business unit {units.by_normalised[value]!r}, "
            "which that value always selects",
        )
    if not value or bu is None or validity is None:
        return None
    return TagValueRule(value, bu, *validity)


def _parse_policy_rule(r: ConfigReader, units: Units, rule: dict[str, Node], p: str, _: Node) -> PolicyRule | None:
    policy_id, bu, validity = r.get(rule, p, "policy_id", r.text), _rule_unit(r, units, rule, p), r.validity(rule, p)
    if policy_id is None or bu is None or validity is None:
        return None
    return PolicyRule(policy_id, bu, *validity)


def _parse_workload_rule(r: ConfigReader, units: Units, rule: dict[str, Node], p: str, _: Node) -> WorkloadRule | None:
    kind = r.get(rule, p, "workload_type", lambda n, q: r.choice(n, q, WORKLOAD_TYPES))
    workload_id, bu = r.get(rule, p, "workload_id", r.text), _rule_unit(r, units, rule, p)
    validity = r.validity(rule, p)
    if kind is None or workload_id is None or bu is None or validity is None:
        return None
    return WorkloadRule(kind, workload_id, bu, *validity)


def _parse_identity_rule(r: ConfigReader, units: Units, rule: dict[str, Node], p: str, _: Node) -> IdentityRule | None:
    who, bu, validity = r.get(rule, p, "identity", r.text), _rule_unit(r, units, rule, p), r.validity(rule, p)
    if who is None or bu is None or validity is None:
        return None
    return IdentityRule(who, bu, *validity)


def _parse_workspace_rule(
    r: ConfigReader, units: Units, rule: dict[str, Node], p: str, _: Node
) -> WorkspaceRule | None:
    workspace_id, bu = r.get(rule, p, "workspace_id", r.workspace_id), _rule_unit(r, units, rule, p)
    validity = r.validity(rule, p)
    if workspace_id is None or bu is None or validity is None:
        return None
    return WorkspaceRule(workspace_id, bu, *validity)
