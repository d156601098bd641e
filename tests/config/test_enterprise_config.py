"""Config size (issue 15, finding 5): a config of thousands of business units, tag aliases and rules loads in
seconds, runs end to end, and builds the same query plan as a config of five.

Attribution and shared-cost pools used to build one nested CASE branch per unit, alias or pool: at about 20
units Spark Connect refused the plan (protobuf nesting limit). Now the config is joined as data.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf.message import Message
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from chargeback.config import UNALLOCATED, Config, load_config, loading, parse_config, validate_config_file
from chargeback.contracts import cost_tables
from chargeback.dates import DaySet
from chargeback.errors import ConfigError
from chargeback.jobs.daily import build_usage_costs, run
from chargeback.jobs.params import RunParams
from chargeback.jobs.plan import DayPlan, RunPlan
from chargeback.local.engine import local_session
from chargeback.local.enterprise_config import (
    ENTERPRISE_ALIASES,
    ENTERPRISE_IDENTITIES,
    ENTERPRISE_UNITS,
    SYNTHETIC_IDENTITIES,
    SYNTHETIC_TAG_VALUE,
    enterprise_config_text,
    unit_id,
)
from chargeback.local.lakehouse import LocalLakehouse
from chargeback.local.synthetic import generate
from chargeback.steps.allocation import assign_pools
from chargeback.steps.attribution import attribute
from tests.helpers import DAY
from tests.helpers import config as small_config

BASE_FILE = Path(__file__).resolve().parents[2] / "config" / "chargeback.yml"
LINE_SCHEMA = (
    "usage_line_id string, usage_date date, workspace_id string, tags_json string, pipeline_tags_json string, "
    "policy_id string, workload_type string, workload_id string, owner_identity string"
)
POOL_LINE_SCHEMA = (
    "workspace_id string, warehouse_id string, billing_origin_product string, sku_name string, business_unit string"
)


def _tags(**kv: str) -> str:
    return json.dumps([{"key": k, "value": v} for k, v in sorted(kv.items())], separators=(",", ":"))


def _line(line_id: str, tags: str = "[]", owner: str | None = None, day: dt.date = DAY) -> tuple:
    return (line_id, day, "1111", tags, "[]", None, "job", "1", owner)


def _units_config(units: int, aliases: int = 0, pools: str = "") -> Config:
    """The test config with `units` more units (names unlike their ids) and `aliases` aliases, each moving from
    one unit to the next on 2026-10-05."""
    extra_units = "".join(f"  - {{id: u{i:03d}, name: Cost Center {i:03d}}}\n" for i in range(units))
    alias = "".join(
        f"    - {{value: alias-{i}, business_unit: u{i % units:03d}, valid_from: 2026-01-01, valid_to: 2026-10-05}}\n"
        f"    - {{value: alias-{i}, business_unit: u{(i + 1) % units:03d}, valid_from: 2026-10-05}}\n"
        for i in range(aliases)
    )
    attribution = "attribution:\n  tag_keys: [business_unit, team]\n" + (f"  tag_values:\n{alias}" if alias else "")
    # The units go at the end of the business_units list, just before the attribution section.
    return small_config(pools, attribution=extra_units + attribution)


# --- loading and validating -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def enterprise_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("enterprise") / "chargeback.yml"
    path.write_text(enterprise_config_text(BASE_FILE.read_text(encoding="utf-8")), encoding="utf-8")
    return path


def test_the_enterprise_config_loads_and_validates(enterprise_file: Path) -> None:
    base = load_config(BASE_FILE)
    config = load_config(enterprise_file)
    assert len(config.business_units) == len(base.business_units) + ENTERPRISE_UNITS
    assert len(config.attribution.tag_values) == len(base.attribution.tag_values) + ENTERPRISE_ALIASES
    assert len(config.attribution.identities) == len(base.attribution.identities) + ENTERPRISE_IDENTITIES
    assert validate_config_file(enterprise_file) == []
    cli = subprocess.run(
        [sys.executable, "-m", "chargeback", "validate-config", str(enterprise_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    assert "valid" in cli.stdout


def test_libyaml_and_pyyaml_read_a_config_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large configs are composed by LibYAML; the result (and every problem) is the pure-Python loader's."""
    good = enterprise_config_text(BASE_FILE.read_text(encoding="utf-8"), 300, 1_200, 120)
    # Problems too: an unknown unit, a duplicate key, an overlap, a unit named like another.
    bad = (
        good.replace("parent: cc-00003,", "parent: cc-99999,", 1)
        .replace("cost_center: CC-900010}", "cost_center: CC-900010, cost_center: x}", 1)
        .replace('"project-00001", business_unit: cc-00001', '"reorg-00005", business_unit: cc-00002', 1)
        .replace("name: Cost Center 00020", "name: cc-00021", 1)
    )
    assert good != bad

    def read(text: str) -> Config | list[str]:
        try:
            return parse_config(text, "e.yml")
        except ConfigError as exc:
            return [str(p) for p in exc.problems]

    fast = [read(good), read(bad)]
    monkeypatch.setattr(loading, "_FAST_LOADER", None)
    assert [read(good), read(bad)] == fast
    assert isinstance(fast[0], Config) and isinstance(fast[1], list) and len(fast[1]) >= 4


def test_a_deep_unit_hierarchy_and_its_cycle_are_checked_once() -> None:
    """5,000 units each the parent of the next: checking parents is linear, not quadratic in the depth."""
    chain = "".join(
        f"  - {{id: c{i:05d}, name: Chain {i:05d}{f', parent: c{i - 1:05d}' if i else ''}}}\n" for i in range(5_000)
    )
    cycle = (
        "  - {id: loop-a, name: Loop A, parent: loop-c}\n"
        "  - {id: loop-b, name: Loop B, parent: loop-a}\n"
        "  - {id: loop-c, name: Loop C, parent: loop-b}\n"
        "  - {id: into-loop, name: Into Loop, parent: loop-b}\n"
    )
    text = f"version: 1\ncurrency: USD\nprice_currency: USD\nlookback_days: 30\nbusiness_units:\n{chain}{cycle}"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "deep.yml")
    assert [p.message for p in caught.value.problems] == ["parent cycle: loop-a -> loop-c -> loop-b -> loop-a"]
    assert len(parse_config(f"{text[: text.index('  - {id: loop-a')]}", "deep.yml").business_units) == 5_000


# --- one plan for any config ----------------------------------------------------------------------------------


def _plan_shape(df: DataFrame) -> tuple[int, int]:
    """(expressions, deepest expression nesting) of a DataFrame's Spark Connect plan."""
    plan = df._plan.to_proto(df.sparkSession.client)  # type: ignore[operator]
    count, deepest = 0, 0
    todo: list[tuple[Message, int]] = [(plan, 0)]
    while todo:
        message, depth = todo.pop()
        is_expression = message.DESCRIPTOR.name == "Expression"
        count += is_expression
        deepest = max(deepest, depth)
        for field, value in message.ListFields():
            if field.type != field.TYPE_MESSAGE:
                continue
            if isinstance(value, Message):
                children = [value]
            else:  # a repeated field, or a map (whose values are the messages)
                children = list(value.values()) if hasattr(value, "values") else list(value)
            todo += [(child, depth + is_expression) for child in children if isinstance(child, Message)]
    return count, deepest


@pytest.mark.transform
def test_twenty_five_units_attribute_without_a_recursion_error(spark):
    """Failed before: 'Exceeded upb_DecodeOptions_MaxDepth' while building the attribution plan."""
    cfg = _units_config(25, aliases=10)
    lines = spark.createDataFrame(
        [
            _line("name", _tags(team="COST CENTER 024")),
            _line("id", _tags(BusinessUnit="U017")),
            _line("alias-before", _tags(team="Alias 3"), day=dt.date(2026, 10, 4)),
            _line("alias-after", _tags(team="alias_3"), day=dt.date(2026, 10, 5)),
            _line("nothing", _tags(team="cost center 999")),
        ],
        LINE_SCHEMA,
    )
    got = {r.usage_line_id: (r.business_unit, r.attribution_key) for r in attribute(lines, cfg).collect()}
    assert got == {
        "name": ("u024", "team=cost-center-024"),
        "id": ("u017", "businessunit=u017"),
        "alias-before": ("u003", "team=alias-3"),
        "alias-after": ("u004", "team=alias-3"),
        "nothing": (UNALLOCATED, None),
    }


@pytest.mark.transform
def test_sixty_pools_with_many_sku_patterns_assign_without_a_recursion_error(spark):
    patterns = ", ".join(f'"SKU_{i}_*"' for i in range(80)) + ', "ODD_?"'
    pools = "shared_costs:\n" + "".join(
        f'  - id: pool-{i}\n    match: {{workspace_ids: ["{1000 + i}"], sku_patterns: [{patterns}]}}\n'
        "    method: even\n"
        for i in range(60)
    )
    pools += "  - id: leftovers\n    match: {unallocated: true, billing_origin_products: [JOBS]}\n    method: even\n"
    cfg = small_config(pools)
    lines = spark.createDataFrame(
        [
            ("1042", None, "SQL", "SKU_79_X", "finance"),  # pool-42
            ("1042", None, "SQL", "ODD_1", "finance"),  # pool-42: '?' is one character
            ("1042", None, "SQL", "ODD_12", "finance"),  # no: two characters
            ("1042", None, "SQL", "SKU%79_X", "finance"),  # no: '%' is not a wildcard of the glob
            ("9999", None, "JOBS", "SKU_1_A", UNALLOCATED),  # leftovers
            ("9999", None, "JOBS", "SKU_1_A", "finance"),  # no: allocated
        ],
        POOL_LINE_SCHEMA,
    )
    got = [r.pool_id for r in assign_pools(lines, cfg.shared_costs).collect()]
    assert got == ["pool-42", "pool-42", None, None, "leftovers", None]


@pytest.mark.transform
def test_the_query_plan_is_the_same_for_five_units_as_for_five_thousand(spark):
    base = BASE_FILE.read_text(encoding="utf-8")
    small, large = parse_config(base, "base.yml"), parse_config(enterprise_config_text(base), "enterprise.yml")
    lines = spark.createDataFrame([_line("x")], LINE_SCHEMA).withColumns(
        {c: F.lit(None).cast("string") for c in ("sku_name", "warehouse_id", "billing_origin_product")}
    )
    shapes = [_plan_shape(attribute(lines, cfg).transform(assign_pools, cfg.shared_costs)) for cfg in (small, large)]
    assert shapes[0] == shapes[1]
    assert shapes[0][1] < 40  # nesting depth, far below Spark Connect's limit of 100 messages


# --- end to end -----------------------------------------------------------------------------------------------

START = dt.date(2026, 9, 20)
DAYS = 14


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLakehouse]:
    with local_session(["system", "main"]) as spark:
        lakehouse = LocalLakehouse(spark, tmp_path_factory.mktemp("enterprise-lakehouse"))
        generate(lakehouse, START, DAYS, seed=5, scale=300)
        yield lakehouse


@pytest.mark.slow
def test_the_pipeline_runs_the_enterprise_config_end_to_end(store: LocalLakehouse, enterprise_file: Path) -> None:
    """It balances, writes every unit and rule to the config tables, and attributes like the base config except
    where its rules about the synthetic account's own tag values and users say otherwise."""
    config = load_config(enterprise_file)
    end = START + dt.timedelta(days=DAYS - 1)
    params = RunParams("main", "chargeback", START, end, "e", dt.datetime(2026, 10, 5, tzinfo=dt.UTC))
    summary = run(store, config, params)
    assert summary.is_balanced and summary.usage_line_count > 0
    assert summary.rows_written["business_units"] == len(config.business_units)

    days = tuple(DayPlan(day, None, True, None, "every line") for day in DaySet.between(START, end))
    whole = RunPlan("full", None, "", days)
    expected = {r.usage_line_id: r for r in build_usage_costs(store, load_config(BASE_FILE), params, whole).collect()}
    actual = {r.usage_line_id: r for r in store.read(params.table(cost_tables.USAGE_COSTS)).collect()}
    assert actual.keys() == expected.keys()
    value, unit = SYNTHETIC_TAG_VALUE
    hooks = {
        ("tag", f"team={value}"): unit_id(unit),
        **{("identity", who): unit_id(i) for who, i in SYNTHETIC_IDENTITIES},
    }
    moved = set()
    for line_id, row in actual.items():
        was = expected[line_id]
        now = (row.business_unit, row.attribution_method, row.attribution_key)
        if now != (was.business_unit, was.attribution_method, was.attribution_key):
            assert hooks.get((row.attribution_method, row.attribution_key)) == row.business_unit, (was, row)
            moved.add((row.attribution_method, row.attribution_key))
    assert ("tag", f"team={value}") in moved
