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

    # SPARK_TESTING makes the local Spark Connect server take an ephemeral port instead of 15002, so test runs
    # in parallel (two checkouts, CI beside a developer) do not collide.
    os.environ.setdefault("SPARK_TESTING", "1")
    spark = SparkSession.builder.remote("local[2]").getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    yield spark
    spark.stop()


@pytest.fixture(params=ENGINES, scope="session")
def spark(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A session per configured engine; tests using it run once per engine."""
    return request.getfixturevalue(f"{request.param}_spark")
