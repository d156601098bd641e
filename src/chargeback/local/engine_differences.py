"""Where the embedded engine (Sail 0.7) differs from Spark on Databricks, and how the product stays portable.

This is the one list. Pipeline code (contracts, config, steps, marts, insights, jobs, storage) never imports the
local engine; where an expression has to be written a particular way so that both engines give the same answer,
its comment names the entry as `engine: <key>`. `tests/local/test_engine_differences.py` checks both rules, and
that no entry here is stale. The JVM PySpark reference run of the transformation tests is what catches a new one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineDifference:
    key: str
    behaviour: str  # what Sail does, unlike Spark
    handling: str  # what the product does about it, and where


ENGINE_DIFFERENCES = (
    EngineDifference(
        "null-struct-field",
        "A field of a NULL struct reads as 0, '' or false instead of NULL.",
        "Test each struct on the path for NULL before reading the field (steps.usage.nested, steps.pricing, "
        "jobs.tieout): a NULL price read as 0 would price a line at zero.",
    ),
    EngineDifference(
        "decimal-overflow",
        "A decimal product, sum or SUM keeps its scale past 38 digits and wraps silently, or fails, where Spark "
        "drops decimals (MONEY + MONEY is DECIMAL(38,9) there, MONEY x -1 DECIMAL(38,8)); a quotient takes the "
        "dividend's scale + 4.",
        "money.py casts every factor and addend to a bounded decimal first (p1 + p2 + 1 <= 38; "
        "money.plus) and picks quotient types by magnitude, and marts.cost.corrections negates rather "
        "than multiplies, so both engines agree to the last digit.",
    ),
    EngineDifference(
        "case-evaluates-every-branch",
        "Every branch of CASE WHEN is evaluated, so an out-of-range value in an unused branch still fails a cast "
        "or divides by zero.",
        "Operands are replaced by harmless values before any branch sees them (money.in_range, "
        "steps.consumption, insights.focus).",
    ),
    EngineDifference(
        "tiny-decimal-compare",
        "A DECIMAL(38,10) of -0.0000000003 cast to DECIMAL(20,6) shows 0.000000 yet compares unequal to 0.",
        "insights.focus tests a divisor by magnitude, not by equality with zero.",
    ),
    EngineDifference(
        "cross-join-left-side",
        "A cross join collects its left side and streams the right one.",
        "The one-row config frame goes on the left (steps.attribution, steps.allocation), so usage lines stream.",
    ),
    EngineDifference(
        "broadcast-known-size",
        "A broadcast hint is followed only for a side whose size the engine knows (an in-memory frame); any other "
        "small side, an aggregate's output, is joined by shuffling both sides, the wide one too.",
        "steps.attribution collects the tag choices (a few rows) into an in-memory frame before joining the lines "
        "to it.",
    ),
    EngineDifference(
        "slow-struct-min",
        "array_min of an array of structs takes seconds per million rows; of numbers, next to nothing.",
        "steps.attribution folds a line's tag periods to the lowest code with `aggregate`.",
    ),
    EngineDifference(
        "filter-into-cross-join",
        "A filter on a column parsed with from_json after a cross join is pushed into the join and fails "
        "('from_json function requires a schema string').",
        "steps.attribution lets explode drop the tag sets without candidates instead of filtering them.",
    ),
    EngineDifference(
        "full-outer-join",
        "A full outer join of a frame with a negated copy of another fails.",
        "marts.cost.corrections unions truth and negated bookings and sums per key instead.",
    ),
    EngineDifference(
        "replace-where-unchecked",
        "A replaceWhere overwrite accepts rows outside its predicate (Delta on Databricks rejects them).",
        "storage.store drops rows outside the window before writing, on every engine.",
    ),
    EngineDifference(
        "map-columns-in-date-range-overwrite",
        "A replaceWhere overwrite of a table with map columns fails.",
        "The FOCUS JSON columns (insights.focus) are strings holding JSON objects.",
    ),
    EngineDifference(
        "column-comments",
        "Column comments become Delta field metadata, which fails a DataFusion check when such a column goes "
        "through CASE WHEN, a union and an aggregate (apache/datafusion#12560).",
        "local.lakehouse keeps the table comment only; Unity Catalog tables get every column comment.",
    ),
    EngineDifference(
        "system-catalog-reserved",
        "The catalog name `system` is reserved for Sail's own runtime tables.",
        "local.engine registers the lakehouse's system catalog as `local_system`; local.lakehouse rewrites "
        "`system.` in queries.",
    ),
    EngineDifference(
        "percent-encoded-paths",
        "A path is stored as a URL and written to its percent-encoded text (`a b` becomes `a%20b`).",
        "local.lakehouse.engine_path reaches other paths through an ASCII-named link.",
    ),
    EngineDifference(
        "delta-decimal-statistics",
        "A decimal column that holds one value in a Delta file is read from the file's JSON statistics through a "
        "double, so 57.468010831799909416 reads as 57.46801083179991 (a one-row append, a run's log row).",
        "Tables local.lakehouse creates keep file statistics for plain columns only, never for decimal or nested "
        "ones (a folder created before keeps them: generate it again).",
    ),
)
