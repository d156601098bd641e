"""Arrow column builders: a table of a system table's schema from numpy columns, every other column NULL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql.types import StructType


def arrow_schema(fields: list) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import StructType

    return to_arrow_schema(StructType(fields))


def arrow_table(rows: list[dict[str, object]], schema: StructType) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=arrow_schema(schema.fields))


# Rows per arrow table sent to the engine for the large activity tables (statements are about 1 KB a row).
ACTIVITY_CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class Struct:
    """A struct column given field by field (missing fields are NULL); `valid` False makes the struct NULL."""

    fields: Mapping[str, object]
    valid: np.ndarray | None = None


def arrow_column(arrow_type: pa.DataType, n: int, value: object) -> pa.Array:
    if value is None:
        return pa.nulls(n, arrow_type)
    if isinstance(value, Struct):
        fields = list(arrow_type)
        unknown = set(value.fields) - {f.name for f in fields}
        if unknown:
            raise ValueError(f"no such struct fields: {sorted(unknown)}")
        children = [arrow_column(f.type, n, value.fields.get(f.name)) for f in fields]
        mask = None if value.valid is None else pa.array(~value.valid)
        return pa.StructArray.from_arrays(children, fields=fields, mask=mask)
    if isinstance(value, np.ndarray):
        value = pa.array(value)
    if not isinstance(value, pa.Array):
        raise TypeError(f"cannot make a column of {type(value).__name__}")
    if len(value) != n:
        raise ValueError(f"column of {len(value)} values for {n} rows")
    return value if value.type == arrow_type else value.cast(arrow_type)


def table(schema: StructType, n: int, values: Mapping[str, object]) -> pa.Table:
    """An arrow table of `schema` with `n` rows: the given columns, every other one NULL."""
    arrow = arrow_schema(schema.fields)
    unknown = set(values) - set(arrow.names)
    if unknown:
        raise ValueError(f"no such columns: {sorted(unknown)}")
    return pa.Table.from_arrays([arrow_column(f.type, n, values.get(f.name)) for f in arrow], schema=arrow)


def pick(vocabulary: list[str | None] | tuple[str | None, ...], index: np.ndarray) -> pa.Array:
    """vocabulary[index] as a string array (None entries are NULL)."""
    return pa.array(list(vocabulary), pa.string()).take(pa.array(np.asarray(index, dtype=np.int64)))


def const(value: str | None, n: int) -> pa.Array:
    return pick([value], np.zeros(n, dtype=np.int64))


def nullable(values: np.ndarray, valid: np.ndarray) -> pa.Array:
    return pa.array(values, mask=~valid)


def timestamps(us: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    ints = pa.array(us.astype(np.int64)) if valid is None else nullable(us.astype(np.int64), valid)
    return ints.cast(pa.timestamp("us", tz="UTC"))


def lists(offsets: np.ndarray, values: pa.Array, valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else pa.array(~valid)
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values, mask=mask)


def column_arrow_type(schema: StructType, column: str) -> pa.DataType:
    return arrow_schema([schema[column]]).field(column).type


def row_chunks(n: int, size: int = ACTIVITY_CHUNK_ROWS) -> list[slice]:
    return [slice(lo, min(lo + size, n)) for lo in range(0, max(n, 1), size)]
