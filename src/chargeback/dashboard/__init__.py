"""The Lakeview dashboard file: structural checks, its queries on local gold tables, and an HTML preview.

`src/chargeback/resources/chargeback.lvdash.json` is what the bundle deploys. Locally, every dataset query runs on the
lakehouse's gold tables with unqualified names resolved in `<catalog>.<schema>` (as `dataset_catalog` and
`dataset_schema` do on Databricks), each widget's query runs on its dataset's result the way Lakeview builds
it, and the results are drawn into one self-contained HTML file (inline SVG charts, no scripts, no network).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from chargeback.errors import InputError
from chargeback.names import TableName, validate_identifier

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "resources" / "chargeback.lvdash.json"

PAGE_TYPES = ("PAGE_TYPE_CANVAS", "PAGE_TYPE_GLOBAL_FILTERS")
# Lakeview spec versions per widget type (shared/spec/bundle-and-dashboard.md §3.2).
SPEC_VERSIONS = {
    "counter": 2,
    "table": 2,
    "bar": 3,
    "line": 3,
    "area": 3,
    "pie": 3,
    "scatter": 3,
    "pivot": 3,
    "combo": 1,
    "filter-single-select": 2,
    "filter-multi-select": 2,
    "filter-date-range-picker": 2,
    "filter-date-picker": 2,
    "filter-text-entry": 2,
    "range-slider": 2,
}
_WIDGET_NAME = re.compile(r"^[A-Za-z0-9_-]{1,60}$")
_RELATIVE_DATE = re.compile(r"^now(?:([+-])(\d+)([dwMy]))?(?:/([dwMy]))?$")
TABLE_ROWS = 25
MAX_CATEGORIES = 20
PALETTE = ("#077A9D", "#FFAB00", "#00A972", "#FF3621", "#8BCAE7", "#AB4057", "#99DDB4", "#FCA4A1", "#919191", "#BF7080")


# --- reading the file -----------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"dashboard file {path} not found") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"dashboard file {path} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InputError(f"dashboard file {path} does not hold a JSON object")
    return doc


def dataset_sql(dataset: dict[str, Any]) -> str:
    """The dataset's SQL: `queryLines` concatenated verbatim (each ends with its own newline), or `query`."""
    return "".join(dataset["queryLines"]) if "queryLines" in dataset else str(dataset.get("query", ""))


def widgets(doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(page, widget, position) for every widget of every page."""
    for page in doc.get("pages", []):
        for item in page.get("layout", []):
            yield page, item.get("widget", {}), item.get("position", {})


def grid_columns(page: dict[str, Any]) -> int:
    """12 columns on the 2026 grid (`layoutVersion: GRID_V1`), else the legacy 6."""
    return 12 if page.get("layoutVersion") == "GRID_V1" else 6


def parameter_refs(sql: str) -> list[tuple[str, str | None, int, int]]:
    """Named parameter markers `:kw` or `:kw.min` / `:kw.max` as (keyword, part, start, end) character spans.

    Tokenizing leaves string literals, comments and `::` casts alone.
    """
    from sqlglot.dialects.spark import Spark
    from sqlglot.tokens import TokenType

    tokens = Spark().tokenize(sql)
    refs = []
    for i, tok in enumerate(tokens[:-1]):
        name = tokens[i + 1]
        if tok.token_type != TokenType.COLON or name.start != tok.end + 1 or not name.text.isidentifier():
            continue
        part, end = None, name.end
        if i + 3 < len(tokens) and tokens[i + 2].token_type == TokenType.DOT and tokens[i + 2].start == name.end + 1:
            part, end = tokens[i + 3].text.lower(), tokens[i + 3].end
        refs.append((name.text, part, tok.start, end + 1))
    return refs


def table_names(sql: str) -> tuple[set[str], set[str]]:
    """(unqualified table names, qualified names) that `sql` reads, CTE names excluded."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, dialect="databricks")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    plain, qualified = set(), set()
    for table in tree.find_all(exp.Table):
        if table.db or table.catalog:
            qualified.add(".".join(p for p in (table.catalog, table.db, table.name) if p))
        elif table.name not in ctes:
            plain.add(table.name)
    return plain, qualified


def column_refs(expression: str) -> set[str]:
    """Columns a widget field expression reads (`*` of `COUNT(*)` excluded)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(expression, dialect="databricks")
    return {c.name for c in tree.find_all(exp.Column) if c.name != "*"}


def is_aggregate(expression: str) -> bool:
    import sqlglot
    from sqlglot import exp

    return sqlglot.parse_one(expression, dialect="databricks").find(exp.AggFunc) is not None


# --- structural checks ----------------------------------------------------------------------------------


def check(doc: dict[str, Any]) -> list[str]:
    """Every structural problem of a Lakeview dashboard document, as one line each (empty when valid)."""
    problems: list[str] = []
    if set(doc) - {"datasets", "pages", "uiSettings"}:
        problems.append(f"unknown top-level keys {sorted(set(doc) - {'datasets', 'pages', 'uiSettings'})}")
    if "${" in json.dumps(doc):
        problems.append("'${' found: bundle variables are not substituted inside a .lvdash.json file")
    datasets = {}
    for i, ds in enumerate(doc.get("datasets") or []):
        problems += _check_dataset(ds, f"datasets[{i}]")
        if ds.get("name") in datasets:
            problems.append(f"datasets[{i}]: duplicate dataset name {ds.get('name')!r}")
        datasets[ds.get("name")] = ds
    if not datasets:
        problems.append("no datasets")
    if not doc.get("pages"):
        problems.append("no pages")
    page_names: set[Any] = set()
    widget_names: set[Any] = set()
    for page in doc.get("pages") or []:
        where = f"page {page.get('name')!r}"
        if not page.get("name") or page["name"] in page_names or not page.get("displayName"):
            problems.append(f"{where}: needs a unique name and a displayName")
        page_names.add(page.get("name"))
        if page.get("pageType") not in PAGE_TYPES:
            problems.append(f"{where}: pageType {page.get('pageType')!r} is not one of {', '.join(PAGE_TYPES)}")
        if page.get("layoutVersion", "GRID_V1") != "GRID_V1":
            problems.append(f"{where}: unknown layoutVersion {page.get('layoutVersion')!r}")
        problems += _check_layout(page, where)
    for page, widget, _ in widgets(doc):
        where = f"page {page.get('name')!r} widget {widget.get('name')!r}"
        if not _WIDGET_NAME.match(str(widget.get("name", ""))) or widget.get("name") in widget_names:
            problems.append(f"{where}: widget names are unique, letters, digits, '_' or '-', at most 60")
        widget_names.add(widget.get("name"))
        problems += _check_widget(widget, datasets, page.get("pageType"), where)
    return problems


def _check_dataset(ds: dict[str, Any], where: str) -> list[str]:
    problems = []
    if not ds.get("name") or not ds.get("displayName"):
        problems.append(f"{where}: a dataset needs a name and a displayName")
    lines = ds.get("queryLines")
    if (lines is None) == ("query" not in ds):
        problems.append(f"{where}: give exactly one of queryLines and query")
    elif lines is not None and (not lines or not all(isinstance(x, str) for x in lines)):
        problems.append(f"{where}: queryLines must be a non-empty list of strings")
    elif lines is not None and not all(x.endswith("\n") for x in lines[:-1]):
        problems.append(f"{where}: queryLines are concatenated verbatim, so each line must end with a newline")
    declared = {p.get("keyword"): p for p in ds.get("parameters", [])}
    if len(declared) != len(ds.get("parameters", [])):
        problems.append(f"{where}: parameter keywords must be unique")
    used = set()
    for keyword, part, _, _ in parameter_refs(dataset_sql(ds)):
        used.add(keyword)
        param = declared.get(keyword)
        if param is None:
            problems.append(f"{where}: :{keyword} is not a declared parameter")
        elif (param.get("complexType") == "RANGE") != (part in ("min", "max")):
            problems.append(f"{where}: use :{keyword}.min / :{keyword}.max for RANGE parameters and only for those")
    for keyword in set(declared) - used:
        problems.append(f"{where}: parameter {keyword!r} is declared but never used")
    return problems


def _check_layout(page: dict[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    taken: dict[tuple[int, int], Any] = {}
    columns = grid_columns(page)
    for item in page.get("layout") or []:
        name, pos = item.get("widget", {}).get("name"), item.get("position", {})
        x, y, w, h = (pos.get(k) for k in ("x", "y", "width", "height"))
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (x, y, w, h)):
            problems.append(f"{where} widget {name!r}: position needs integer x, y, width and height")
            continue
        if x < 0 or y < 0 or w < 1 or h < 1 or x + w > columns:
            problems.append(f"{where} widget {name!r}: x {x} + width {w} outside the {columns}-column grid")
        for cell in ((cx, cy) for cx in range(x, x + w) for cy in range(y, y + h)):
            if cell in taken:
                problems.append(f"{where}: widgets {taken[cell]!r} and {name!r} overlap at {cell}")
                break
            taken[cell] = name
    return problems


def _check_widget(widget: dict[str, Any], datasets: dict[str, Any], page_type: Any, where: str) -> list[str]:
    if "multilineTextboxSpec" in widget or "textbox_spec" in widget:
        lines = widget.get("multilineTextboxSpec", {}).get("lines", [widget.get("textbox_spec")])
        return [] if all(isinstance(x, str) for x in lines) else [f"{where}: text lines must be strings"]
    spec, problems = widget.get("spec") or {}, []
    kind = spec.get("widgetType")
    if kind not in SPEC_VERSIONS:
        return [f"{where}: unknown widgetType {kind!r}"]
    if spec.get("version") != SPEC_VERSIONS[kind]:
        problems.append(f"{where}: {kind} widgets have spec version {SPEC_VERSIONS[kind]}, not {spec.get('version')}")
    if (page_type == "PAGE_TYPE_GLOBAL_FILTERS") != _is_filter(kind):
        problems.append(f"{where}: filter widgets, and only those, go on the PAGE_TYPE_GLOBAL_FILTERS page")
    queries = {}
    for named in widget.get("queries") or []:
        query = named.get("query", {})
        if named.get("name") in queries:
            problems.append(f"{where}: duplicate query name {named.get('name')!r}")
        queries[named.get("name")] = query
        ds = datasets.get(query.get("datasetName"))
        if ds is None:
            problems.append(f"{where}: unknown datasetName {query.get('datasetName')!r}")
            continue
        if not isinstance(query.get("disaggregated"), bool):
            problems.append(f"{where}: query {named.get('name')!r} needs disaggregated true or false")
        names = [f.get("name") for f in query.get("fields", [])]
        if len(set(names)) != len(names) or not all(f.get("expression") for f in query.get("fields", [])):
            problems.append(f"{where}: query fields need unique names and an expression")
        keywords = {p.get("keyword") for p in ds.get("parameters", [])}
        for param in query.get("parameters", []):
            if param.get("keyword") not in keywords:
                problems.append(f"{where}: parameter {param.get('keyword')!r} is not declared by {ds['name']!r}")
    if not queries:
        return [*problems, f"{where}: a data widget needs queries"]
    for enc in _encodings(spec.get("encodings", {})):
        qname = enc.get("queryName")
        if qname is None and len(queries) != 1:
            problems.append(f"{where}: encoding {enc} needs a queryName (the widget has several queries)")
            continue
        query = queries.get(qname) if qname is not None else next(iter(queries.values()))
        if query is None:
            problems.append(f"{where}: encoding names unknown query {qname!r}")
        elif "parameterName" in enc:
            if enc["parameterName"] not in {p.get("name") for p in query.get("parameters", [])}:
                problems.append(f"{where}: parameter {enc['parameterName']!r} is not bound by query {qname!r}")
        elif enc["fieldName"] not in {f.get("name") for f in query.get("fields", [])}:
            problems.append(f"{where}: encoded field {enc['fieldName']!r} is not a field of its query")
    return problems


def _is_filter(kind: Any) -> bool:
    return str(kind).startswith("filter-") or kind == "range-slider"


def _encodings(node: Any) -> Iterator[dict[str, Any]]:
    """Every encoding entry naming a field or a parameter, at any depth."""
    if isinstance(node, dict):
        if "fieldName" in node or "parameterName" in node:
            yield node
        for value in node.values():
            yield from _encodings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _encodings(value)


def field_problems(doc: dict[str, Any], columns: dict[str, Sequence[str]]) -> list[str]:
    """Widget field and order expressions that read a column their dataset's result does not have."""
    problems = []
    for page, widget, _ in widgets(doc):
        for named in widget.get("queries", []):
            query = named["query"]
            have = set(columns.get(query["datasetName"], ()))
            expressions = [f["expression"] for f in query.get("fields", [])]
            expressions += [o["expression"] for o in query.get("orders", [])]
            for expression in expressions:
                for missing in sorted(column_refs(expression) - have):
                    problems.append(
                        f"page {page['name']!r} widget {widget['name']!r}: {expression} reads {missing!r}, "
                        f"not a column of dataset {query['datasetName']!r}"
                    )
    return problems


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
            last = (dt.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1) - dt.timedelta(days=1)).day
            day = dt.date(year, month + 1, min(day.day, last))
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


def _collect(df: Any) -> Result:
    return Result(list(df.columns), [tuple(r) for r in df.collect()])


def run_queries(store: Any, doc: dict[str, Any], catalog: str, schema: str, selection: Selection) -> Preview:
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


# --- HTML -----------------------------------------------------------------------------------------------

_ROW_PX, _COL_PX, _GAP_PX, _HEAD_PX, _LEGEND_PX, _PAD_PX = 56, 94, 8, 30, 26, 12
_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;background:#F7F8FA;color:#11171C}
header{padding:16px 24px;background:#fff;border-bottom:1px solid #E0E4E8}
header h1{margin:0 0 4px;font-size:20px} header p{margin:2px 0;color:#5F6B76;font-size:13px}
nav a{margin-right:16px;color:#2272B4;text-decoration:none;font-size:14px}
.wrap{display:flex;align-items:flex-start;gap:16px;padding:16px 24px}
aside{flex:0 0 240px;position:sticky;top:8px}
main{flex:1 1 auto;min-width:0}
.page{display:grid;grid-template-columns:repeat(var(--cols),minmax(0,1fr));grid-auto-rows:56px;gap:8px;
max-width:1224px;margin-bottom:32px}
h2.page-title{font-size:18px;margin:8px 0 12px}
.card{background:#fff;border:1px solid #E0E4E8;border-radius:6px;padding:6px 12px;overflow:hidden;
display:flex;flex-direction:column;min-width:0}
.card h3{font-size:13px;margin:2px 0 4px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;
flex:none} .card .desc{font-size:11px;color:#5F6B76;margin:-2px 0 4px;flex:none}
.text{background:transparent;border:none} .text h1,.text h2,.text h3{margin:4px 0} .text p{margin:4px 0;font-size:13px}
.counter .value{font-size:32px;font-weight:600;margin-top:4px} .counter .target{font-size:13px;color:#5F6B76}
.up{color:#C4302B} .down{color:#00875A}
table{border-collapse:collapse;width:100%;font-size:12px} th{text-align:left;border-bottom:1px solid #C9D1D9;
padding:3px 6px;position:sticky;top:0;background:#fff} td{padding:3px 6px;border-bottom:1px solid #F0F2F4;
white-space:nowrap} td.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow:auto;flex:1 1 auto;min-height:0} .more{font-size:11px;color:#5F6B76;margin-top:2px}
.legend{font-size:11px;display:flex;flex-wrap:wrap;gap:4px 12px;height:22px;overflow:hidden}
.pie-body{display:flex;align-items:center;gap:12px} .pie-body .legend{flex-direction:column;height:auto}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px;vertical-align:-1px}
svg text{font-size:10px;fill:#5F6B76} .filter{margin-bottom:8px} .filter .values{font-size:12px;color:#5F6B76}
.note{font-size:11px;color:#8A6D00}
"""


def render_html(doc: dict[str, Any], preview: Preview, title: str) -> str:
    """One self-contained HTML document: global filters beside every canvas page's widgets on its grid."""
    canvas = [p for p in doc["pages"] if p.get("pageType") != "PAGE_TYPE_GLOBAL_FILTERS"]
    filter_pages = [p for p in doc["pages"] if p.get("pageType") == "PAGE_TYPE_GLOBAL_FILTERS"]
    sel = preview.selection
    period = f"{sel.period[0]} to {sel.period[1]}" if sel.period else "the dashboard's default date range"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><header>",
        f"<h1>{_e(title)}</h1>",
        f"<p>Local preview of the Lakeview dashboard on {_e(preview.catalog)}.{_e(preview.schema)}: "
        f"today taken as {sel.as_of}, {_e(period)}, no other filter.</p><nav>",
        *(f"<a href='#{_e(p['name'])}'>{_e(p['displayName'])}</a>" for p in canvas),
        "</nav></header><div class='wrap'><aside>",
    ]
    for page in filter_pages:
        for _, widget, _ in sorted(_items(page), key=lambda t: (t[2].get("y", 0), t[2].get("x", 0))):
            parts.append(_filter_card(widget, preview, doc))
    parts.append("</aside><main>")
    for page in canvas:
        parts.append(f"<h2 class='page-title' id='{_e(page['name'])}'>{_e(page['displayName'])}</h2>")
        parts.append(f"<section class='page' style='--cols:{grid_columns(page)}'>")
        for _, widget, pos in _items(page):
            parts.append(_card(widget, pos, preview, grid_columns(page)))
        parts.append("</section>")
    parts.append("</main></div></body></html>")
    return "\n".join(parts)


def _items(page: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    return [(page, item["widget"], item["position"]) for item in page.get("layout", [])]


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _card(widget: dict[str, Any], pos: dict[str, Any], preview: Preview, columns: int) -> str:
    place = f"grid-column:{pos['x'] + 1}/span {pos['width']};grid-row:{pos['y'] + 1}/span {pos['height']}"
    if "multilineTextboxSpec" in widget or "textbox_spec" in widget:
        lines = widget.get("multilineTextboxSpec", {}).get("lines") or [widget.get("textbox_spec", "")]
        return f"<div class='card text' style='{place}'>{_markdown(''.join(lines))}</div>"
    spec = widget["spec"]
    kind, frame = spec["widgetType"], spec.get("frame", {})
    width = pos["width"] * _COL_PX * 12 // columns + (pos["width"] - 1) * _GAP_PX - 2 * _PAD_PX
    height = pos["height"] * _ROW_PX + (pos["height"] - 1) * _GAP_PX - _HEAD_PX - _PAD_PX
    head = f"<h3>{_e(frame.get('title', widget['name']))}</h3>" if frame.get("showTitle", True) else ""
    if frame.get("showDescription") and frame.get("description"):
        head += f"<div class='desc'>{_e(frame['description'])}</div>"
        height -= 16
    named = widget["queries"][0]
    result = preview.queries[(widget["name"], named["name"])]
    enc = spec.get("encodings", {})
    if kind == "counter":
        body = _counter(enc, result)
    elif kind in ("bar", "line", "area") and _chartable(enc):
        body = _xy_chart(kind, spec, result, width, height - _LEGEND_PX)
    elif kind == "pie":
        body = _pie(enc, result, width, height)
    else:
        columns_enc = enc.get("columns") or [{"fieldName": c, "displayName": c} for c in result.columns]
        body = _table(columns_enc, result)
        if kind != "table":
            body = f"<div class='note'>{_e(kind)} is previewed as its data.</div>" + body
    return f"<div class='card {_e(kind)}' style='{place}'>{head}{body}</div>"


def _markdown(text: str) -> str:
    """Headings and paragraphs (enough for dashboard titles); everything else is shown as text."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        heading = re.match(r"^(#{1,3})\s+(.*)$", block.strip())
        if heading:
            level = len(heading.group(1))
            out.append(f"<h{level}>{_e(heading.group(2))}</h{level}>")
        elif block.strip():
            out.append(f"<p>{_e(block.strip())}</p>")
    return "".join(out)


def _column(result: Result, name: str) -> list[Any]:
    i = result.columns.index(name)
    return [r[i] for r in result.rows]


def format_value(value: Any, fmt: dict[str, Any] | None = None) -> str:
    """A cell or counter value as Lakeview would show it: compact numbers, percentages, ISO dates."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, int | float | Decimal):
        return str(value)
    fmt = fmt or {}
    number = Decimal(str(value))
    places = fmt.get("decimalPlaces", {}).get("places", 2)
    prefix = suffix = ""
    if fmt.get("type") == "number-percent":
        number, suffix = number * 100, "%"
    elif fmt.get("type") == "number-currency" and fmt.get("currencyCode"):
        prefix = f"{fmt['currencyCode']} "
    if fmt.get("abbreviation") == "compact" and not suffix:
        for unit, scale in (("B", Decimal(10) ** 9), ("M", Decimal(10) ** 6), ("K", Decimal(10) ** 3)):
            if abs(number) >= scale:
                number, suffix = number / scale, unit
                break
    text = f"{number:,.{places}f}"
    if fmt.get("decimalPlaces", {}).get("type", "max") == "max" and "." in text:
        text = text.rstrip("0").rstrip(".")  # "max" places: at most that many digits
    return f"{prefix}{text}{suffix}"


def _counter(enc: dict[str, Any], result: Result) -> str:
    value_enc = enc["value"]
    value = _column(result, value_enc["fieldName"])[0] if result.rows else None
    body = f"<div class='value'>{_e(format_value(value, value_enc.get('format')))}</div>"
    if "target" in enc and result.rows:
        target = _column(result, enc["target"]["fieldName"])[0]
        shown = format_value(target, enc["target"].get("format"))
        change = ""
        if value is not None and target:
            delta = (Decimal(str(value)) - Decimal(str(target))) / abs(Decimal(str(target)))
            change = (
                f" <span class='{'up' if delta > 0 else 'down'}'>{'▲' if delta > 0 else '▼'} {abs(delta):.1%}</span>"
            )
        body += f"<div class='target'>{_e(enc['target'].get('displayName', 'target'))}: {_e(shown)}{change}</div>"
    return body


def _table(columns: list[dict[str, Any]], result: Result) -> str:
    indices = [result.columns.index(c["fieldName"]) for c in columns]
    head = "".join(f"<th>{_e(c.get('displayName', c['fieldName']))}</th>" for c in columns)
    body = []
    for row in result.rows[:TABLE_ROWS]:
        cells = []
        for c, i in zip(columns, indices, strict=True):
            value = row[i]
            numeric = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
            cells.append(f"<td{' class=num' if numeric else ''}>{_e(format_value(value, c.get('format')))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    more = len(result.rows) - TABLE_ROWS
    tail = f"<div class='more'>{more:,} more rows in the dashboard</div>" if more > 0 else ""
    return f"<div class='scroll'><table><tr>{head}</tr>{''.join(body)}</table></div>{tail}"


def _chartable(enc: dict[str, Any]) -> bool:
    """Vertical charts: a temporal or categorical x, one or more quantitative y."""
    x, y = enc.get("x", {}), enc.get("y", {})
    return (
        x.get("scale", {}).get("type") in ("temporal", "categorical")
        and y.get("scale", {}).get("type") == "quantitative"
    )


def _series(enc: dict[str, Any], result: Result) -> tuple[list[Any], dict[str, dict[Any, Decimal]]]:
    """(x values in axis order, {series label: {x: y}}) from the x, y (or y.fields) and color encodings."""
    x_name = enc["x"]["fieldName"]
    xs = _column(result, x_name)
    series: dict[str, dict[Any, Decimal]] = {}
    y_fields = enc["y"].get("fields") or [
        {"fieldName": enc["y"]["fieldName"], "displayName": enc["y"].get("displayName")}
    ]
    colors = _column(result, enc["color"]["fieldName"]) if "color" in enc else None
    for yf in y_fields:
        for i, y in enumerate(_column(result, yf["fieldName"])):
            label = str(colors[i]) if colors is not None else str(yf.get("displayName") or yf["fieldName"])
            points = series.setdefault(label, {})
            points[xs[i]] = points.get(xs[i], Decimal(0)) + (Decimal(str(y)) if y is not None else Decimal(0))
    order = sorted({x for x in xs if x is not None}, key=lambda v: (str(type(v)), v))
    if enc["x"].get("scale", {}).get("type") == "categorical":
        totals = {x: sum(s.get(x, Decimal(0)) for s in series.values()) for x in order}
        order = sorted(order, key=lambda x: -totals[x])[:MAX_CATEGORIES]
    if colors is None:  # one series per y field, in the encoding's order
        return order, series
    ranked = sorted(series, key=lambda k: -sum(series[k].values()))
    return order, {k: series[k] for k in ranked}


def _nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    if high == low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    return [start + i * step for i in range(math.ceil((high - start) / step) + 1)]


def _legend(labels: Sequence[str]) -> str:
    items = "".join(
        f"<span><i style='background:{PALETTE[i % len(PALETTE)]}'></i>{_e(t)}</span>" for i, t in enumerate(labels)
    )
    return f"<div class='legend'>{items}</div>"


def _xy_chart(kind: str, spec: dict[str, Any], result: Result, width: int, height: int) -> str:
    enc = spec["encodings"]
    xs, series = _series(enc, result)
    if not xs:
        return "<div class='more'>No data in the selected range.</div>"
    fmt = enc["y"].get("format")
    # Bars stack unless grouped; lines and areas are drawn over one another.
    stacked = kind == "bar" and spec.get("mark", {}).get("layout") != "group"
    # Pixel geometry only: the values shown in labels and tooltips stay exact.
    grid = {label: [float(points.get(x, 0)) for x in xs] for label, points in series.items()}
    if stacked:
        stacks = list(zip(*grid.values(), strict=True))
        extent = [sum(v for v in c if v > 0) for c in stacks] + [sum(v for v in c if v < 0) for c in stacks]
    else:
        extent = [v for vs in grid.values() for v in vs]
    ticks = _nice_ticks(min(0.0, *extent), max(0.0, *extent))
    left, bottom, top = 52, 34, 6
    plot_w, plot_h = max(width - left - 6, 40), max(height - bottom - top, 40)

    def py(v: float) -> float:
        return top + plot_h - (v - ticks[0]) / (ticks[-1] - ticks[0]) * plot_h

    band = plot_w / len(xs)
    out = [f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}' role='img'>"]
    for t in ticks:
        out.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{py(t):.1f}' y2='{py(t):.1f}' stroke='#E8ECF0'/>")
        out.append(f"<text x='{left - 4}' y='{py(t) + 3:.1f}' text-anchor='end'>{_e(format_value(t, fmt))}</text>")
    step = max(1, math.ceil(len(xs) / max(1, plot_w // 70)))
    for i, x in enumerate(xs):
        if i % step == 0:
            at = f"x='{left + band * (i + 0.5):.1f}' y='{top + plot_h + 14}'"
            out.append(f"<text {at} text-anchor='middle'>{_e(format_value(x)[:14])}</text>")
    x_title = enc["x"].get("displayName", enc["x"]["fieldName"])
    out.append(f"<text x='{left + plot_w / 2:.1f}' y='{height - 3}' text-anchor='middle'>{_e(x_title)}</text>")
    labels = list(series)
    if kind == "bar":
        up, down = [0.0] * len(xs), [0.0] * len(xs)
        groups = 1 if stacked else len(labels)
        for k, label in enumerate(labels):
            color = PALETTE[k % len(PALETTE)]
            for i, x in enumerate(xs):
                v = grid[label][i]
                if v == 0:
                    continue
                base = (up if v > 0 else down)[i] if stacked else 0.0
                y0, y1 = py(base), py(base + v)
                if stacked:
                    (up if v > 0 else down)[i] = base + v
                bw = band * 0.8 / groups
                bx = left + band * i + band * 0.1 + (0 if stacked else k * bw)
                tip = f"{format_value(x)} · {label}: {format_value(series[label][x], fmt)}"
                out.append(
                    f"<rect x='{bx:.1f}' y='{min(y0, y1):.1f}' width='{max(bw - 1, 1):.1f}' "
                    f"height='{max(abs(y1 - y0), 0.5):.1f}' fill='{color}'><title>{_e(tip)}</title></rect>"
                )
    else:
        for k, label in enumerate(labels):
            color = PALETTE[k % len(PALETTE)]
            points = " ".join(
                f"{left + band * (i + 0.5):.1f},{py(grid[label][i]):.1f}"
                for i, x in enumerate(xs)
                if x in series[label]
            )
            fill = "none" if kind == "line" else color
            out.append(
                f"<polyline points='{points}' fill='{fill}' fill-opacity='0.2' stroke='{color}' stroke-width='2'>"
                f"<title>{_e(label)}</title></polyline>"
            )
    out.append("</svg>")
    return "".join(out) + _legend(labels)


def _pie(enc: dict[str, Any], result: Result, width: int, height: int) -> str:
    labels = [str(v) for v in _column(result, enc["color"]["fieldName"])]
    values = [Decimal(str(v or 0)) for v in _column(result, enc["angle"]["fieldName"])]
    pairs = sorted((p for p in zip(labels, values, strict=True) if p[1] > 0), key=lambda p: -p[1])
    total = sum(v for _, v in pairs)
    if not total:
        return "<div class='more'>No data in the selected range.</div>"
    size = int(min(height, width * 0.6))
    r = cx = cy = size / 2
    r -= 2
    out, angle = [f"<svg width='{size}' height='{size}' viewBox='0 0 {size} {size}' role='img'>"], 0.0
    fmt = enc["angle"].get("format")
    for k, (label, v) in enumerate(pairs):
        share = float(v / total)
        tip = f"{label}: {format_value(v, fmt)} ({share:.1%})"
        color = PALETTE[k % len(PALETTE)]
        if share >= 0.9999:
            out.append(
                f"<circle cx='{cx:.1f}' cy='{cy:.1f}' r='{r:.1f}' fill='{color}'><title>{_e(tip)}</title></circle>"
            )
            break
        end = angle + share * 2 * math.pi
        x0, y0 = cx + r * math.sin(angle), cy - r * math.cos(angle)
        x1, y1 = cx + r * math.sin(end), cy - r * math.cos(end)
        large = 1 if share > 0.5 else 0
        out.append(
            f"<path d='M{cx:.1f},{cy:.1f} L{x0:.1f},{y0:.1f} A{r:.1f},{r:.1f} 0 {large} 1 {x1:.1f},{y1:.1f} Z' "
            f"fill='{color}' stroke='#fff'><title>{_e(tip)}</title></path>"
        )
        angle = end
    out.append("</svg>")
    legend = _legend([f"{label} {float(v / total):.0%}" for label, v in pairs])
    return f"<div class='pie-body'>{''.join(out)}{legend}</div>"


def _filter_card(widget: dict[str, Any], preview: Preview, doc: dict[str, Any]) -> str:
    spec = widget["spec"]
    title = spec.get("frame", {}).get("title", widget["name"])
    if spec["widgetType"].startswith("filter-date"):
        datasets = {d["name"]: d for d in doc["datasets"]}
        named = widget["queries"][0]["query"]
        keyword = named["parameters"][0]["keyword"]
        param = next(p for p in datasets[named["datasetName"]]["parameters"] if p["keyword"] == keyword)
        value = preview.selection.dates(param)
        shown = f"{value[0]} to {value[1]}" if isinstance(value, tuple) else str(value)
    else:
        values = sorted(
            {
                format_value(r[0])
                for named in widget["queries"]
                for r in preview.queries[(widget["name"], named["name"])].rows
            }
        )
        shown = f"All ({len(values)}): " + ", ".join(values[:12]) + (" …" if len(values) > 12 else "")
    return f"<div class='card filter'><h3>{_e(title)}</h3><div class='values'>{_e(shown)}</div></div>"


# --- the command ----------------------------------------------------------------------------------------


def default_as_of(store: Any, catalog: str, schema: str) -> dt.date:
    """The day after the last usage day in `cost_daily`: a preview of past data shows it as of its next run."""
    from chargeback.marts.cost import COST_DAILY

    name = TableName(catalog, schema, COST_DAILY.table)
    if not store.exists(name):
        raise InputError(f"{name} is not in the lakehouse (run `chargeback run` first)")
    latest = store.read(name).agg({"usage_date": "max"}).collect()[0][0]
    if latest is None:
        raise InputError(f"{name} is empty (run `chargeback run` first)")
    return latest + dt.timedelta(days=1)


def write_preview(
    store: Any, file: Path, out: Path, catalog: str, schema: str, selection: Selection
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
