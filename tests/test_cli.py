"""The command line: bad input gets one line `chargeback: error: ...` and a non-zero exit; `chargeback sql` formats.

Most tests call `chargeback.cli.main` in-process (no interpreter start-up); one runs the installed console script.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from chargeback import cli
from chargeback.engine import local_session
from chargeback.names import TableName
from chargeback.tables import Column, LocalLakehouse, TableSpec

ITEMS = TableName.parse("main.demo.items")
ITEMS_SPEC = TableSpec(
    "items",
    "One row per item.",
    ("id",),
    (
        Column("id", "BIGINT", "Item id."),
        Column("name", "STRING", "Item name."),
        Column("amount", "DECIMAL(38,18)", "Amount in USD."),
        Column("day", "DATE", "Usage day."),
        Column("at", "TIMESTAMP", "Instant (UTC)."),
        Column("tags", "MAP<STRING, STRING>", "Tags."),
        Column("info", "STRUCT<kind: STRING, size: INT>", "A struct."),
    ),
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A lakehouse with one two-row table `main.demo.items`: decimals, NULLs, a comma and quotes, nested values."""
    root = tmp_path_factory.mktemp("cli") / "lakehouse"
    with local_session(["main"]) as spark:
        rows = [
            (
                1,
                "plain",
                Decimal("1.50"),
                dt.date(2026, 8, 1),
                dt.datetime(2026, 8, 1, 13, 37, 11, tzinfo=dt.UTC),
                {"team": "ml"},
                ("gpu", 2),
            ),
            (2, 'comma, "quoted"', Decimal("-2"), None, None, {}, None),
        ]
        schema = ", ".join(f"{c.name} {c.type}" for c in ITEMS_SPEC.columns)
        LocalLakehouse(spark, root).write(ITEMS, ITEMS_SPEC, spark.createDataFrame(rows, schema))
    yield root


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code != 0
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("chargeback: error: "), err
    for fragment in fragments:
        assert fragment in err


# ---------------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("SELECT * FROM main.demo.missing", "missing"),
        ("SELECT * FROM main.nope.items", "items"),
        ("SELECT * FROM system.billing.usage", "usage"),  # no system catalog in this lakehouse
        ("SELEC 1", "query failed"),
    ],
)
def test_sql_on_an_unknown_table_or_bad_sql_is_a_one_line_error(
    tiny: Path, capsys: pytest.CaptureFixture[str], query: str, fragment: str
) -> None:
    code, out, err = run_cli(capsys, "sql", "--lakehouse", str(tiny), query)
    assert out == ""
    assert_one_line_error(code, err, fragment)


def test_sql_on_a_missing_lakehouse_fails_and_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    missing = tmp_path / "typo"
    code, _, err = run_cli(capsys, "sql", "--lakehouse", str(missing), "SELECT 1")
    assert_one_line_error(code, err, str(missing))
    assert not missing.exists()


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_generate_into_an_unwritable_lakehouse(tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    file = tmp_path / "lakehouse.txt"
    file.write_text("not a folder")
    target = file if where == "a file" else file / "lakehouse"
    code, out, err = run_cli(
        capsys, "generate", "--lakehouse", str(target), "--start-date", "2026-08-01", "--days", "1"
    )
    assert out == ""
    assert_one_line_error(code, err, "not writable")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_generate_under_a_read_only_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        argv = ["generate", "--lakehouse", str(locked / "lh"), "--start-date", "2026-08-01", "--days", "1"]
        code, _, err = run_cli(capsys, *argv)
    finally:
        locked.chmod(0o755)
    assert_one_line_error(code, err, "not writable")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--start-date", "2026-08-01", "--days", "0"], "--days"),
        (["--start-date", "2026-08-01", "--days", "-3"], "--days"),
        (["--start-date", "2026-08-01", "--days", "ten"], "--days"),
        (["--start-date", "2026-08-01", "--days", "99999"], "days"),  # past synthetic.MAX_DAYS
        (["--start-date", "2026-13-01", "--days", "1"], "--start-date"),
        (["--start-date", "01/08/2026", "--days", "1"], "--start-date"),
        (["--start-date", "yesterday", "--days", "1"], "--start-date"),
        (["--start-date", "2026-08-01", "--days", "1", "--seed", "-1"], "seed"),
        (["--start-date", "2026-08-01", "--days", "1", "--scale", "0"], "--scale"),
        (["--days", "1"], "--start-date"),
    ],
)
def test_generate_with_bad_arguments_fails_before_creating_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    lakehouse = tmp_path / "lakehouse"
    code, out, err = run_cli(capsys, "generate", "--lakehouse", str(lakehouse), *args)
    assert out == ""
    assert_one_line_error(code, err, fragment)
    assert not lakehouse.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["sql", "--format", "xml", "SELECT 1"],
        ["sql", "--format", "JSON", "SELECT 1"],
        ["sql"],
        ["frobnicate"],
        [],
        ["run", "--end-date", "2026-02-30"],
        ["run", "--as-of", "noon"],
    ],
)
def test_other_bad_arguments_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run_cli(capsys, *argv, *(["--lakehouse", str(tmp_path / "lh")] if argv else []))
    assert out == ""
    assert_one_line_error(code, err)


# ---------------------------------------------------------------------------------------------------------
# `chargeback sql` output
# ---------------------------------------------------------------------------------------------------------

ITEMS_QUERY = "SELECT id, name, amount, day, at, tags, info FROM main.demo.items ORDER BY id"


def test_sql_table_format(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "sql", "--lakehouse", str(tiny), ITEMS_QUERY)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "id  name             amount  day         at                   tags            info",
        "--  ---------------  ------  ----------  -------------------  --------------  --------------------------",
        '1   plain            1.5     2026-08-01  2026-08-01 13:37:11  {"team": "ml"}  {"kind": "gpu", "size": 2}',
        '2   comma, "quoted"  -2      NULL        NULL                 {}              NULL',
        "(2 rows)",
    ]


def test_sql_csv_format(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "sql", "--lakehouse", str(tiny), "--format", "csv", ITEMS_QUERY)
    assert (code, err) == (0, "")
    assert out == (
        "id,name,amount,day,at,tags,info\n"
        '1,plain,1.5,2026-08-01,2026-08-01 13:37:11,"{""team"": ""ml""}","{""kind"": ""gpu"", ""size"": 2}"\n'
        '2,"comma, ""quoted""",-2,NULL,NULL,{},NULL\n'
    )


def test_sql_json_format(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "sql", "--lakehouse", str(tiny), "--format", "json", ITEMS_QUERY)
    assert (code, err) == (0, "")
    assert json.loads(out) == [
        {
            "id": 1,
            "name": "plain",
            "amount": "1.5",
            "day": "2026-08-01",
            "at": "2026-08-01 13:37:11",
            "tags": {"team": "ml"},
            "info": {"kind": "gpu", "size": 2},
        },
        {"id": 2, "name": 'comma, "quoted"', "amount": "-2", "day": None, "at": None, "tags": {}, "info": None},
    ]


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset")
def test_sql_prints_utc_times_whatever_the_local_time_zone(
    tiny: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        query = "SELECT at FROM main.demo.items ORDER BY id"
        code, out, _ = run_cli(capsys, "sql", "--lakehouse", str(tiny), "--format", "csv", query)
        local_hour_at_epoch = time.localtime(0).tm_hour  # 19:00 on 1969-12-31 in New York
    finally:
        monkeypatch.undo()
        time.tzset()
    assert code == 0
    assert out.splitlines() == ["at", "2026-08-01 13:37:11", "NULL"]
    assert local_hour_at_epoch == 19  # the process's zone is restored after the query


# ---------------------------------------------------------------------------------------------------------
# The installed console script
# ---------------------------------------------------------------------------------------------------------


def test_console_script_exits_non_zero_with_one_line_on_stderr(tiny: Path) -> None:
    script = Path(sys.executable).with_name("chargeback")
    result = subprocess.run(
        [str(script), "sql", "--lakehouse", str(tiny), "SELECT * FROM main.demo.missing"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert_one_line_error(result.returncode, result.stderr, "missing")
