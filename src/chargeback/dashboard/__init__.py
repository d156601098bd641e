"""The Lakeview dashboard file: structural checks, its queries on local gold tables, and an HTML preview.

`src/chargeback/resources/chargeback.lvdash.json` is what the bundle deploys. `lint` checks it, `preview` runs its
queries on a local store, `render` draws the results; the names the CLI, tests and bench use are re-exported here.
"""

from __future__ import annotations

from pathlib import Path

from chargeback.dashboard.lint import check, field_problems, load, table_names, widgets
from chargeback.dashboard.preview import (
    Preview,
    Selection,
    bind,
    default_as_of,
    resolve_date,
    run_queries,
    widget_sql,
    write_preview,
)

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "resources" / "chargeback.lvdash.json"

__all__ = [
    "DEFAULT_FILE",
    "Preview",
    "Selection",
    "bind",
    "check",
    "default_as_of",
    "field_problems",
    "load",
    "resolve_date",
    "run_queries",
    "table_names",
    "widget_sql",
    "widgets",
    "write_preview",
]
