"""The product's exceptions. Each carries a message fit for a one-line CLI error."""

from __future__ import annotations

from dataclasses import dataclass


class ChargebackError(Exception):
    """Base class: the CLI prints the message on one line and exits non-zero."""


class InputError(ChargebackError):
    """A parameter or argument is invalid (bad date, bad identifier, bad number)."""


class SourceTableError(ChargebackError):
    """A required source table is missing or lacks required columns."""


class SourceDataError(ChargebackError):
    """A source table holds rows the pipeline cannot bill correctly: a NaN, NULL or out-of-range quantity, a record
    without an id, two list prices in force at once or a NULL one, no prices in price_currency, no FX rate for a day."""


class ReconciliationError(ChargebackError):
    """What would be published does not tie out: lines dropped, doubled or NULL-costed against the raw usage records,
    or allocated cost unequal to billed cost."""


class PublishError(ChargebackError):
    """Publishing failed and putting back what it had written failed too: gold tables may disagree until the next
    run rewrites them."""


class ShrinkError(ChargebackError):
    """The run would remove more than the allowed share of published cost (without --allow-shrink), or debit a closed
    month for source rows that went missing."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file: where it is (`file:path.to.field`) and what is wrong."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ConfigError(ChargebackError):
    """The config file is invalid; `problems` lists every problem found, not only the first."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        first = problems[0] if problems else "invalid config"
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(f"{first}{more}")
