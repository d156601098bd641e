"""Whether a dated rule is in force on a day, as a column: the DataFrame form of `config.in_force`."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column
from pyspark.sql import functions as F


def in_force_on(day: Column, valid_from: Column | dt.date, valid_to: Column | dt.date | None) -> Column:
    """`valid_from <= day < valid_to`. A bound may be a column (NULL is open, as an open-ended rule's `valid_to`)
    or a known date (None is open): a known rule adds no NULL tests to the plan, which grows with the rules."""
    if isinstance(valid_from, Column):
        starts = valid_from.isNull() | (day >= valid_from)
    else:
        starts = day >= F.lit(valid_from)
    if valid_to is None:
        return starts
    if isinstance(valid_to, Column):
        return starts & (valid_to.isNull() | (day < valid_to))
    return starts & (day < F.lit(valid_to))
