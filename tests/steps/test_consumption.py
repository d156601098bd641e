"""Consumption-based split of shared warehouse hours (`steps.consumption`, gold by `marts.consumption`), on every
engine.

Step tests on tiny inline data compare whole DataFrames; property tests draw random statement timelines (spanning
hours, idle hours, zero task time, NULL identities) and check that every billed hour is conserved exactly with no
negative share; the last test splits a generated account's shared warehouse and checks it against a plain-Python
computation of the same formula.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from chispa import assert_df_equality
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from chargeback.config import UNALLOCATED, IdleRule, PoolMatch, SharedPool
from chargeback.contracts.cost_tables import COMPUTE_CONSUMPTION_HOURLY
from chargeback.contracts.system_tables import QUERY_HISTORY, WAREHOUSES
from chargeback.errors import InputError
from chargeback.local import synthetic
from chargeback.marts.consumption import consumption_hourly
from chargeback.steps.consumption import consumption_shares, identity_units, pool_lines, query_window, stage_queries
from tests.consumption_reference import reference_split
from tests.helpers import DAY, assert_rows, config, struct_value

WS, WH = "1111", "wh-shared"
LINES = (
    "workspace_id string, warehouse_id string, usage_start_time timestamp, "
    "list_cost decimal(38,10), effective_cost decimal(38,10), currency_code string"
)
QUERIES = (
    "workspace_id string, warehouse_id string, statement_id string, identity string, "
    "start_time timestamp, end_time timestamp, task_duration_ms bigint"
)
UNITS = "identity string, business_unit string, valid_from date, valid_to date"
OUTPUT = (
    "usage_hour timestamp, usage_date date, workspace_id string, warehouse_id string, warehouse_name string, "
    "warehouse_owner string, workspace_name string, pool_id string, identity string, "
    "is_idle boolean, allocation_basis string, business_unit string, task_duration_ms decimal(38,3), "
    "query_count bigint, share_of_hour decimal(13,12), list_cost decimal(38,10), effective_cost decimal(38,10), "
    "currency_code string, run_id string"
)


def at(hour: int, minute: int = 0, second: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute, second))


def line(hour: int, list_cost: str, cost: str, wh: str = WH, day: dt.date = DAY) -> tuple:
    return (WS, wh, at(hour, day=day), Decimal(list_cost), Decimal(cost), "USD")


def query(qid: str, who: str | None, start: dt.datetime, end: dt.datetime | None, task: int, wh: str = WH) -> tuple:
    return (WS, wh, qid, who, start, end, task)


def row(hour: int, who: str | None, basis: str, unit: str, task: str, n: int, share: str, lst: str, cost: str) -> tuple:
    idle = basis != "consumption"
    return (at(hour), DAY, WS, WH, "bi", "owner@x.io", "ws", "pool", who, idle, basis, unit, Decimal(task), n,
            Decimal(share), Decimal(lst), Decimal(cost), "USD", "r1")  # fmt: skip


# Hour 10 (billed in two lines, 10 / 8): alice 1800 ms (half of a 10:30-11:30 statement), bob 600 and a service
# principal 600 ms ending exactly at 11:00, which adds nothing to hour 11. Hour 11 (20 / 16): alice 1800, a NULL
# identity 100, bob 100 from a statement with no end_time; a cached result (no task time) gives no row.
# Hour 12 (5 / 4) is billed with no statement: idle. Hour 14 has a statement but no bill.
SP = "7d1e9a3b-5c2f-4e8a-b6d4-1f0e9c8b7a65"
LINE_ROWS = [line(10, "6", "5"), line(10, "4", "3"), line(11, "20", "16"), line(12, "5", "4")]
QUERY_ROWS = [
    query("q1", "alice@x.io", at(10, 30), at(11, 30), 3600),
    query("q2", "bob@x.io", at(10, 0), at(10, 15), 600),
    query("q3", SP, at(10, 45), at(11, 0), 600),
    query("q4", None, at(11, 10), at(11, 20), 100),
    query("q5", "carol@x.io", at(11, 5), at(11, 6), 0),
    query("q6", "bob@x.io", at(11, 59, 59), None, 100),
    query("q7", "alice@x.io", at(14, 0), at(14, 10), 5000),
    query("q8", "alice@x.io", at(10, 0), at(10, 5), 900, wh="wh-other"),  # another warehouse: not this one's
]
UNIT_ROWS = [
    ("alice@x.io", "finance", dt.date(2020, 1, 1), None),
    (SP, "platform", dt.date(2020, 1, 1), None),
    ("bob@x.io", "marketing", dt.date(2020, 1, 1), DAY),  # expired the day before: bob is UNALLOCATED
]
BUSY = [
    row(10, "alice@x.io", "consumption", "finance", "1800", 1, "0.6", "6", "4.8"),
    row(10, "bob@x.io", "consumption", UNALLOCATED, "600", 1, "0.2", "2", "1.6"),
    row(10, SP, "consumption", "platform", "600", 1, "0.2", "2", "1.6"),
    row(11, "alice@x.io", "consumption", "finance", "1800", 1, "0.9", "18", "14.4"),
    row(11, None, "consumption", UNALLOCATED, "100", 1, "0.05", "1", "0.8"),
    row(11, "bob@x.io", "consumption", UNALLOCATED, "100", 1, "0.05", "1", "0.8"),
]


pytestmark = pytest.mark.transform


def bills(spark: SparkSession, rule: IdleRule, lines: list[tuple]) -> DataFrame:
    """Pool lines as `pool_lines` gives them: one pool, one SKU, the warehouse named `bi` (others by their id)."""
    return spark.createDataFrame(lines, LINES).withColumns(
        {
            "pool_id": F.lit("pool"),
            "billing_origin_product": F.lit("SQL"),
            "sku_name": F.lit("PREMIUM_SERVERLESS_SQL_COMPUTE_US_EAST_N_VIRGINIA"),
            "warehouse_name": F.when(F.col("warehouse_id") == WH, F.lit("bi")).otherwise(F.col("warehouse_id")),
            "workspace_name": F.lit("ws"),
            "idle_method": F.lit(rule.method),
            "idle_unit": F.lit(rule.business_unit).cast("string"),
        }
    )


def warehouses(spark: SparkSession) -> DataFrame:
    row = struct_value(WAREHOUSES, {"workspace_id": WS, "warehouse_id": WH, "created_by": "owner@x.io"})
    return spark.createDataFrame([row], WAREHOUSES)


def split(spark: SparkSession, rule: IdleRule, lines: list[tuple] = LINE_ROWS, queries: list[tuple] = QUERY_ROWS):  # type: ignore[no-untyped-def]
    units = spark.createDataFrame(UNIT_ROWS, UNITS)
    shares = consumption_shares(bills(spark, rule, lines), spark.createDataFrame(queries, QUERIES), units)
    return consumption_hourly(shares, warehouses(spark), "r1")


def expect(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(rows, OUTPUT)


def test_task_time_splits_each_billed_hour_by_overlap_and_idle_hours_stay_visible(spark):
    actual = split(spark, IdleRule("keep"))
    expected = expect(spark, [*BUSY, row(12, None, "idle_kept", UNALLOCATED, "0", 0, "1", "5", "4")])
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
    assert actual.columns == COMPUTE_CONSUMPTION_HOURLY.column_names


def test_idle_hours_spread_over_the_days_users_by_their_task_time_that_day(spark):
    # Task time on the day: alice 1800 + 1800 + 5000 (the unbilled hour counts as use) = 8600, bob 700, the
    # service principal 600, NULL 100: 86%, 7%, 6%, 1%. The other warehouse's statement does not count.
    actual = split(spark, IdleRule("spread"))
    idle = [
        row(12, "alice@x.io", "idle_spread", "finance", "0", 0, "0.86", "4.3", "3.44"),
        row(12, "bob@x.io", "idle_spread", UNALLOCATED, "0", 0, "0.07", "0.35", "0.28"),
        row(12, SP, "idle_spread", "platform", "0", 0, "0.06", "0.3", "0.24"),
        row(12, None, "idle_spread", UNALLOCATED, "0", 0, "0.01", "0.05", "0.04"),
    ]
    assert_df_equality(actual, expect(spark, BUSY + idle), ignore_row_order=True, ignore_nullable=True)


def test_idle_hours_go_to_a_named_unit(spark):
    actual = split(spark, IdleRule("unit", "platform"))
    expected = expect(spark, [*BUSY, row(12, None, "idle_unit", "platform", "0", 0, "1", "5", "4")])
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_day_with_no_task_time_keeps_its_idle_hours_under_spread(spark):
    cached_only = [query("c1", "alice@x.io", at(9, 1), at(9, 2), 0)]
    actual = split(spark, IdleRule("spread"), [line(9, "3", "2.5")], cached_only)
    expected = expect(spark, [row(9, None, "idle_kept", UNALLOCATED, "0", 0, "1", "3", "2.5")])
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_the_rounding_remainder_goes_to_the_largest_user_then_the_smallest_identity(spark):
    thirds = [query(f"t{i}", who, at(9, 10), at(9, 20), 500) for i, who in enumerate(("c@x.io", "a@x.io", "b@x.io"))]
    actual = split(spark, IdleRule("keep"), [line(9, "1", "-1")], thirds)  # a credit splits toward zero too
    third = "0.333333333333"
    expected = expect(
        spark,
        [
            row(9, "a@x.io", "consumption", UNALLOCATED, "500", 1, third, "0.3333333334", "-0.3333333334"),
            row(9, "b@x.io", "consumption", UNALLOCATED, "500", 1, third, "0.3333333333", "-0.3333333333"),
            row(9, "c@x.io", "consumption", UNALLOCATED, "500", 1, third, "0.3333333333", "-0.3333333333"),
        ],
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_statement_over_midnight_counts_in_both_days_by_overlap(spark):
    night = [query("n", "alice@x.io", at(23, 30), at(0, 30, day=DAY + dt.timedelta(days=1)), 1000)]
    lines = [line(23, "2", "2"), line(0, "4", "4", day=DAY + dt.timedelta(days=1))]
    actual = split(spark, IdleRule("keep"), lines, night).select(
        "usage_date", "identity", "task_duration_ms", "list_cost"
    )
    next_day = DAY + dt.timedelta(days=1)
    expected = spark.createDataFrame(
        [(DAY, "alice@x.io", Decimal("500"), Decimal("2")), (next_day, "alice@x.io", Decimal("500"), Decimal("4"))],
        "usage_date date, identity string, task_duration_ms decimal(38,3), list_cost decimal(38,10)",
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_days_split_does_not_depend_on_the_window_it_is_computed_in(spark):
    next_day = DAY + dt.timedelta(days=1)
    later = [
        line(9, "7", "7", day=next_day),
        line(10, "3", "3", day=next_day),
        query("n1", "bob@x.io", at(9, 10, day=next_day), at(9, 50, day=next_day), 4000),
        query("n2", "dave@x.io", at(23, 50), at(0, 10, day=next_day), 1200),  # over midnight
    ]
    day_lines = [*LINE_ROWS, line(23, "1", "1")]
    day_queries = [*QUERY_ROWS, later[3]]  # what a window of DAY alone reads (statements overlapping it)
    one_day = split(spark, IdleRule("spread"), day_lines, day_queries)
    two_days = split(spark, IdleRule("spread"), [*day_lines, *later[:2]], [*QUERY_ROWS, *later[2:]])
    assert_df_equality(one_day, two_days.where(F.col("usage_date") == DAY), ignore_row_order=True)
    # The next day: hour 9 is bob's; idle hour 10 spreads over bob (4000 ms that day) and dave (600 ms: his
    # statement counts on both days).
    assert_rows(
        two_days.where(F.col("usage_date") == next_day),
        ["usage_hour", "identity", "allocation_basis", "task_duration_ms", "share_of_hour", "effective_cost"],
        [
            (at(9, day=next_day), "bob@x.io", "consumption", Decimal(4000), Decimal(1), Decimal(7)),
            (at(10, day=next_day), "bob@x.io", "idle_spread", Decimal(0), Decimal("0.869565217391"),
             Decimal("2.6086956522")),
            (at(10, day=next_day), "dave@x.io", "idle_spread", Decimal(0), Decimal("0.130434782609"),
             Decimal("0.3913043478")),
        ],
    )  # fmt: skip


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset")
@pytest.mark.parametrize("zone", ["Asia/Tokyo", "Pacific/Honolulu"])
def test_the_query_window_is_utc_whatever_the_client_time_zone(spark, monkeypatch, zone):
    # The client converts datetime literals in its own time zone: a window in UTC must not move with it.
    edges = [query("first", "a@x.io", at(0, day=DAY - dt.timedelta(days=2)), None, 1),
             query("last", "a@x.io", at(23, 59, 59), None, 1),
             query("after", "a@x.io", at(0, day=DAY + dt.timedelta(days=1)), None, 1),
             query("before", "a@x.io", at(23, 59, 59, day=DAY - dt.timedelta(days=3)), None, 1)]  # fmt: skip
    statements = spark.createDataFrame(edges, QUERIES)
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        assert_rows(query_window(statements, DAY, DAY), ["statement_id"], [("first",), ("last",)])
    finally:
        monkeypatch.undo()
        time.tzset()


def test_stage_queries_keeps_warehouse_statements_with_null_task_time_as_zero(spark):
    def statement(qid: str, compute: dict[str, str], task: int | None, status: str) -> tuple:
        return struct_value(
            QUERY_HISTORY,
            {
                "workspace_id": WS,
                "statement_id": qid,
                "executed_by": "alice@x.io",
                "execution_status": status,
                "compute": compute,
                "start_time": at(9),
                "end_time": at(9, 1),
                "total_task_duration_ms": task,
                "query_source": {"job_info": {}},
            },
        )  # type: ignore[return-value]

    history = spark.createDataFrame(
        [
            statement("w1", {"type": "WAREHOUSE", "warehouse_id": WH}, 70, "FAILED"),
            statement("w2", {"type": "WAREHOUSE", "warehouse_id": WH}, None, "FINISHED"),
            statement("s1", {"type": "SERVERLESS_COMPUTE"}, 90, "FINISHED"),
        ],
        QUERY_HISTORY,
    )
    expected = spark.createDataFrame(
        [query("w1", "alice@x.io", at(9), at(9, 1), 70), query("w2", "alice@x.io", at(9), at(9, 1), 0)], QUERIES
    )
    assert_df_equality(stage_queries(history), expected, ignore_row_order=True, ignore_nullable=True)
    window = query_window(history, DAY + dt.timedelta(days=2), DAY + dt.timedelta(days=3))
    assert_rows(window, ["statement_id"], [("w1",), ("w2",), ("s1",)])  # two days of look-back reach DAY's
    assert_rows(query_window(history, DAY + dt.timedelta(days=3), DAY + dt.timedelta(days=3)), ["statement_id"], [])


def test_pool_lines_are_the_consumption_pools_lines_with_their_idle_rule(spark):
    pools = [
        SharedPool("bi", PoolMatch(warehouse_ids=(WH,)), "consumption", False, (), idle=IdleRule("unit", "finance")),
        SharedPool("rest", PoolMatch(warehouse_ids=("wh-2",)), "consumption", False, (), idle=IdleRule("keep")),
    ]
    silver = spark.createDataFrame(
        [
            ("warehouse", WH, WH, "bi", "bi", at(9), Decimal(1), Decimal(1)),
            ("job", "42", "wh-2", "nightly", "rest", at(9), Decimal(4), Decimal(4)),  # typed a job: still wh-2's
            ("job", "42", None, "nightly", "rest", at(9), Decimal(3), Decimal(3)),  # no warehouse's: idle, kept
            ("warehouse", "wh-3", "wh-3", "adhoc", "other", at(9), Decimal(2), Decimal(2)),  # another pool's
            ("warehouse", "wh-4", "wh-4", "adhoc", None, at(9), Decimal(2), Decimal(2)),  # direct cost
        ],
        "workload_type string, workload_id string, warehouse_id string, workload_name string, pool_id string, "
        "usage_start_time timestamp, list_cost decimal(38,10), effective_cost decimal(38,10)",
    ).withColumns(
        {
            "workspace_id": F.lit(WS),
            "workspace_name": F.lit("ws"),
            "currency_code": F.lit("USD"),
            "billing_origin_product": F.lit("SQL"),
            "sku_name": F.lit("S"),
        }
    )
    assert_rows(
        pool_lines(silver, pools),
        ["warehouse_id", "warehouse_name", "pool_id", "idle_method", "idle_unit", "effective_cost"],
        [
            (WH, "bi", "bi", "unit", "finance", Decimal(1)),
            ("wh-2", "wh-2", "rest", "keep", None, Decimal(4)),
            (None, None, "rest", "keep", None, Decimal(3)),
        ],
    )


def test_identity_units_come_from_the_configs_identity_rules(spark):
    rules = config(
        attribution="attribution:\n  tag_keys: [team]\n  identities:\n"
        "    - {identity: alice@x.io, business_unit: finance, valid_from: 2026-01-01, valid_to: 2027-01-01}\n"
    ).attribution.identities
    expected = spark.createDataFrame([("alice@x.io", "finance", dt.date(2026, 1, 1), dt.date(2027, 1, 1))], UNITS)
    assert_df_equality(identity_units(spark, rules), expected, ignore_nullable=True)


def test_idle_rule_needs_a_unit_exactly_for_method_unit() -> None:
    with pytest.raises(InputError, match="business_unit is required"):
        IdleRule("unit")
    with pytest.raises(InputError, match="business_unit is required"):
        IdleRule("keep", "finance")
    with pytest.raises(InputError, match="must be one of"):
        IdleRule("proportional")


# ---------------------------------------------------------------------------------------------------------
# Properties over random statement timelines
# ---------------------------------------------------------------------------------------------------------

IDENTITIES = ("a@x.io", "b@x.io", SP, None)
money_amounts = st.decimals(min_value=Decimal(0), max_value=Decimal(10_000), places=10)


@st.composite
def timelines(draw: st.DrawFn) -> tuple[list[tuple], list[tuple]]:
    """Billed hours (some several lines, some idle) of two warehouses over two days, and statements that start
    anywhere in them, run from zero to five hours (some end on the hour, some have no end), some with no task time."""
    hours = draw(st.lists(st.integers(0, 47), min_size=1, max_size=10, unique=True))
    lines = []
    for h in hours:
        for _ in range(draw(st.integers(1, 2))):
            wh = draw(st.sampled_from((WH, "wh-2")))
            day = DAY + dt.timedelta(days=h // 24)
            lines.append(line(h % 24, str(draw(money_amounts)), str(draw(money_amounts)), wh, day))
    statements = []
    for i in range(draw(st.integers(0, 15))):
        start = at(0) + dt.timedelta(seconds=draw(st.integers(-3_600, 48 * 3_600)))
        length = draw(st.sampled_from((None, 0, 1, 59, 3_600, 7_199, 18_000)))
        end = None if length is None else start + dt.timedelta(seconds=length)
        if draw(st.booleans()) and end is not None:  # end exactly on an hour
            end = end.replace(minute=0, second=0) + dt.timedelta(hours=1)
        task = draw(st.sampled_from((0, 1, 7, 1_000, 3_600_000, 10**10)))
        statements.append(
            query(f"q{i}", draw(st.sampled_from(IDENTITIES)), start, end, task, draw(st.sampled_from((WH, "wh-2"))))
        )
    return lines, statements  # fmt: skip


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=timelines(), rule=st.sampled_from((IdleRule("spread"), IdleRule("keep"), IdleRule("unit", "platform"))))
def test_every_billed_hour_is_conserved_exactly_with_no_negative_share(spark, data, rule) -> None:
    lines, statements = data
    rows = split(spark, rule, lines, statements).collect()
    billed: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for ws, wh, start, lst, cost, _ in lines:
        billed[(ws, wh, start)][0] += lst
        billed[(ws, wh, start)][1] += cost
    split_sums: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for r in rows:
        split_sums[(r.workspace_id, r.warehouse_id, r.usage_hour)][0] += r.list_cost
        split_sums[(r.workspace_id, r.warehouse_id, r.usage_hour)][1] += r.effective_cost
        assert r.list_cost >= 0 and r.effective_cost >= 0 and r.task_duration_ms >= 0, r
        assert r.is_idle == (r.allocation_basis != "consumption")
    assert split_sums == billed  # exactly, every hour, list and effective
    keys = [(r.usage_hour, r.warehouse_id, r.identity, r.is_idle) for r in rows]
    assert len(keys) == len(set(keys))


# ---------------------------------------------------------------------------------------------------------
# Generated data: the shared warehouse of the synthetic account against plain Python
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory, sail_spark: SparkSession) -> Path:
    from chargeback.local.lakehouse import LocalLakehouse

    root = tmp_path_factory.mktemp("consumption") / "lakehouse"
    synthetic.generate(LocalLakehouse(sail_spark, root), dt.date(2026, 8, 3), 5, seed=7)
    return root


def test_the_generated_shared_warehouse_splits_exactly_and_as_plain_python_does(sail_spark, generated: Path) -> None:
    # Generating needs Delta, so this runs on Sail only; the transformations it checks run on both engines above.
    spark = sail_spark
    from chargeback.local.lakehouse import LocalLakehouse
    from chargeback.steps.pricing import price_intervals, price_usage
    from chargeback.steps.usage import net_usage, stage_usage

    store = LocalLakehouse(spark, generated)
    usage = store.read(synthetic.USAGE_TABLE)
    priced = price_usage(
        stage_usage(usage).transform(net_usage), price_intervals(store.read(synthetic.LIST_PRICES_TABLE), "USD")
    )
    lines = (
        priced.where(F.col("warehouse_id") == synthetic.WH_SHARED_BI)
        .withColumn("effective_cost", F.col("list_cost"))
        .select("workspace_id", "warehouse_id", "usage_start_time", "list_cost", "effective_cost")
        .withColumn("currency_code", F.lit("USD"))
    )
    lines = spark.createDataFrame(lines.collect(), lines.schema)
    statements = stage_queries(store.read(synthetic.QUERY_HISTORY_TABLE)).where(
        F.col("warehouse_id") == synthetic.WH_SHARED_BI
    )
    statements = spark.createDataFrame(statements.collect(), statements.schema)
    gold = consumption_hourly(consumption_shares(bills(spark, IdleRule("keep"), lines.collect()), statements, None),
                              store.read(synthetic.WAREHOUSES_TABLE), "g")  # fmt: skip
    rows = gold.collect()

    hourly = lines.groupBy(F.col("usage_start_time").alias("hour")).agg(F.sum("effective_cost").alias("cost"))
    split_hourly = gold.groupBy(F.col("usage_hour").alias("hour")).agg(F.sum("effective_cost").alias("cost"))
    assert_rows(split_hourly, ["hour", "cost"], hourly.collect())  # every billed hour, exactly
    assert hourly.count() > 20
    assert any(r.is_idle for r in rows) and sum(not r.is_idle for r in rows) > 50

    bill: dict[dt.datetime, Fraction] = defaultdict(Fraction)
    for r in lines.collect():
        bill[r.usage_start_time.replace(minute=0, second=0, microsecond=0)] += Fraction(r.effective_cost)
    reference = reference_split(bill, statements.collect())
    actual: dict[tuple[dt.date, str | None], Decimal] = defaultdict(Decimal)
    for r in rows:
        actual[(r.usage_date, r.identity)] += r.effective_cost
    assert actual.keys() == reference.keys()
    for key, amount in reference.items():
        assert abs(actual[key] - Decimal(amount.numerator) / Decimal(amount.denominator)) <= Decimal("0.01"), key
    identities = {identity for _, identity in actual}
    assert {None, SP, synthetic.REDACTED, synthetic.USER_ALICE} <= identities  # NULL, service principal, redacted
