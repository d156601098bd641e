"""Spark sessions for tests.

Transformation tests (marker `transform`) run on every engine in CHARGEBACK_TEST_ENGINES (default
`sail,jvm`): Sail is the embedded local engine, JVM PySpark in Spark Connect local mode is the reference,
so a silent divergence between engines (decimal typing, rounding) fails a test instead of an invoice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

# CI runs the same examples every time (a failure there is reproducible, never a coin toss); locally hypothesis
# keeps exploring new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ENGINES = [e.strip() for e in os.environ.get("CHARGEBACK_TEST_ENGINES", "sail,jvm").split(",") if e.strip()]


@pytest.fixture(scope="session")
def sail_spark() -> Iterator:
    from chargeback.local.engine import local_session

    with local_session([]) as spark:
        yield spark


@pytest.fixture(scope="session")
def jvm_spark() -> Iterator:
    from pyspark.sql import SparkSession
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    # SPARK_TESTING makes the local Spark Connect server take an ephemeral port instead of 15002, so test runs
    # in parallel (two checkouts, CI beside a developer) do not collide.
    os.environ.setdefault("SPARK_TESTING", "1")
    # getOrCreate starts the local JVM server but then returns the process's default Spark Connect session when there
    # is one (pyspark/sql/connect/session.py, Builder.getOrCreate): the Sail fixture's, when it started first, and
    # the "jvm" tests ran on Sail. With no default session it connects to the JVM server it started.
    ConnectSession._default_session = ConnectSession._active_session.session = None
    spark = SparkSession.builder.remote("local[2]").getOrCreate()
    # The engine itself, not only a new session: Spark types MONEY + MONEY as DECIMAL(38,9) (adjusted precision), Sail
    # as DECIMAL(38,10) (engine: decimal-overflow).
    added = spark.sql("SELECT CAST(1 AS DECIMAL(38,10)) + CAST(1 AS DECIMAL(38,10)) AS x").schema["x"].dataType
    assert (added.precision, added.scale) == (38, 9), f"the jvm fixture is not connected to JVM Spark ({added})"
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    yield spark
    spark.stop()


@pytest.fixture(params=ENGINES, scope="session")
def spark(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A session per configured engine; tests using it run once per engine."""
    return request.getfixturevalue(f"{request.param}_spark")
