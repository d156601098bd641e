"""The dashboard's queries run on local gold tables, the way Lakeview runs them on Databricks.

Every dataset query runs on the store's tables with unqualified names resolved in `<catalog>.<schema>` (as
`dataset_catalog` and `dataset_schema` do on Databricks), its parameters bound to the selected dates; each
widget's query then runs on its dataset's result the way Lakeview builds it. `write_preview` draws the results
with `render`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chargeback.dashboard.lint import (
    check,
    dataset_sql,
    field_problems,
    is_aggregate,
    load,
    parameter_refs,
    table_names,
    widgets,
)
from chargeback.dashboard.render import render_html
from chargeback.dates import month_end
from chargeback.errors import InputError
from chargeback.names import TableName, validate_identifier

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from chargeback.storage.store import TableStore

_RELATIVE_DATE = re.compile(r"^now(?:([+-])(\d+)([dwMy]))?(?:/([dwMy]))?$")


# --- parameters -----------------------------------------------------------------------------------------


def resolve_date(value: str, now: dt.date) -> dt.date:
    """A Lakeview date selection value: ISO date or relative (`now-2M/M` = first day of the month 2 months ago)."""
    match = _RELATIVE_DATE.match(value)
    if match is None:
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            raise InputError(f"date parameter value {value!r} is neither a date nor now[+-N(d|w|M|y)][/unit]") from None
    sign, amount, unit, round_to = match.groups()
    day = now
    if unit:
        n = int(amount) * (-1 if sign == "-" else 1)
        if unit in "dw":
            day += dt.timedelta(days=n * (7 if unit == "w" else 1))
        else:
            months = day.year * 12 + day.month - 1 + n * (12 if unit == "y" else 1)
            year, month = divmod(months, 12)
            first = dt.date(year, month + 1, 1)
            day = first.replace(day=min(day.day, month_end(first).day))
    if round_to == "w":
        day -= dt.timedelta(days=day.weekday())
    elif round_to == "M":
        day = day.replace(day=1)
    elif round_to == "y":
        day = day.replace(month=1, day=1)
    return day


@dataclass(frozen=True)
class Selection:
    """The filter state a preview is rendered with: the day `now` stands for, and an optional date range."""

    as_of: dt.date
    period: tuple[dt.date, dt.date] | None = None

    def dates(self, param: dict[str, Any]) -> tuple[dt.date, dt.date] | dt.date:
        """The value of a DATE parameter: the explicit period for ranges, else the dashboard's default."""
        if param.get("dataType") != "DATE":
            raise InputError(f"the preview supports DATE parameters only, not {param.get('dataType')!r}")
        default = param.get("defaultSelection", {})
        if param.get("complexType") == "RANGE":
            if self.period is not None:
                return self.period
            bounds = default.get("range", {})
            return (
                resolve_date(bounds["min"]["value"], self.as_of),
                resolve_date(bounds["max"]["value"], self.as_of),
            )
        return resolve_date(default["values"]["values"][0]["value"], self.as_of)


def bind(ds: dict[str, Any], selection: Selection) -> str:
    """The dataset SQL with each parameter marker replaced by a DATE literal of its selected value."""
    sql = dataset_sql(ds)
    params = {p["keyword"]: p for p in ds.get("parameters", [])}
    out, last = [], 0
    for keyword, part, start, end in parameter_refs(sql):
        value = selection.dates(params[keyword])
        if isinstance(value, tuple):
            value = value[0] if part == "min" else value[1]
        out += [sql[last:start], f"DATE'{value.isoformat()}'"]
        last = end
    return "".join([*out, sql[last:]])


# --- running the queries --------------------------------------------------------------------------------


def widget_sql(query: dict[str, Any], source: str) -> str:
    """The SQL Lakeview runs for a widget query: its fields over the dataset, grouped unless disaggregated."""
    fields = query.get("fields", [])
    for f in fields:
        if "`" in f["name"]:
            raise InputError(f"field name {f['name']!r} contains a backtick")
    # A query binding only parameters (a date filter) needs no rows back: count them.
    select = ", ".join(f"{f['expression']} AS `{f['name']}`" for f in fields) or "COUNT(*) AS `rows`"
    group = [f["expression"] for f in fields if not is_aggregate(f["expression"])]
    # The dashboard's own expressions over its own dataset: the file is code under review, like any query.
    sql = f"SELECT {select}\nFROM (\n{source}\n) AS dataset"
    if group and not query.get("disaggregated"):
        sql += f"\nGROUP BY {', '.join(group)}"
    if query.get("orders"):
        sql += "\nORDER BY " + ", ".join(f"{o['expression']} {o.get('direction', 'ASC')}" for o in query["orders"])
    return sql


@dataclass
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass
class Preview:
    """Everything the HTML needs: dataset columns, and each widget query's result by (widget, query) name."""

    selection: Selection
    catalog: str
    schema: str
    datasets: dict[str, Result] = field(default_factory=dict)
    queries: dict[tuple[str, str], Result] = field(default_factory=dict)


def _collect(df: DataFrame) -> Result:
    return Result(list(df.columns), [tuple(r) for r in df.collect()])


def run_queries(store: TableStore, doc: dict[str, Any], catalog: str, schema: str, selection: Selection) -> Preview:
    """Run every dataset on the store's tables in `catalog.schema`, then every widget query on its dataset."""
    validate_identifier(catalog, "catalog")
    validate_identifier(schema, "schema")
    for ds in doc["datasets"]:
        plain, qualified = table_names(bind(ds, selection))
        if qualified:
            raise InputError(f"dataset {ds['name']!r} names {sorted(qualified)}; use unqualified table names")
        for table in sorted(plain):
            if not store.exists(TableName(catalog, schema, table)):
                raise InputError(
                    f"dataset {ds['name']!r} reads {catalog}.{schema}.{table}, which is not in the lakehouse "
                    "(run `chargeback run` first)"
                )
    store.set_current_schema(catalog, schema)
    preview = Preview(selection, catalog, schema)
    sources = {ds["name"]: bind(ds, selection) for ds in doc["datasets"]}
    for name, sql in sources.items():
        with _query_error(f"dataset {name!r} on {catalog}.{schema}"):
            preview.datasets[name] = Result(list(store.spark.sql(sql).columns), [])
    problems = field_problems(doc, {n: r.columns for n, r in preview.datasets.items()})
    if problems:
        raise InputError("; ".join(problems))
    for _, widget, _ in widgets(doc):
        for named in widget.get("queries", []):
            with _query_error(f"widget {widget['name']!r} query {named['name']!r}"):
                sql = widget_sql(named["query"], sources[named["query"]["datasetName"]])
                preview.queries[(widget["name"], named["name"])] = _collect(store.spark.sql(sql))
    return preview


@contextmanager
def _query_error(what: str) -> Iterator[None]:
    """The engine's error (first line) as an InputError naming the dataset or widget that failed."""
    from pyspark.errors import PySparkException

    try:
        yield
    except PySparkException as exc:
        lines = str(exc).strip().splitlines()
        raise InputError(f"{what} failed: {lines[0] if lines else type(exc).__name__}") from None


# --- the preview command -------------------------------------------------------------------------------


def default_as_of(store: TableStore, catalog: str, schema: str) -> dt.date:
    """The day after the last usage day in `cost_daily`: a preview of past data shows it as of its next run."""
    from chargeback.contracts.cost_tables import COST_DAILY

    name = TableName(catalog, schema, COST_DAILY.table)
    if not store.exists(name):
        raise InputError(f"{name} is not in the lakehouse (run `chargeback run` first)")
    latest = store.read(name).agg({"usage_date": "max"}).collect()[0][0]
    if latest is None:
        raise InputError(f"{name} is empty (run `chargeback run` first)")
    return latest + dt.timedelta(days=1)


def write_preview(
    store: TableStore, file: Path, out: Path, catalog: str, schema: str, selection: Selection
) -> tuple[int, int]:
    """Check the dashboard file, run its queries, write the HTML preview; returns (pages, widgets) rendered."""
    doc = load(file)
    problems = check(doc)
    if problems:
        raise InputError(f"{file}: " + "; ".join(problems))
    preview = run_queries(store, doc, catalog, schema, selection)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_html(doc, preview, f"Chargeback dashboard preview ({file.name})"))
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror or exc}") from None
    return len(doc["pages"]), sum(1 for _ in widgets(doc))
