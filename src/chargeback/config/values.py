"""The chargeback's own value kinds (unit ids, currencies, products, workspace ids, percents, money) and the
business unit references checked against the units the file declares."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

from yaml.nodes import Node

from chargeback.config.model import normalise
from chargeback.config.reader import DIGITS, Reader, show, suggestion
from chargeback.contracts.config_tables import UNALLOCATED

ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")  # business unit and pool ids
_CURRENCY = re.compile(r"[A-Z]{3}")
_PRODUCT = re.compile(r"[A-Z][A-Z0-9_]*")
_PERCENT_PLACES = 4  # discount_percent / percent columns are DECIMAL(9,4)
_MAX_THRESHOLD = Decimal(1000)  # budget thresholds are percent of the amount; 1000 % is surely a typo past that
_AMOUNT_PLACES = 2
_MAX_AMOUNT = Decimal(10) ** 15
_RATE_PLACES = 10  # rate column is DECIMAL(20,10)
_MAX_RATE = Decimal(10) ** 10


@dataclass(frozen=True)
class Units:
    """The unit ids the file declares, for checking and suggesting references."""

    ids: tuple[str, ...]
    by_normalised: dict[str, str]  # normalised id or name -> id

    @cached_property
    def known(self) -> frozenset[str]:
        return frozenset(self.ids)

    def suggest(self, value: str) -> str:
        same = self.by_normalised.get(normalise(value))
        return f" (did you mean {same!r}?)" if same else suggestion(value, self.ids)


class ConfigReader(Reader):
    """A `Reader` that also reads the chargeback's value kinds."""

    def unit_id(self, node: Node, path: str) -> str | None:
        value = self.matching(node, path, ID_PATTERN, "a valid id (lower-case letters, digits, '_' and '-')")
        if value is not None and normalise(value) == normalise(UNALLOCATED):
            self.problem(node, path, f"{show(value)} is reserved for cost no rule attributes")
            return None
        return value

    def currency(self, node: Node, path: str) -> str | None:
        return self.matching(node, path, _CURRENCY, "an ISO 4217 currency code (three upper-case letters)")

    def product(self, node: Node, path: str) -> str | None:
        return self.matching(node, path, _PRODUCT, "a billing_origin_product (upper-case, e.g. SQL, JOBS)")

    def workspace_id(self, node: Node, path: str) -> str | None:
        return self.matching(node, path, DIGITS, "a workspace id (digits only)")

    def unit(self, node: Node, path: str, units: Units) -> str | None:
        value = self.text(node, path)
        if value is not None and value not in units.known:
            self.problem(node, path, f"unknown business unit {show(value)}{units.suggest(value)}")
            return None
        return value

    def percent(self, node: Node, path: str) -> Decimal | None:
        return self.decimal(node, path, Decimal(0), Decimal(100), _PERCENT_PLACES)

    def rate(self, node: Node, path: str) -> Decimal | None:
        return self.positive(node, path, _MAX_RATE, _RATE_PLACES, "an exchange rate")

    def amount(self, node: Node, path: str) -> Decimal | None:
        return self.positive(node, path, _MAX_AMOUNT, _AMOUNT_PLACES, "a budget amount")

    def threshold(self, node: Node, path: str) -> Decimal | None:
        """A budget threshold: percent of the amount (may exceed 100)."""
        return self.positive(node, path, _MAX_THRESHOLD, _PERCENT_PLACES, "a threshold")

    def month_start(self, node: Node, path: str) -> dt.date | None:
        value = self.date(node, path)
        if value is not None and value.day != 1:
            self.problem(node, path, f"budgets are monthly: {value} must be the first day of a month")
            return None
        return value
