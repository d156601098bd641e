"""Spark sessions for tests.

Transformation tests (marker `transform`) run on the engine named by CHARGEBACK_TEST_ENGINES: `sail` (the default,
the embedded local engine) or `jvm` (JVM PySpark in Spark Connect local mode, the reference), so a silent divergence
between engines (decimal typing, rounding) fails a test instead of an invoice. The README's test command runs the
suite on Sail, then the transformation tests again in a process of their own on the JVM: one process cannot hold
both, because pyspark's Spark Connect builder hands back the process's default session (the first engine's) instead
of connecting to the second (pyspark/sql/connect/session.py, Builder.getOrCreate).
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

ENGINES = [e.strip() for e in os.environ.get("CHARGEBACK_TEST_ENGINES", "sail").split(",") if e.strip()]
if len(ENGINES) != 1 or ENGINES[0] not in ("sail", "jvm"):
    raise pytest.UsageError(
        f"CHARGEBACK_TEST_ENGINES={','.join(ENGINES)}: name one engine, sail or jvm (one process cannot hold both)"
    )


@pytest.fixture(scope="session")
def sail_spark() -> Iterator:
    if ENGINES == ["jvm"]:
        pytest.skip("a Sail-only test: it runs in the Sail process")
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
    # The engine itself, not only a session: Spark types DECIMAL(38,10) + DECIMAL(38,10) as DECIMAL(38,9) (adjusted
    # precision), Sail as DECIMAL(38,10) (engine_differences: decimal-overflow).
    added = spark.sql("SELECT CAST(1 AS DECIMAL(38,10)) + CAST(1 AS DECIMAL(38,10)) AS x").schema["x"].dataType
    assert (added.precision, added.scale) == (38, 9), f"the jvm fixture is not connected to JVM Spark ({added})"
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    yield spark
    spark.stop()


@pytest.fixture(params=ENGINES, scope="session")
def spark(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The session of the process's engine (CHARGEBACK_TEST_ENGINES)."""
    return request.getfixturevalue(f"{request.param}_spark")
