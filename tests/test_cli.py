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
from chargeback.contracts.table_spec import Column, TableSpec
from chargeback.local.engine import local_session
from chargeback.local.lakehouse import LocalLakehouse
from chargeback.names import TableName

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
        ("SELEC 1", "not a query"),
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
        (["--start-date", "2026-08-01", "--end-date", "2026-08-03", "--days", "1"], "not allowed with"),
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


# ---------------------------------------------------------------------------------------------------------
# Hostile use of the commands that write (issue 15): each test failed on the code before it
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "refused"),
    [
        ("INSERT INTO main.demo.items SELECT * FROM main.demo.items", "INSERT"),
        ("UPDATE main.demo.items SET name = 'x'", "UPDATE"),
        ("DELETE FROM main.demo.items", "DELETE"),
        ("CREATE TABLE main.demo.copy LOCATION '{outside}' AS SELECT * FROM main.demo.items", "CREATE"),
        ("DROP TABLE main.demo.items", "DROP"),
        ("SELECT 1; DELETE FROM main.demo.items", "one query at a time"),
        ("VACUUM main.demo.items", "VACUUM"),
    ],
)
def test_sql_only_reads(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], query: str, refused: str):
    outside = tmp_path / "outside"
    before = run_cli(capsys, "sql", "--lakehouse", str(tiny), "--format", "csv", "SELECT * FROM main.demo.items")
    code, out, err = run_cli(capsys, "sql", "--lakehouse", str(tiny), query.format(outside=outside))
    assert out == ""
    assert_one_line_error(code, err, refused)
    assert not outside.exists()
    after = run_cli(capsys, "sql", "--lakehouse", str(tiny), "--format", "csv", "SELECT * FROM main.demo.items")
    assert after == before


def test_sql_reads_queries_whatever_their_text_says(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    query = "WITH x AS (SELECT 'DELETE FROM t' AS s) SELECT s FROM x -- DROP TABLE t"
    assert run_cli(capsys, "sql", "--lakehouse", str(tiny), "--format", "csv", query)[:2] == (0, "s\nDELETE FROM t\n")


@pytest.mark.parametrize("command", ["generate", "demo"])
def test_synthetic_data_never_overwrites_tables_a_user_put_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    lakehouse = tmp_path / "mine"
    usage = TableName.parse("system.billing.usage")
    with local_session(["system"]) as spark:
        LocalLakehouse(spark, lakehouse).write_raw(usage, spark.createDataFrame([(1,)], "exported INT"), "overwrite")
    files = sorted(p.relative_to(lakehouse) for p in lakehouse.rglob("*"))
    args = ["--days", "1"] if command == "generate" else []
    code, _, err = run_cli(capsys, command, "--lakehouse", str(lakehouse), *args)
    assert_one_line_error(code, err, "did not generate", "system.billing.usage")
    assert sorted(p.relative_to(lakehouse) for p in lakehouse.rglob("*") if p.name != ".chargeback.lock") == files


def test_generate_again_into_its_own_lakehouse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["generate", "--lakehouse", str(tmp_path / "lh"), "--end-date", "2026-09-03", "--days", "1"]
    assert run_cli(capsys, *argv, "--scale", "50")[0] == 0
    assert run_cli(capsys, *argv, "--scale", "60")[0] == 0


def test_a_second_writer_of_the_same_lakehouse_refuses_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chargeback.local.lakehouse import exclusive_use

    lakehouse = tmp_path / "busy"
    lakehouse.mkdir()
    with exclusive_use(lakehouse):  # another run, holding the lakehouse
        code, out, err = run_cli(capsys, "run", "--lakehouse", str(lakehouse), "--end-date", "2026-09-03")
    assert out == ""
    assert_one_line_error(code, err, "in use by another chargeback command", f"pid {os.getpid()}")
    assert run_cli(capsys, "generate", "--lakehouse", str(lakehouse), "--days", "1", "--scale", "20")[0] == 0


def test_paths_with_spaces_and_accents_work_in_every_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    lakehouse = tmp_path / "Dépenses cloud" / "lake house"
    config = tmp_path / "Dépenses cloud" / "règles de coût.yml"
    config.parent.mkdir()
    config.write_text((Path(__file__).resolve().parents[1] / "config" / "chargeback.yml").read_text())
    window = ["--start-date", "2026-09-02", "--end-date", "2026-09-03"]
    gen = ["generate", "--lakehouse", str(lakehouse), "--end-date", "2026-09-03", "--days", "2", "--scale", "100"]
    assert run_cli(capsys, *gen)[0] == 0
    code, out, err = run_cli(capsys, "run", "--lakehouse", str(lakehouse), "--config", str(config), *window)
    assert (code, err) == (0, "") and "BALANCED" in out
    query = "SELECT COUNT(*) AS n FROM main.chargeback.cost_daily"
    code, out, _ = run_cli(capsys, "sql", "--lakehouse", str(lakehouse), "--format", "csv", query)
    assert code == 0 and int(out.splitlines()[1]) > 0
    # Everything is inside the named folder: nothing percent-encoded beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Dépenses cloud"]
    assert (lakehouse / "main" / "chargeback" / "cost_daily" / "_delta_log").is_dir()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["run", "--end-date", "9999-12-31"], "outside 1970-01-01..2999-12-31"),
        (["generate", "--end-date", "0001-01-01", "--days", "2"], "outside"),
        (["run", "--catalog", "local_system"], "local name of the system catalog"),
        (["run", "--catalog", "system"], "holds the sources"),
        (["validate-config", "/dev/zero"], "not a regular file"),
    ],
)
def test_out_of_range_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    if argv[0] != "validate-config":
        argv = [*argv, "--lakehouse", str(tmp_path / "lh")]
    code, out, err = run_cli(capsys, *argv)
    if argv[0] == "validate-config":
        assert code == 1 and fragment in out
    else:
        assert_one_line_error(code, err, fragment)


def test_a_fifo_config_is_refused_without_waiting_for_a_writer(tmp_path: Path, capsys) -> None:
    fifo = tmp_path / "config.yml"
    os.mkfifo(fifo)
    code, out, _ = run_cli(capsys, "validate-config", str(fifo))
    assert code == 1 and "not a regular file" in out


def test_an_unexpected_error_is_one_line_and_fails(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    def broken(args):  # type: ignore[no-untyped-def]
        raise RuntimeError("engine fell over\nat some internal frame")

    monkeypatch.setitem(cli.COMMANDS, "validate-config", broken)
    code, out, err = run_cli(capsys, "validate-config", "x.yml")
    assert code == 3 and out == ""
    assert err == "chargeback: error: unexpected RuntimeError: engine fell over\n"


def test_a_deleted_data_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lakehouse = tmp_path / "lh"
    gen = ["generate", "--lakehouse", str(lakehouse), "--end-date", "2026-09-03", "--days", "1", "--scale", "50"]
    assert run_cli(capsys, *gen)[0] == 0
    (victim, *_) = sorted((lakehouse / "system" / "billing" / "usage").glob("*.parquet"))
    victim.unlink()
    code, _, err = run_cli(capsys, "run", "--lakehouse", str(lakehouse), "--end-date", "2026-09-03")
    assert_one_line_error(code, err)
