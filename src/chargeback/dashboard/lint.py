"""The Lakeview dashboard file read and checked: its structure, parameter markers, grid layout and widget fields.

`check` finds what Lakeview would reject or show broken without running anything; `field_problems` needs the
columns each dataset returns, which only running it tells (see `preview`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from chargeback.errors import InputError

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
