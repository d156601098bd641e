"""The preview drawn as one self-contained HTML file: each page on its grid, inline SVG charts, no scripts, no network.

Values are shown as Lakeview formats them; widget types the preview does not draw are shown as their data.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chargeback.dashboard.lint import grid_columns

if TYPE_CHECKING:
    from chargeback.dashboard.preview import Preview, Result

TABLE_ROWS = 25
MAX_CATEGORIES = 20
PALETTE = ("#077A9D", "#FFAB00", "#00A972", "#FF3621", "#8BCAE7", "#AB4057", "#99DDB4", "#FCA4A1", "#919191", "#BF7080")
# Pixels of a grid row, of a column on the 12-column grid, between cells; of a card's title, a legend, padding.
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


@dataclass(frozen=True)
class _Plot:
    """Where an x/y chart draws: the plot area in pixels, its y ticks, and the band each x value takes."""

    left: int
    top: int
    width: int
    height: int
    ticks: list[float]
    band: float

    def y(self, value: float) -> float:
        return self.top + self.height - (value - self.ticks[0]) / (self.ticks[-1] - self.ticks[0]) * self.height

    def x(self, i: int) -> float:
        """The middle of the i-th x value's band."""
        return self.left + self.band * (i + 0.5)


def _xy_chart(kind: str, spec: dict[str, Any], result: Result, width: int, height: int) -> str:
    enc = spec["encodings"]
    xs, series = _series(enc, result)
    if not xs:
        return "<div class='more'>No data in the selected range.</div>"
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
    plot = _Plot(left, top, plot_w, plot_h, ticks, plot_w / len(xs))
    out = [f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}' role='img'>"]
    out += _axes(plot, xs, enc, height)
    if kind == "bar":
        out += _bars(plot, xs, series, grid, stacked, enc["y"].get("format"))
    else:
        out += _lines(plot, kind, xs, series, grid)
    out.append("</svg>")
    return "".join(out) + _legend(list(series))


def _axes(plot: _Plot, xs: list[Any], enc: dict[str, Any], height: int) -> list[str]:
    """Y gridlines with their values, x labels (thinned to fit about one per 70 px), the x axis title."""
    fmt = enc["y"].get("format")
    out = []
    for t in plot.ticks:
        y = plot.y(t)
        out.append(f"<line x1='{plot.left}' x2='{plot.left + plot.width}' y1='{y:.1f}' y2='{y:.1f}' stroke='#E8ECF0'/>")
        out.append(f"<text x='{plot.left - 4}' y='{y + 3:.1f}' text-anchor='end'>{_e(format_value(t, fmt))}</text>")
    step = max(1, math.ceil(len(xs) / max(1, plot.width // 70)))
    for i, x in enumerate(xs):
        if i % step == 0:
            at = f"x='{plot.x(i):.1f}' y='{plot.top + plot.height + 14}'"
            out.append(f"<text {at} text-anchor='middle'>{_e(format_value(x)[:14])}</text>")
    x_title = enc["x"].get("displayName", enc["x"]["fieldName"])
    out.append(f"<text x='{plot.left + plot.width / 2:.1f}' y='{height - 3}' text-anchor='middle'>{_e(x_title)}</text>")
    return out


def _bars(
    plot: _Plot,
    xs: list[Any],
    series: dict[str, dict[Any, Decimal]],
    grid: dict[str, list[float]],
    stacked: bool,
    fmt: dict[str, Any] | None,
) -> list[str]:
    """One rect per non-zero value: stacked (positives up, negatives down from 0) or side by side in the band."""
    out = []
    up, down = [0.0] * len(xs), [0.0] * len(xs)
    groups = 1 if stacked else len(series)
    for k, label in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        for i, x in enumerate(xs):
            v = grid[label][i]
            if v == 0:
                continue
            base = (up if v > 0 else down)[i] if stacked else 0.0
            y0, y1 = plot.y(base), plot.y(base + v)
            if stacked:
                (up if v > 0 else down)[i] = base + v
            bw = plot.band * 0.8 / groups
            bx = plot.left + plot.band * i + plot.band * 0.1 + (0 if stacked else k * bw)
            tip = f"{format_value(x)} · {label}: {format_value(series[label][x], fmt)}"
            out.append(
                f"<rect x='{bx:.1f}' y='{min(y0, y1):.1f}' width='{max(bw - 1, 1):.1f}' "
                f"height='{max(abs(y1 - y0), 0.5):.1f}' fill='{color}'><title>{_e(tip)}</title></rect>"
            )
    return out


def _lines(
    plot: _Plot, kind: str, xs: list[Any], series: dict[str, dict[Any, Decimal]], grid: dict[str, list[float]]
) -> list[str]:
    """One polyline per series through the x values it has (areas filled, lightly)."""
    out = []
    for k, label in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        points = " ".join(
            f"{plot.x(i):.1f},{plot.y(grid[label][i]):.1f}" for i, x in enumerate(xs) if x in series[label]
        )
        fill = "none" if kind == "line" else color
        out.append(
            f"<polyline points='{points}' fill='{fill}' fill-opacity='0.2' stroke='{color}' stroke-width='2'>"
            f"<title>{_e(label)}</title></polyline>"
        )
    return out


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
