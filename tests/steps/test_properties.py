"""Property tests: for random usage and random valid rules, money is conserved, signs hold, runs repeat.

Each example builds raw usage records (with corrections and hostile tag values), list prices with a
change inside a usage hour, and a random valid config (attribution rules and shared-cost pools), then
runs the pure pipeline functions: silver lines (netting, pricing, attribution, pools) and allocation.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from chargeback.config import (
    UNALLOCATED,
    Attribution,
    BusinessUnit,
    Config,
    IdentityRule,
    PolicyRule,
    TagValueRule,
    WorkloadRule,
    WorkspaceRule,
    normalise,
    parse_config,
)
from chargeback.contracts.system_tables import JOBS, LIST_PRICES, PIPELINES, SERVED_ENTITIES, USAGE, WORKSPACES_LATEST
from chargeback.jobs.daily import usage_costs
from chargeback.jobs.params import RunParams
from chargeback.steps import consumption
from chargeback.steps.allocation import allocate
from chargeback.steps.attribution import attribute
from chargeback.steps.workloads import Enrichment
from tests.helpers import DAY, price_row, usage_row

pytestmark = pytest.mark.transform

UNITS = ("data-eng", "finance", "marketing")
WORKSPACES = ("1001", "1002", "1003")
PRODUCTS = ("JOBS", "SQL", "NETWORKING")
SKUS = ("SKU_A", "SKU_B", "SKU_UNPRICED")
POLICIES = ("pol-1", "pol-2")
IDENTITIES = ("a@x.io", "b@x.io")
WAREHOUSE = "wh-1"
PRICE_CHANGE = dt.datetime.combine(DAY, dt.time(10, 17, 3))
PRICES = [
    price_row("SKU_A", "0.55", dt.datetime(2020, 1, 1), PRICE_CHANGE),
    price_row("SKU_A", "0.6125", PRICE_CHANGE, None),
    price_row("SKU_B", "0.07", dt.datetime(2020, 1, 1), None),
]
HOSTILE = ("", "Data Eng", "FINANCE", "x'; DROP TABLE t; --", "`marketing`", "🚀", "é" * 300, "data_eng")

quantities = st.decimals(min_value=Decimal("0.000000000000000001"), max_value=Decimal(5000), places=18)


@st.composite
def records(draw: st.DrawFn) -> list[tuple]:
    """ORIGINAL records, some corrected by a RETRACTION (and maybe a RESTATEMENT) later."""
    rows = []
    for i in range(draw(st.integers(1, 25))):
        tags = draw(
            st.dictionaries(st.sampled_from(("business_unit", "Team", "env")), st.sampled_from(HOSTILE), max_size=2)
        )
        policy = draw(st.sampled_from((None, *POLICIES)))
        common = {
            "sku": draw(st.sampled_from(SKUS)),
            "hour": draw(st.sampled_from((9, 10, 11))),
            "day": DAY + dt.timedelta(days=draw(st.integers(0, 2))),
            "workspace_id": draw(st.sampled_from(WORKSPACES)),
            "tags": tags,
            # Some lines are a shared warehouse's, which a pool may split by consumption.
            "metadata": draw(st.sampled_from(({"job_id": str(draw(st.integers(1, 3)))}, {"warehouse_id": WAREHOUSE})))
            | {"budget_policy_id": policy},
            "identity": {"run_as": draw(st.sampled_from(IDENTITIES))},
            "product": draw(st.sampled_from(PRODUCTS)),
        }
        quantity = draw(quantities)
        rows.append(usage_row(str(quantity), record_id=f"r{i}", **common))  # type: ignore[arg-type]
        correction = draw(st.sampled_from(("none", "none", "retract", "restate")))
        if correction != "none":
            rows.append(usage_row(str(-quantity), record_type="RETRACTION", record_id=f"r{i}", **common))  # type: ignore[arg-type]
        if correction == "restate":
            restated = draw(quantities)
            rows.append(usage_row(str(restated), record_type="RESTATEMENT", record_id=f"r{i}", **common))  # type: ignore[arg-type]
    return rows


def _rule(key: str, value: str, unit: str) -> str:
    return f'    - {{{key}: "{value}", business_unit: {unit}, valid_from: 2020-01-01}}\n'


@st.composite
def configs(draw: st.DrawFn) -> Config:
    """A valid config: at most one rule per key, and 0 to 3 shared-cost pools of any method, after (or without) a
    pool splitting the shared warehouse by consumption."""
    unit = st.sampled_from(UNITS)
    text = "version: 1\ncurrency: USD\nprice_currency: USD\nlookback_days: 30\nbusiness_units:\n"
    text += "".join(f"  - {{id: {u}, name: {u.title()}}}\n" for u in UNITS)
    text += "attribution:\n  tag_keys: [business_unit, team]\n"
    policies = draw(st.lists(st.sampled_from(POLICIES), unique=True))
    text += "  budget_policies:\n" + "".join(_rule("policy_id", p, draw(unit)) for p in policies) if policies else ""
    people = draw(st.lists(st.sampled_from(IDENTITIES), unique=True))
    text += "  identities:\n" + "".join(_rule("identity", p, draw(unit)) for p in people) if people else ""
    spaces = draw(st.lists(st.sampled_from(WORKSPACES), unique=True))
    text += "  workspaces:\n" + "".join(_rule("workspace_id", w, draw(unit)) for w in spaces) if spaces else ""
    pools = []
    if draw(st.booleans()):
        idle = draw(
            st.sampled_from(("{method: spread}", "{method: keep}", f"{{method: unit, business_unit: {draw(unit)}}}"))
        )
        match = f"{{warehouse_ids: [{WAREHOUSE}]}}"
        pools.append(f"  - id: pool-use\n    match: {match}\n    method: consumption\n    idle: {idle}\n")
    for i in range(draw(st.integers(0, 3))):
        match = draw(
            st.sampled_from(
                (
                    f"{{billing_origin_products: [{draw(st.sampled_from(PRODUCTS))}]}}",
                    f'{{workspace_ids: ["{draw(st.sampled_from(WORKSPACES))}"]}}',
                    "{unallocated: true}",
                    f'{{sku_patterns: ["SKU_{draw(st.sampled_from("AB?*"))}*"]}}',
                )
            )
        )
        method = draw(st.sampled_from(("proportional", "proportional same", "even", "fixed", "central")))
        body = {
            "proportional": "method: proportional",
            "proportional same": "method: proportional\n    same_product: true",
            "even": "method: even",
            "fixed": "method: fixed\n    percentages: {data-eng: 33.3333, finance: 33.3333, marketing: 33.3334}",
            "central": f"method: central\n    business_unit: {draw(unit)}",
        }[method]
        pools.append(f"  - id: pool-{i}\n    match: {match}\n    {body}\n")
    if pools:
        text += "shared_costs:\n" + "".join(pools)
    return parse_config(text, "property.yml")


def _frames(spark, rows):  # type: ignore[no-untyped-def]
    return (
        spark.createDataFrame(rows, USAGE),
        spark.createDataFrame(PRICES, LIST_PRICES),
        Enrichment(*(spark.createDataFrame([], s) for s in (WORKSPACES_LATEST, JOBS, PIPELINES, SERVED_ENTITIES))),
    )


def _record_cost(row: tuple) -> Decimal:
    """Python reference: one record's list cost at the price in force at its usage_end_time."""
    names = USAGE.fieldNames()
    record = dict(zip(names, row, strict=True))
    for price in PRICES:
        p = dict(zip(LIST_PRICES.fieldNames(), price, strict=True))
        end = p["price_end_time"]
        if (
            p["sku_name"] == record["sku_name"]
            and p["price_start_time"] <= record["usage_end_time"]
            and (end is None or record["usage_end_time"] < end)
        ):
            return record["usage_quantity"] * p["pricing"][2][0]
    return Decimal(0)


@st.composite
def statements(draw: st.DrawFn) -> list[tuple]:
    """Statements on the shared warehouse over the three days: any length, some over hours, some with no task time."""
    rows = []
    for i in range(draw(st.integers(0, 8))):
        start = dt.datetime.combine(DAY, dt.time(8)) + dt.timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
        end = start + dt.timedelta(minutes=draw(st.sampled_from((0, 5, 60, 150))))
        who = draw(st.sampled_from((*IDENTITIES, None)))
        rows.append(("1001", WAREHOUSE, f"s{i}", who, start, end, draw(st.sampled_from((0, 10, 5_000)))))
    return rows


def _usage(spark, config: Config, queries: list[tuple]) -> consumption.Usage:  # type: ignore[no-untyped-def]
    schema = (
        "workspace_id string, warehouse_id string, statement_id string, identity string, start_time timestamp, "
        "end_time timestamp, task_duration_ms bigint"
    )
    units = consumption.identity_units(spark, config.attribution.identities)
    return consumption.Usage(spark.createDataFrame(queries, schema), units)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=records(), config=configs(), queries=statements())
def test_allocation_conserves_money_keeps_pool_signs_and_repeats(spark, rows, config, queries) -> None:
    params = RunParams("main", "chargeback", DAY, DAY + dt.timedelta(days=2), "p", dt.datetime(2026, 11, 1))
    computed = usage_costs(*_frames(spark, rows), config, params)
    # Materialised once: every later check reads these rows instead of re-running the whole plan.
    silver = spark.createDataFrame(computed.collect(), computed.schema)
    lines = silver.collect()
    usage = _usage(spark, config, queries)
    allocated = allocate(silver, config.shared_costs, config.unit_ids, usage)
    shares = allocated.collect()

    billed = sum((r.effective_cost for r in lines), Decimal(0))
    assert sum((r.effective_cost for r in shares), Decimal(0)) == billed  # exact, not only to the cent
    assert abs(billed - sum(map(_record_cost, rows))) <= Decimal("0.01")
    assert {r.business_unit for r in lines} <= {*UNITS, UNALLOCATED}
    assert {r.business_unit for r in shares} <= {*UNITS, UNALLOCATED}

    group = ("pool_id", "usage_date", "workspace_id", "billing_origin_product", "sku_name", "currency_code")
    pools: dict[tuple, Decimal] = {}
    for r in lines:
        if r.pool_id is not None:
            key = tuple(r[c] for c in group)
            pools[key] = pools.get(key, Decimal(0)) + r.effective_cost
    for r in shares:
        if r.cost_kind == "shared":
            assert r.effective_cost * pools[tuple(r[c] for c in group)] >= 0, r

    again = allocate(silver.orderBy(F.desc("usage_line_id")), config.shared_costs, config.unit_ids, usage)
    assert sorted(map(tuple, again.collect())) == sorted(map(tuple, shares))


# --- attribution against a plain-Python reference ----------------------------------------------------------

UNIT_POOL = (
    BusinessUnit("data-eng", "Data Engineering"),
    BusinessUnit("finance", "Finance"),
    BusinessUnit("ml", "ML Platform"),
    BusinessUnit("ops", "Operations"),
    BusinessUnit("sales", "Sales Team"),
)
TAG_KEY_POOL = ("business_unit", "team", "cost-center")
LINE_TAG_KEYS = ("business_unit", "BusinessUnit", "TEAM", "team", "Cost_Center", "env")
ALIASES = ("growth", "mktg", "r-d", "finance", "ml-platform")
RULE_DAYS = (dt.date(2026, 9, 30), dt.date(2026, 10, 1), dt.date(2026, 10, 2), dt.date(2026, 10, 15))
LINE_DAYS = (dt.date(2026, 9, 29), *RULE_DAYS)
TAG_SPELLINGS = ("DATA ENG", "data_eng", "Finance", "ml platform", "ML", "Growth", "MKTG", "R&D", "sales team", "x")
ATTRIBUTED_LINE = (
    "usage_line_id string, usage_date date, workspace_id string, tags_json string, pipeline_tags_json string, "
    "policy_id string, workload_type string, workload_id string, owner_identity string"
)


@st.composite
def validity(draw: st.DrawFn) -> tuple[dt.date, dt.date | None]:
    start = draw(st.sampled_from(RULE_DAYS))
    end = draw(st.sampled_from((None, *(d for d in RULE_DAYS if d > start))))
    return start, end


@st.composite
def attribution_configs(draw: st.DrawFn) -> Config:
    """Configs built directly (no validation): aliases may even name two units on one day."""
    units = draw(st.lists(st.sampled_from(UNIT_POOL), min_size=1, max_size=5, unique=True))
    ids = st.sampled_from([u.id for u in units])
    keys = draw(st.lists(st.sampled_from(TAG_KEY_POOL), max_size=3, unique=True))
    aliases = [
        TagValueRule(normalise(draw(st.sampled_from(ALIASES))), draw(ids), *draw(validity()))
        for _ in range(draw(st.integers(0, 5)))
    ]

    def one_rule_each(keys: tuple[str, ...], make: Any) -> Any:
        return tuple(
            make(key, draw(ids), *draw(validity())) for key in draw(st.lists(st.sampled_from(keys), unique=True))
        )

    attribution = Attribution(
        tag_keys=tuple(normalise(k) for k in keys),
        tag_key_names=tuple(keys),
        tag_values=tuple(aliases),
        budget_policies=one_rule_each(("pol-1", "pol-2"), PolicyRule),
        workloads=one_rule_each(
            ("1", "p1"), lambda key, *rest: WorkloadRule("job" if key == "1" else "pipeline", key, *rest)
        ),
        identities=one_rule_each(IDENTITIES, IdentityRule),
        workspaces=one_rule_each(WORKSPACES, WorkspaceRule),
    )
    return Config(1, "USD", "USD", (), 30, tuple(units), attribution, (), (), (), "reference.yml")


def _tags(draw: st.DrawFn) -> str:
    entries = draw(st.dictionaries(st.sampled_from(LINE_TAG_KEYS), st.sampled_from(TAG_SPELLINGS), max_size=3))
    return json.dumps([{"key": k, "value": v} for k, v in sorted(entries.items())], separators=(",", ":"))


@st.composite
def attributed_lines(draw: st.DrawFn) -> list[tuple]:
    rows = []
    for i in range(draw(st.integers(1, 12))):
        kind, workload = draw(st.sampled_from((("job", "1"), ("job", "2"), ("pipeline", "p1"), ("warehouse", "w"))))
        rows.append(
            (
                f"l{i}",
                draw(st.sampled_from(LINE_DAYS)),
                draw(st.sampled_from(WORKSPACES)),
                _tags(draw),
                _tags(draw),
                draw(st.sampled_from((None, *POLICIES, "pol-9"))),
                kind,
                workload,
                draw(st.sampled_from((None, *IDENTITIES))),
            )
        )
    return rows


def reference_attribution(line: tuple, config: Config) -> tuple[str, str, str, str | None]:
    """(business_unit, method, confidence, key) of one line, straight from the README's rules."""
    _, day, workspace, tags_json, pipeline_tags_json, policy, kind, workload, owner = line
    a = config.attribution

    def in_force(rule: Any) -> bool:
        return rule.valid_from <= day and (rule.valid_to is None or day < rule.valid_to)

    priority: dict[str, int] = {}
    for i, key in enumerate(a.tag_keys):
        priority.setdefault(key.replace("-", ""), i)

    def units_named(value: str) -> set[str]:
        named = {u.id for u in config.business_units if value in (normalise(u.id), normalise(u.name))}
        return named | {r.business_unit for r in a.tag_values if r.value == value and in_force(r)}

    def best_tag(tags: str) -> tuple[int, str, str] | None:
        candidates = []
        for entry in json.loads(tags):
            key, value = normalise(entry["key"]).replace("-", ""), normalise(entry["value"])
            if key in priority:
                candidates += [(priority[key], unit, f"{key}={value}") for unit in units_named(value)]
        return min(candidates) if candidates else None

    def explicit(rules: Any, key: str | None) -> tuple[int, str, str] | None:
        matched = [r.business_unit for r in rules if key is not None and in_force(r) and _rule_key(r) == key]
        return (0, matched[0], key) if matched and key is not None else None

    found = [
        ("tag", "high", best_tag(tags_json)),
        ("budget_policy", "high", explicit(a.budget_policies, policy)),
        ("workload", "high", explicit(a.workloads, f"{kind}:{workload}")),
        ("pipeline_tag", "medium", best_tag(pipeline_tags_json) if kind == "pipeline" else None),
        ("identity", "medium", explicit(a.identities, owner)),
        ("workspace", "low", explicit(a.workspaces, workspace)),
    ]
    for method, confidence, match in found:
        if match is not None:
            return match[1], method, confidence, match[2]
    return UNALLOCATED, "unallocated", "none", None


def _rule_key(rule: object) -> str:
    if isinstance(rule, PolicyRule):
        return rule.policy_id
    if isinstance(rule, WorkloadRule):
        return f"{rule.workload_type}:{rule.workload_id}"
    if isinstance(rule, IdentityRule):
        return rule.identity
    assert isinstance(rule, WorkspaceRule)
    return rule.workspace_id


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=attributed_lines(), config=attribution_configs())
def test_attribution_matches_the_reference_rules(spark, lines, config) -> None:
    actual = attribute(spark.createDataFrame(lines, ATTRIBUTED_LINE), config).collect()
    assert len(actual) == len(lines)
    by_id = {
        r.usage_line_id: (r.business_unit, r.attribution_method, r.attribution_confidence, r.attribution_key)
        for r in actual
    }
    for line in lines:
        assert by_id[line[0]] == reference_attribution(line, config), line
