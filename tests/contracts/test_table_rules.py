"""Delta and Unity Catalog rules for every table contract the product declares: the local engine enforces none."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import chargeback
from chargeback.contracts.table_spec import TableSpec
from chargeback.names import TableName
from chargeback.storage.store import UnityCatalog
from tests.helpers import RecordingSpark

# ---------------------------------------------------------------------------------------------------------
# Delta and Unity Catalog rules, for every table the product writes. The local engine enforces none of them.
# ---------------------------------------------------------------------------------------------------------


def _every_table_spec() -> dict[str, TableSpec]:
    """Every `TableSpec` defined in the package (module constants and dicts of them), so none can be missed."""
    found: dict[str, TableSpec] = {}
    for module in pkgutil.walk_packages(chargeback.__path__, "chargeback."):
        if module.name == "chargeback.__main__":  # running it is what importing it does
            continue
        for value in vars(importlib.import_module(module.name)).values():
            for spec in value.values() if isinstance(value, dict) else [value]:
                if isinstance(spec, TableSpec):
                    found[spec.table] = spec
    return found


SPECS = _every_table_spec()
# Delta collects file statistics on the first 32 leaf columns only (`delta.dataSkippingNumIndexedCols`), and
# liquid clustering refuses a key without statistics (DELTA_CLUSTERING_COLUMN_MISSING_STATS); at most 4 keys,
# of types with min/max statistics (Databricks docs, "Use liquid clustering for tables").
STATS_COLUMNS = 32
MAX_CLUSTERING_KEYS = 4
# Unity Catalog: names are case-insensitive, at most 255 characters; plain identifiers need no quoting anywhere.
UC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")


def test_every_written_table_is_covered() -> None:
    assert {"usage_costs", "cost_daily", "chargeback_monthly", "focus_costs", "reconciliation_runs"} <= SPECS.keys()
    assert {"business_units", "budget_status_monthly", "cost_anomalies_daily", "policy_coverage_daily"} <= SPECS.keys()


def _leaf_count(sql_type: str) -> int:
    """Leaf columns of a type for Delta statistics: a struct counts its fields (recursively), anything else 1."""
    sql_type = sql_type.strip()
    if not sql_type.upper().startswith("STRUCT<"):
        return 1
    fields, depth, start, inner = [], 0, 0, sql_type[7:-1]
    for i, ch in enumerate(inner):
        depth += (ch in "<(" and 1) or 0
        depth -= (ch in ">)" and 1) or 0
        if ch == "," and depth == 0:
            fields.append(inner[start:i])
            start = i + 1
    fields.append(inner[start:])
    return sum(_leaf_count(f.split(":", 1)[1]) for f in fields)


def test_leaf_count_counts_struct_fields() -> None:
    assert _leaf_count("DECIMAL(38,10)") == 1
    assert _leaf_count("MAP<STRING, STRING>") == 1
    assert _leaf_count("STRUCT<a: STRING, b: STRUCT<c: INT, d: DECIMAL(10,2)>>") == 3


@pytest.mark.parametrize("spec", SPECS.values(), ids=lambda s: s.table)
def test_clustering_keys_have_statistics(spec: TableSpec) -> None:
    position, leaves_before = {}, 0
    for column in spec.columns:
        position[column.name] = leaves_before
        leaves_before += _leaf_count(column.type)
    types = {c.name: c.type.upper() for c in spec.columns}
    assert len(spec.partition_by) <= MAX_CLUSTERING_KEYS
    for key in spec.partition_by:
        assert position[key] < STATS_COLUMNS, f"{spec.table}.{key} is leaf column {position[key] + 1}, past 32"
        assert not types[key].startswith(("MAP", "ARRAY", "STRUCT")), f"{spec.table}.{key}: no statistics"


@pytest.mark.parametrize("spec", SPECS.values(), ids=lambda s: s.table)
def test_names_keys_and_comments_are_legal_in_unity_catalog(spec: TableSpec) -> None:
    assert UC_NAME.fullmatch(spec.table), spec.table
    lowered = [c.name.lower() for c in spec.columns]
    assert len(set(lowered)) == len(lowered), f"{spec.table}: columns equal but for case collide in Unity Catalog"
    for column in spec.columns:
        assert UC_NAME.fullmatch(column.name), f"{spec.table}.{column.name}"
        assert column.comment.strip(), f"{spec.table}.{column.name} has no comment"
    assert spec.grain.strip() and set(spec.primary_key) <= set(spec.column_names), spec.table


@pytest.mark.parametrize("spec", SPECS.values(), ids=lambda s: s.table)
def test_unity_catalog_ddl_of_every_table(spec: TableSpec) -> None:
    """The exact CREATE statement the Unity Catalog store sends, parsed as Databricks SQL."""
    import sqlglot
    from sqlglot import exp

    spark = RecordingSpark([])
    spark.tableExists = lambda name: False  # type: ignore[method-assign]
    UnityCatalog(spark).ensure(TableName("main", "chargeback", spec.table), spec)  # type: ignore[arg-type]
    (statement,) = spark.statements
    tree = sqlglot.parse_one(statement, read="databricks")
    assert isinstance(tree, exp.Create) and tree.args.get("exists"), statement
    columns = [c for c in tree.find_all(exp.ColumnDef)]
    assert [c.name for c in columns] == spec.column_names
    assert all(c.find(exp.CommentColumnConstraint) for c in columns), "every column carries its comment"
    clustered = tree.find(exp.ClusterProperty)
    assert ([e.name for e in clustered.expressions] if clustered else []) == list(spec.partition_by)
    (comment,) = tree.find_all(exp.SchemaCommentProperty)
    assert comment.this.this == spec.comment
