"""The product's exceptions. Each carries a message fit for a one-line CLI error."""

from __future__ import annotations

from dataclasses import dataclass


class ChargebackError(Exception):
    """Base class: the CLI prints the message on one line and exits non-zero."""


class InputError(ChargebackError):
    """A parameter or argument is invalid (bad date, bad identifier, bad number)."""


class SourceTableError(ChargebackError):
    """A required source table is missing or lacks required columns."""


class ReconciliationError(ChargebackError):
    """Allocated cost does not equal billed cost, or usage lines were dropped."""


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
