"""What a run of the chargeback job is given (`RunParams`, `SourceTables`) and what it reports (`RunSummary`)."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from chargeback.contracts.system_table_names import (
    CLUSTERS_TABLE,
    JOB_RUN_TIMELINE_TABLE,
    JOBS_TABLE,
    LIST_PRICES_TABLE,
    PIPELINE_UPDATE_TIMELINE_TABLE,
    PIPELINES_TABLE,
    QUERY_HISTORY_TABLE,
    SERVED_ENTITIES_TABLE,
    USAGE_TABLE,
    WAREHOUSES_TABLE,
    WORKSPACES_TABLE,
)
from chargeback.contracts.table_spec import TableSpec
from chargeback.errors import InputError
from chargeback.names import TableName

if TYPE_CHECKING:
    from chargeback.jobs import plan, tieout

# The largest difference the gate accepts between two totals of money: a cent.
TOLERANCE = Decimal("0.01")
# A scratch key is a table-name suffix: letters, digits and underscores (the bundle passes the job's numeric id).
_SCRATCH_KEY = re.compile(r"[A-Za-z0-9_]{1,40}")
# The tasks of the daily job, in order (the bundle runs each as a task; `all` runs them in one process).
STEPS = ("config", "price_attribute", "allocate_publish", "reconcile")


@dataclass(frozen=True)
class SourceTables:
    """Where the system tables are read from (copies of them work too).

    Usage and list prices are required. Query history is required only when a pool splits by consumption; the
    others are optional: without them names fall back to ids and runs have no outcome.
    """

    usage: TableName = USAGE_TABLE
    list_prices: TableName = LIST_PRICES_TABLE
    workspaces: TableName = WORKSPACES_TABLE
    jobs: TableName = JOBS_TABLE
    pipelines: TableName = PIPELINES_TABLE
    served_entities: TableName = SERVED_ENTITIES_TABLE
    warehouses: TableName = WAREHOUSES_TABLE
    clusters: TableName = CLUSTERS_TABLE
    query_history: TableName = QUERY_HISTORY_TABLE
    job_run_timeline: TableName = JOB_RUN_TIMELINE_TABLE
    pipeline_update_timeline: TableName = PIPELINE_UPDATE_TIMELINE_TABLE


@dataclass(frozen=True)
class RunParams:
    """Everything a run depends on besides config and data, parsed once at the edge."""

    catalog: str
    schema: str
    start_date: dt.date
    end_date: dt.date
    run_id: str
    run_at: dt.datetime
    sources: SourceTables = field(default_factory=SourceTables)
    # Publish even when the run removes more than the config's max_shrink_percent of a day's or month's cost.
    allow_shrink: bool = False
    # Recompute every day of the window, not only those the source changed (`jobs.plan`).
    full: bool = False
    # Run full when the last balanced full run is this many days old or more (None: only when asked or needed).
    full_every_days: int | None = None
    # Resolve re-exported usage records (a copy may hold some; the system table has none, and the gate still
    # counts each record once, so a duplicate there fails the run loudly instead of doubling cost).
    dedupe_usage: bool = True
    # Which scratch tables the run stages its intermediate results in (`scratch`): the daily and the backfill jobs
    # pass their own job ids, so a run of one never reads what a run of the other staged (each job runs one run at
    # a time). Empty: the unsuffixed names, for runs outside a job (a local lakehouse takes one run at a time).
    scratch_key: str = ""

    def __post_init__(self) -> None:
        if self.end_date < self.start_date:
            raise InputError(f"--end-date {self.end_date} is before --start-date {self.start_date}")
        TableName(self.catalog, self.schema, "x")  # validates both identifiers
        if self.scratch_key and not _SCRATCH_KEY.fullmatch(self.scratch_key):
            raise InputError(
                f"--scratch-key {self.scratch_key!r}: use 1 to 40 letters, digits or underscores (a table-name suffix)"
            )

    def table(self, spec: TableSpec | str) -> TableName:
        return TableName(self.catalog, self.schema, spec if isinstance(spec, str) else spec.table)

    def scratch(self, name: str) -> TableName:
        """The scratch table `name` of this run's job (`scratch_key`)."""
        return self.table(f"{name}_{self.scratch_key}" if self.scratch_key else name)


@dataclass
class RunSummary:
    """What a run did, for stdout and `reconciliation_runs`."""

    run_id: str
    start_date: dt.date
    end_date: dt.date
    currency: str
    rows_written: dict[str, int] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    billed_cost: Decimal = Decimal(0)
    allocated_cost: Decimal = Decimal(0)
    usage_line_count: int = 0
    unpriced_line_count: int = 0
    unpriced_skus: str = ""
    duplicate_record_count: int = 0
    conflicting_record_count: int = 0
    duplicate_record_examples: str = ""
    # What the raw usage of the window nets to, read once per process (`source_facts`).
    source: tieout.SourceFacts | None = field(default=None, repr=False, compare=False)
    # The days the run recomputes, logged by its first step (`plan.RunPlan`).
    plan: plan.RunPlan | None = field(default=None, repr=False, compare=False)

    @property
    def difference(self) -> Decimal:
        return self.billed_cost - self.allocated_cost

    @property
    def is_balanced(self) -> bool:
        return abs(self.difference) <= TOLERANCE

    def as_json(self) -> str:
        """One machine-readable line for job logs; amounts as exact decimal strings."""
        return json.dumps(
            {
                "run_id": self.run_id,
                "window": [self.start_date.isoformat(), self.end_date.isoformat()],
                "currency": self.currency,
                "billed_cost": str(self.billed_cost),
                "allocated_cost": str(self.allocated_cost),
                "difference": str(self.difference),
                "is_balanced": self.is_balanced,
                "usage_line_count": self.usage_line_count,
                "unpriced_line_count": self.unpriced_line_count,
                "unpriced_skus": self.unpriced_skus,
                "duplicate_record_count": self.duplicate_record_count,
                "conflicting_record_count": self.conflicting_record_count,
                "duplicate_record_examples": self.duplicate_record_examples,
                "rows_written": self.rows_written,
                "step_seconds": self.step_seconds,
            },
            sort_keys=True,
        )
