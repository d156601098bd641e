"""Alerts: budgets at critical or over, the day's anomaly digest, and the dry-run text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

from chargeback.insights.alerts import anomaly_alert, budget_alerts, dry_run
from tests.helpers import config

OCT = dt.date(2026, 10, 1)
CONFIG = config(
    """budgets:
  - {business_unit: data-eng, amount: 1000, warning_percent: 80, critical_percent: 100, valid_from: 2026-01-01,
     recipients: [lead@acme.example]}
  - {business_unit: finance, amount: 100, warning_percent: 80, critical_percent: 100, valid_from: 2026-01-01}
  - {business_unit: finance, workspace_id: "2222", billing_origin_product: SQL, amount: 50, warning_percent: 50,
     critical_percent: 90, valid_from: 2026-01-01}
"""
)


def budget(unit: str, status: str, ws: str = "*", product: str = "*") -> SimpleNamespace:
    return SimpleNamespace(
        billing_month=OCT,
        business_unit=unit,
        workspace_scope=ws,
        product_scope=product,
        status=status,
        budget_amount=Decimal(1000),
        as_of_date=dt.date(2026, 10, 15),
        actual_to_date=Decimal("600.5"),
        forecast_month_end=Decimal("1250"),
        forecast_ratio=Decimal("1.25"),
        critical_percent=Decimal("100.0000"),
        currency_code="USD",
    )


def test_budget_alerts_for_critical_and_over_only_to_their_recipients() -> None:
    rows = [budget("data-eng", "critical"), budget("finance", "ok"), budget("finance", "over", "2222", "SQL")]
    alerts = budget_alerts(rows, CONFIG, ("finops@acme.example",))
    assert [a.recipients for a in alerts] == [("lead@acme.example",), ("finops@acme.example",)]
    assert alerts[0].subject == "[chargeback] budget critical: data-eng 2026-10"
    assert alerts[1].subject == "[chargeback] budget over: finance 2222 SQL 2026-10"
    assert "forecast for the month: 1,250.00 (125.0% of the budget; critical at 100%)" in alerts[0].body


def test_anomaly_digest_of_the_day() -> None:
    def anomaly(day: int, key: str, score: float, is_anomaly: bool = True) -> SimpleNamespace:
        return SimpleNamespace(
            usage_date=dt.date(2026, 10, day),
            is_anomaly=is_anomaly,
            reason="spike" if is_anomaly else None,
            scope="workload",
            scope_key=key,
            effective_cost=Decimal(900),
            baseline_median=Decimal(100),
            score=score,
            currency_code="USD",
        )

    rows = [
        anomaly(15, "job:1", 8.0),
        anomaly(15, "job:2", 40.0),
        anomaly(14, "job:3", 99.0),
        anomaly(15, "x", 1, False),
    ]
    alert = anomaly_alert(rows, dt.date(2026, 10, 15), ("finops@acme.example",))
    assert alert is not None
    assert alert.subject == "[chargeback] 2 cost anomalies on 2026-10-15"
    assert alert.body.splitlines()[0] == "- spike: workload job:2 cost 900.00 USD (baseline 100.00, score 40.0)"
    assert anomaly_alert(rows, dt.date(2026, 10, 16)) is None
    text = dry_run([alert, *budget_alerts([budget("finance", "critical")], CONFIG)])
    assert "To: finops@acme.example\nSubject: [chargeback] 2 cost anomalies" in text
    assert "To: (no recipients configured)\nSubject: [chargeback] budget critical: finance 2026-10" in text
    assert dry_run([]) == "No alert would be sent.\n"
