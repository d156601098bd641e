"""`in_force_on` (a rule in force on a day, as a column) agrees with the config's own `in_force`, on every engine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from pyspark.sql import functions as F

from chargeback.config import in_force
from chargeback.steps.validity import in_force_on

pytestmark = pytest.mark.transform

DAYS = [dt.date(2026, 9, 28) + dt.timedelta(days=i) for i in range(6)]
BOUNDS = [None, dt.date(2026, 9, 30), dt.date(2026, 10, 1)]


@dataclass(frozen=True)
class Rule:
    valid_from: dt.date
    valid_to: dt.date | None


def test_known_and_column_bounds_agree_with_the_config_rule(spark) -> None:  # type: ignore[no-untyped-def]
    rules = [Rule(start, end) for start in BOUNDS[1:] for end in BOUNDS if end is None or end >= start]
    rows = [(day, rule.valid_from, rule.valid_to) for day in DAYS for rule in rules]
    df = spark.createDataFrame(rows, "day date, valid_from date, valid_to date")
    day, start, end = F.col("day"), F.col("valid_from"), F.col("valid_to")
    as_columns = {
        (r.day, r.valid_from, r.valid_to): r.hit
        for r in df.select("*", in_force_on(day, start, end).alias("hit")).collect()
    }
    for rule in rules:
        literal = df.where((start == F.lit(rule.valid_from)) & (end.eqNullSafe(F.lit(rule.valid_to))))
        hits = {
            r.day: r.hit
            for r in literal.select("day", in_force_on(day, rule.valid_from, rule.valid_to).alias("hit")).collect()
        }
        for d in DAYS:
            expected = in_force(rule, d)
            assert hits[d] is expected, (rule, d)
            assert as_columns[(d, rule.valid_from, rule.valid_to)] is expected, (rule, d)


def test_a_null_start_is_open(spark) -> None:  # type: ignore[no-untyped-def]
    df = spark.createDataFrame([(DAYS[0], None, DAYS[1])], "day date, valid_from date, valid_to date")
    (row,) = df.select(in_force_on(F.col("day"), F.col("valid_from"), F.col("valid_to")).alias("hit")).collect()
    assert row.hit is True
