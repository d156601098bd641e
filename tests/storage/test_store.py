"""The local lakehouse: Delta tables under three-part names (write, read back, replaceWhere, MERGE, re-registration
on a new engine) and the identifier validation that keeps table names from carrying SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from chargeback.contracts.table_spec import Column, TableSpec
from chargeback.dates import DaySet
from chargeback.errors import InputError, SourceTableError
from chargeback.local.engine import local_session
from chargeback.local.lakehouse import LocalLakehouse, catalogs_in, discover_tables, rewrite_system_catalog
from chargeback.names import TableName, validate_identifier
from chargeback.storage.store import UnityCatalog, date_predicate, sql_string
from tests.helpers import RecordingSpark

COSTS = TableName.parse("main.finops.daily_costs")
COSTS_SPEC = TableSpec(
    "daily_costs",
    "One row per business unit and usage day.",
    ("business_unit", "usage_date"),
    (
        Column("business_unit", "STRING", "Business unit id."),
        Column("usage_date", "DATE", "Usage day (UTC)."),
        Column("cost", "DECIMAL(38,18)", "List cost in USD."),
    ),
)
COSTS_DDL = "business_unit string, usage_date date, cost decimal(38,18)"
SOURCE = TableName.parse("system.billing.tiny_usage")
DAY = dt.date(2026, 8, 1)


def day(n: int) -> dt.date:
    return DAY + dt.timedelta(days=n - 1)


def costs(spark: SparkSession, *rows: tuple[str, int, str]) -> DataFrame:
    return spark.createDataFrame([(bu, day(n), Decimal(c)) for bu, n, c in rows], COSTS_DDL)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tables") / "lakehouse"


@pytest.fixture(scope="module")
def store(root: Path) -> Iterator[LocalLakehouse]:
    with local_session(["main", "system"]) as spark:
        yield LocalLakehouse(spark, root)


@pytest.fixture
def fresh(store: LocalLakehouse) -> LocalLakehouse:
    """The module's store with `main.finops.daily_costs` holding days 1 to 4 of `data-eng`."""
    rows = [("data-eng", n, f"{n}.25") for n in range(1, 5)]
    store.write(COSTS, COSTS_SPEC, costs(store.spark, *rows))
    return store


def read_back(store: LocalLakehouse) -> DataFrame:
    return store.sql("SELECT business_unit, usage_date, cost FROM main.finops.daily_costs")


def test_write_and_read_back_under_the_three_part_name(fresh: LocalLakehouse, root: Path) -> None:
    expected = costs(fresh.spark, *[("data-eng", n, f"{n}.25") for n in range(1, 5)])
    assert_df_equality(read_back(fresh), expected, ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(fresh.read(COSTS), expected, ignore_row_order=True, ignore_nullable=True)
    assert (root / "main" / "finops" / "daily_costs" / "_delta_log").is_dir()  # <lakehouse>/<catalog>/<schema>/<table>
    assert fresh.exists(COSTS)


def test_replace_where_replaces_only_the_window(fresh: LocalLakehouse) -> None:
    update = costs(fresh.spark, ("data-eng", 2, "20"), ("finance", 3, "30"), ("finance", 5, "50"))
    fresh.write(COSTS, COSTS_SPEC, update, replace_days=("usage_date", DaySet.between(day(2), day(3))))
    expected = costs(
        fresh.spark,
        ("data-eng", 1, "1.25"),  # before the window: kept
        ("data-eng", 2, "20"),  # inside: replaced by the new rows
        ("finance", 3, "30"),
        ("data-eng", 4, "4.25"),  # after the window: kept; the new day-5 row lies outside it and is dropped
    )
    assert_df_equality(read_back(fresh), expected, ignore_row_order=True, ignore_nullable=True)


def test_merge_updates_and_inserts_through_the_three_part_name(fresh: LocalLakehouse) -> None:
    costs(fresh.spark, ("data-eng", 2, "7"), ("finance", 2, "8")).createOrReplaceTempView("corrections")
    fresh.sql(
        """
        MERGE INTO main.finops.daily_costs AS t
        USING corrections AS s ON t.business_unit = s.business_unit AND t.usage_date = s.usage_date
        WHEN MATCHED THEN UPDATE SET t.cost = s.cost
        WHEN NOT MATCHED THEN INSERT (business_unit, usage_date, cost) VALUES (s.business_unit, s.usage_date, s.cost)
        """
    ).collect()
    expected = costs(
        fresh.spark,
        ("data-eng", 1, "1.25"),
        ("data-eng", 2, "7"),
        ("finance", 2, "8"),
        ("data-eng", 3, "3.25"),
        ("data-eng", 4, "4.25"),
    )
    assert_df_equality(read_back(fresh), expected, ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(fresh.read(COSTS), expected, ignore_row_order=True, ignore_nullable=True)


def test_append_adds_rows(fresh: LocalLakehouse) -> None:
    fresh.append(COSTS, COSTS_SPEC, costs(fresh.spark, ("finance", 9, "1")))
    assert read_back(fresh).count() == 5


def test_a_decimal_that_is_alone_in_its_file_reads_back_exactly(fresh: LocalLakehouse) -> None:
    """Sail would read a one-value decimal column from the file's statistics, through a double (engine:
    delta-decimal-statistics): every write path must keep the 18th decimal."""
    exact = "57.468010831799909416"
    fresh.append(COSTS, COSTS_SPEC, costs(fresh.spark, ("alone", 12, exact)))
    fresh.write(COSTS, COSTS_SPEC, costs(fresh.spark, ("alone", 13, exact)), ("usage_date", DaySet.of([day(13)])))
    raw = TableName.parse("system.billing.one_record")
    fresh.write_raw(raw, fresh.spark.createDataFrame([(Decimal(exact),)], "q decimal(38,18)"), mode="overwrite")
    fresh.write_raw(raw, fresh.spark.createDataFrame([(Decimal(exact),)], "q decimal(38,18)"), mode="append")
    alone = fresh.read(COSTS).where("business_unit = 'alone'")
    assert {r.cost for r in alone.collect()} == {Decimal(exact)}
    assert [r.q for r in fresh.read(raw).collect()] == [Decimal(exact)] * 2


def test_system_tables_are_queried_by_their_databricks_names(store: LocalLakehouse) -> None:
    df = store.spark.createDataFrame([("r1", Decimal("1.5"))], "record_id string, usage_quantity decimal(38,18)")
    store.write_raw(SOURCE, df, mode="overwrite")
    rows = store.sql(
        "SELECT record_id, 'system.billing.tiny_usage' AS literal FROM system.billing.tiny_usage"
    ).collect()
    assert [tuple(r) for r in rows] == [("r1", "system.billing.tiny_usage")]


def test_write_raw_overwrite_replaces_a_table_of_another_schema(store: LocalLakehouse) -> None:
    name = TableName.parse("system.billing.reshaped")
    store.write_raw(name, store.spark.createDataFrame([(1,)], "old_column int"), mode="overwrite")
    store.write_raw(name, store.spark.createDataFrame([("x",)], "new_column string"), mode="overwrite")
    assert [tuple(r) for r in store.sql("SELECT * FROM system.billing.reshaped").collect()] == [("x",)]


def test_a_new_engine_registers_the_existing_tables_again(fresh: LocalLakehouse, root: Path) -> None:
    fresh.write_raw(
        SOURCE,
        fresh.spark.createDataFrame([("r2", Decimal("2"))], "record_id string, usage_quantity decimal(38,18)"),
        mode="overwrite",
    )
    # Folders that are not tables, or whose names are not identifiers, are left alone.
    (root / "main" / "finops" / "not_a_table").mkdir()
    (root / "main" / "bad name" / "t" / "_delta_log").mkdir(parents=True)
    (root / "main" / "finops" / "x;DROP TABLE y" / "_delta_log").mkdir(parents=True)
    assert {str(n) for n in discover_tables(root)} >= {str(COSTS), str(SOURCE)}
    assert all(" " not in str(n) and ";" not in str(n) for n in discover_tables(root))
    assert catalogs_in(root) == {"main", "system"}

    with local_session(catalogs_in(root)) as spark:
        again = LocalLakehouse(spark, root)
        assert again.exists(COSTS) and again.exists(SOURCE)
        assert_df_equality(
            read_back(again),
            costs(spark, *[("data-eng", n, f"{n}.25") for n in range(1, 5)]),
            ignore_row_order=True,
            ignore_nullable=True,
        )
        assert [r.record_id for r in again.sql("SELECT record_id FROM system.billing.tiny_usage").collect()] == ["r2"]
        assert not again.exists(TableName.parse("main.finops.not_a_table"))
        with pytest.raises(SourceTableError, match="does not exist"):
            again.read(TableName.parse("main.finops.not_a_table"))
        with pytest.raises(SourceTableError, match="lacks column"):
            again.read_required(COSTS, ["business_unit", "owner"])


UPGRADED_SPEC = TableSpec(
    COSTS_SPEC.table,
    COSTS_SPEC.grain,
    COSTS_SPEC.primary_key,
    (*COSTS_SPEC.columns, Column("cost_center", "STRING", "Cost center of the unit.")),
)


def test_a_newer_release_adds_its_columns_to_a_table_an_older_one_wrote(tmp_path: Path) -> None:
    name = TableName.parse("main.finops.upgraded")
    root = tmp_path / "lakehouse"
    with local_session(["main"]) as spark:
        LocalLakehouse(spark, root).write(name, COSTS_SPEC, costs(spark, ("data-eng", 1, "1.5"), ("finance", 2, "2")))
    with local_session(["main"]) as spark:
        store = LocalLakehouse(spark, root)
        day_two = costs(spark, ("finance", 2, "9")).selectExpr("*", "'CC-2000' AS cost_center")
        store.write(name, UPGRADED_SPEC, day_two, replace_days=("usage_date", DaySet.between(day(2), day(2))))
        rows = store.sql("SELECT * FROM main.finops.upgraded ORDER BY usage_date").collect()
    assert [tuple(r) for r in rows] == [
        ("data-eng", day(1), Decimal("1.5"), None),  # written before the upgrade: the new column is NULL
        ("finance", day(2), Decimal("9"), "CC-2000"),
    ]


def test_restore_puts_back_the_rows_of_the_days_as_a_version_held_them(tmp_path: Path) -> None:
    name = TableName.parse("main.finops.restored")
    day_two = ("usage_date", DaySet.between(day(2), day(2)))
    with local_session(["main"]) as spark:
        store = LocalLakehouse(spark, tmp_path / "lakehouse")
        store.write(name, COSTS_SPEC, costs(spark, ("data-eng", 1, "1.5"), ("finance", 2, "2")))
        version = store.version(name)
        store.write(name, COSTS_SPEC, costs(spark, ("finance", 2, "9"), ("sales", 2, "4")), day_two)
        assert store.version(name) == version + 1
        store.restore(name, COSTS_SPEC, version, day_two)
        rows = store.sql("SELECT * FROM main.finops.restored ORDER BY usage_date").collect()
    assert [tuple(r) for r in rows] == [("data-eng", day(1), Decimal("1.5")), ("finance", day(2), Decimal("2"))]


def test_unity_catalog_adds_missing_columns_with_their_comments_once() -> None:
    spark = RecordingSpark(COSTS_SPEC.column_names)
    store = UnityCatalog(spark)  # type: ignore[arg-type]
    store.ensure(COSTS, UPGRADED_SPEC)
    store.ensure(COSTS, UPGRADED_SPEC)
    assert spark.statements == [
        "ALTER TABLE `main`.`finops`.`daily_costs` ADD COLUMNS "
        "(`cost_center` STRING COMMENT 'Cost center of the unit.')"
    ]
    current = RecordingSpark(UPGRADED_SPEC.column_names)
    UnityCatalog(current).ensure(COSTS, UPGRADED_SPEC)  # type: ignore[arg-type]
    assert current.statements == []


# ---------------------------------------------------------------------------------------------------------
# Names: nothing that is not a plain identifier reaches SQL
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "main.finops.t; DROP TABLE main.finops.daily_costs",
        "main.finops.t --",
        "main.finops.`t`",
        "main.finops.t`; DROP TABLE x; --",
        "main.finops.t'",
        'main.finops."t"',
        "main.finops.t/../../etc",
        "main.finops.t)",
        "main.finops.t x",
        "main.finops.-t",
        "main.finops.",
        "main..t",
        "main.finops",
        "main.finops.t.extra",
        "",
        "main.finops.t\n",
        "main.finops.tàble",
        "main.finops." + "t" * 256,
    ],
)
def test_table_names_that_could_carry_sql_are_rejected(name: str) -> None:
    with pytest.raises(InputError, match="table name"):
        TableName.parse(name)


@pytest.mark.parametrize("name", ["main.chargeback.usage_costs", "dev-catalog.finops_2026.T1", "a.b.c", "_x.y_.z"])
def test_plain_identifiers_are_accepted(name: str) -> None:
    parsed = TableName.parse(name)
    assert str(parsed) == name
    assert parsed.quoted == ".".join(f"`{p}`" for p in name.split("."))


def test_identifiers_are_checked_wherever_they_reach_sql(store: LocalLakehouse) -> None:
    with pytest.raises(InputError, match="catalog"):
        TableName("main`", "finops", "t")
    with pytest.raises(InputError, match="schema"):
        store.set_current_schema("main", "finops; DROP TABLE x")
    with pytest.raises(InputError, match="column"):
        date_predicate("usage_date OR 1=1", DAY, DAY)
    with pytest.raises(InputError):
        validate_identifier(None, "table")  # type: ignore[arg-type]
    assert date_predicate("usage_date", day(1), day(2)) == (
        "`usage_date` >= DATE'2026-08-01' AND `usage_date` <= DATE'2026-08-02'"
    )


def test_sql_string_escapes_quotes_and_rejects_control_characters() -> None:
    assert sql_string("it's a \\ path") == "'it\\'s a \\\\ path'"
    with pytest.raises(InputError, match="control characters"):
        sql_string("line\nbreak")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT * FROM system.billing.usage", "SELECT * FROM `local_system`.billing.usage"),
        ("SELECT * FROM `system`.`billing`.`usage`", "SELECT * FROM `local_system`.`billing`.`usage`"),
        ("SELECT * FROM SYSTEM.billing.usage u", "SELECT * FROM `local_system`.billing.usage u"),
        ("SELECT 'system.billing.usage'", "SELECT 'system.billing.usage'"),
        ("SELECT t.system FROM main.x.t", "SELECT t.system FROM main.x.t"),
        ("SELECT * FROM main.system.usage", "SELECT * FROM main.system.usage"),
        ("SELECT system.flag FROM main.x.t", "SELECT system.flag FROM main.x.t"),
        ("-- system.billing.usage\nSELECT 1", "-- system.billing.usage\nSELECT 1"),
    ],
)
def test_only_three_part_names_in_the_system_catalog_are_rewritten(query: str, expected: str) -> None:
    assert rewrite_system_catalog(query) == expected
