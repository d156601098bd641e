"""Validated three-part table names. Identifiers from parameters pass through here before any SQL runs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chargeback.errors import InputError

# Unity Catalog allows more in quoted names; we accept a conservative subset so a name can never carry SQL.
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,254}$")


def validate_identifier(value: str, what: str) -> str:
    """Return `value` if it is a safe identifier, else raise an `InputError` naming `what`."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):  # `$` would accept a trailing "\n"
        raise InputError(
            f"{what}: {value!r} is not a valid identifier "
            "(letters, digits, '_' or '-', at most 255 characters, not starting with '-')"
        )
    return value


def quote(identifier: str) -> str:
    """Backtick-quote an identifier that `validate_identifier` accepted."""
    return f"`{identifier}`"


@dataclass(frozen=True, order=True)
class TableName:
    """A validated `catalog.schema.table` name."""

    catalog: str
    schema: str
    table: str

    def __post_init__(self) -> None:
        validate_identifier(self.catalog, "catalog")
        validate_identifier(self.schema, "schema")
        validate_identifier(self.table, "table")

    @classmethod
    def parse(cls, name: str, what: str = "table name") -> TableName:
        parts = name.split(".") if isinstance(name, str) else []
        if len(parts) != 3:
            raise InputError(f"{what}: {name!r} is not a three-part name catalog.schema.table")
        try:
            return cls(*parts)
        except InputError as exc:
            raise InputError(f"{what}: {exc}") from None

    def __str__(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.table}"

    @property
    def quoted(self) -> str:
        return ".".join(quote(p) for p in (self.catalog, self.schema, self.table))


def sql_string(value: str) -> str:
    """A Spark SQL string literal for a value the product itself controls (comments, paths)."""
    if any(ord(ch) < 32 for ch in value):
        raise InputError(f"control characters are not allowed in {value!r}")
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
