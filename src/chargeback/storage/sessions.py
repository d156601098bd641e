"""Spark sessions on Databricks: databricks-connect from a laptop, or the one a job or notebook already has.

Both speak Spark Connect, like the embedded engine (`local.engine`), so pipeline code is identical on each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargeback.errors import ChargebackError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def databricks_session(profile: str | None = None) -> SparkSession:
    """A databricks-connect session, authenticated only through the SDK's standard mechanisms."""
    try:
        from databricks.connect import DatabricksSession
    except ImportError as exc:  # pragma: no cover - optional extra
        raise ChargebackError(
            "the databricks engine needs the 'databricks' extra in its own environment "
            f"(pip install 'databricks-chargeback[databricks]'): {exc}"
        ) from None
    builder = DatabricksSession.builder
    if profile:
        builder = builder.profile(profile)
    return builder.getOrCreate()


def ambient_session() -> SparkSession:
    """The session a Databricks job or notebook already has."""
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is None:
        session = SparkSession.builder.getOrCreate()
    return session
