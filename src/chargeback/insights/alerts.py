"""Alerts a run would send: budgets at their critical threshold (or over) and the latest day's anomalies.

Pure: rows of `budget_status_monthly` and `cost_anomalies_daily` in, messages out. Delivery is left to the
caller; `chargeback demo` prints them as a dry run. A budget alert goes to the budget's configured
`recipients`, else to `default_recipients`; the anomaly digest goes to `default_recipients`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from chargeback.config import Config, in_force
from chargeback.insights.budgets import ALL

ALERT_STATUSES = ("critical", "over")


@dataclass(frozen=True)
class Alert:
    recipients: tuple[str, ...]
    subject: str
    body: str


def _recipients(config: Config, row: Any, default: tuple[str, ...]) -> tuple[str, ...]:
    for budget in config.budgets:
        if (
            budget.business_unit == row.business_unit
            and (budget.workspace_id or ALL) == row.workspace_scope
            and (budget.billing_origin_product or ALL) == row.product_scope
            and in_force(budget, row.billing_month)
            and budget.recipients
        ):
            return budget.recipients
    return default


def budget_alerts(rows: Iterable[Any], config: Config, default_recipients: tuple[str, ...] = ()) -> list[Alert]:
    """One alert per budget row whose status is critical or over."""
    alerts = []
    for row in sorted(rows, key=lambda r: (r.billing_month, r.business_unit, r.workspace_scope, r.product_scope)):
        if row.status not in ALERT_STATUSES:
            continue
        scope = "".join(f" {s}" for s in (row.workspace_scope, row.product_scope) if s != ALL)
        name = f"{row.business_unit}{scope}"
        alerts.append(
            Alert(
                _recipients(config, row, default_recipients),
                f"[chargeback] budget {row.status}: {name} {row.billing_month:%Y-%m}",
                f"Budget {name} for {row.billing_month:%B %Y}: {row.budget_amount:,.2f} {row.currency_code}.\n"
                f"Spent to {row.as_of_date}: {row.actual_to_date:,.2f}; forecast for the month: "
                f"{row.forecast_month_end:,.2f} ({row.forecast_ratio * 100:.1f}% of the budget; critical at "
                f"{row.critical_percent.normalize():f}%).",
            )
        )
    return alerts


def anomaly_alert(
    rows: Sequence[Any], day: dt.date, default_recipients: tuple[str, ...] = (), top: int = 10
) -> Alert | None:
    """A digest of `day`'s anomalies, largest score first; None when there are none."""
    found = sorted((r for r in rows if r.usage_date == day and r.is_anomaly), key=lambda r: (-r.score, r.scope_key))
    if not found:
        return None
    lines = [
        f"- {r.reason}: {r.scope} {r.scope_key} cost {r.effective_cost:,.2f} {r.currency_code} "
        f"(baseline {r.baseline_median:,.2f}, score {r.score:.1f})"
        for r in found[:top]
    ]
    more = [f"... and {len(found) - top} more"] if len(found) > top else []
    return Alert(
        default_recipients,
        f"[chargeback] {len(found)} cost anomal{'y' if len(found) == 1 else 'ies'} on {day}",
        "\n".join([*lines, *more]),
    )


def dry_run(alerts: Iterable[Alert]) -> str:
    """What would be sent, as text."""
    out = []
    for alert in alerts:
        to = ", ".join(alert.recipients) or "(no recipients configured)"
        out.append(f"To: {to}\nSubject: {alert.subject}\n{alert.body}\n")
    return "\n".join(out) if out else "No alert would be sent.\n"
