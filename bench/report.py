"""The results as the Markdown table the README shows."""

from __future__ import annotations

from typing import Any


def _mib(peak: dict[str, float]) -> str:
    total = peak["process_mib"] + peak["children_mib"]
    return f"{total / 1024:.2f} GiB" if total >= 1024 else f"{total:.0f} MiB"


def _verdict(value: float | None, target: float, higher_is_better: bool = False) -> str:
    if value is None:
        return ""
    ok = value >= target if higher_is_better else value <= target
    return "meets" if ok else "MISSES"


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def table(results: dict[str, Any]) -> str:
    """The figures as a Markdown table (the README shows this)."""
    t = results["targets"]
    rows = [
        _row("measurement", "usage rows", "median s", "ratio", "target", "peak RSS"),
        "|---|---:|---:|---:|---|---:|",
    ]
    for s in results["scales"]:
        rows += _scale_rows(s, t)
    if "year" in results:
        rows += _year_rows(results["year"], t)
    return "\n".join(rows)


def _scale_rows(s: dict[str, Any], t: dict[str, float]) -> list[str]:
    n = f"{s['usage_rows']:,}"
    gen, lim, p = s["generate"], s["limit"], s["pipeline"]
    r, target = p["ratio_to_limit"], t["pipeline_vs_limit"]
    rows = [
        _row(
            f"generate ({s['days']} d x {s['rows_per_day']:,}/d)",
            n,
            f"{gen['seconds']:.2f}",
            "",
            "",
            _mib(gen["peak"]),
        ),
        _row(
            "bare limit (scan + price + sum by day, product)",
            n,
            f"{lim['median_s']:.2f}",
            "1",
            "",
            _mib(lim["peak"]),
        ),
        _row(
            "full pipeline, Sail",
            n,
            f"{p['median_s']:.2f}",
            f"{r:.2f}x limit",
            f"<= {target:g}x: {_verdict(r, target)}" + _memory_verdict(s, p, t),
            _mib(p["peak"]),
        ),
    ]
    if "jvm_pipeline" in s:
        j = s["jvm_pipeline"]
        rows.append(
            _row(
                "full pipeline, JVM PySpark (parquet)",
                n,
                f"{j['median_s']:.2f}",
                f"{j['ratio_to_sail']:.2f}x Sail",
                "",
                _mib(j["peak"]),
            )
        )
    if "enterprise" in s:
        rows += _enterprise_rows(s["enterprise"], n)
    return rows + (_dashboard_rows(s["dashboard"], n, t["dashboard_speedup"]) if "dashboard" in s else [])


def _dashboard_rows(dashboard: dict[str, Any], n: str, target: float) -> list[str]:
    rows = []
    for name, q in dashboard.items():
        if name == "peak":
            continue
        sp = q["speedup"]
        raw = f"{q['raw']['median_s']:.3f}" if q["raw"] else "-"
        rows.append(
            _row(
                f"dashboard `{name}`: gold / raw usage",
                n,
                f"{q['gold']['median_s']:.3f} / {raw}",
                f"{sp:.3g}x faster" if sp is not None else "no raw equivalent",
                f">= {target:g}x: {_verdict(sp, target, True)}" if sp else "",
                _mib(dashboard["peak"]),
            )
        )
    return rows


def _memory_verdict(s: dict[str, Any], p: dict[str, Any], t: dict[str, float]) -> str:
    """The memory target, on the scale it is set for (10M rows)."""
    if s["target_rows"] != 10_000_000:
        return ""
    gib = (p["peak"]["process_mib"] + p["peak"]["children_mib"]) / 1024
    return f"; peak < {t['peak_gib_at_10m']:g} GiB: {_verdict(gib, t['peak_gib_at_10m'])}"


def _year_rows(y: dict[str, Any], t: dict[str, float]) -> list[str]:
    n = f"{y['usage_rows']:,}"
    gen, full, inc, window = y["generate"], y["full"], y["incremental"], y["window_full"]
    r, target = inc["ratio_to_full"], t["incremental_vs_full"]
    differing = [table for table, count in y["differences"].items() if count]
    same = "same silver and gold" if not differing else f"DIFFERS: {', '.join(differing)}"
    return [
        _row(
            f"generate year ({y['days']} + 1 d x {y['rows_per_day']:,}/d)",
            n,
            f"{gen['seconds']:.2f}",
            "",
            "",
            _mib(gen["peak"]),
        ),
        _row(f"full rebuild over {y['days']} days", n, f"{full['median_s']:.2f}", "1", "", _mib(full["peak"])),
        _row(
            f"normal day, incremental ({inc['recomputed_days']} of {y['incremental_days']} days; "
            f"{y['arrived_rows']:,} records arrived)",
            n,
            f"{inc['median_s']:.2f}",
            f"{r * 100:.1f}% of rebuild",
            f"<= {target * 100:g}%: {_verdict(r, target)}",
            _mib(inc["peak"]),
        ),
        _row(
            f"normal day, the same {y['incremental_days']}-day window in full",
            n,
            f"{window['median_s']:.2f}",
            f"{window['median_s'] / inc['median_s']:.1f}x incremental",
            same,
            _mib(window["peak"]),
        ),
    ]


def _enterprise_rows(e: dict[str, Any], n: str) -> list[str]:
    validate, base, big = e["validate"], e["validate"]["base"], e["validate"]["enterprise"]
    size = f"{big['units']:,} units, {big['tag_values']:,} aliases, {big['rules']:,} rules"
    p = e["pipeline"]
    return [
        _row(f"validate-config, example config ({base['units']} units)", "-", f"{base['median_s']:.3f}", "1", "", ""),
        _row(
            f"validate-config, enterprise config ({size})",
            "-",
            f"{big['median_s']:.3f}",
            f"{big['ratio_to_base']:.0f}x example",
            "",
            _mib(validate["peak"]),
        ),
        _row(
            f"full pipeline, Sail, enterprise config ({big['units']:,} units)",
            n,
            f"{p['median_s']:.2f}",
            f"{p['ratio_to_base']:.2f}x example config",
            "",
            _mib(p["peak"]),
        ),
    ]
