"""Fuzz `chargeback validate-config`: the shipped example config, randomly broken, either validates or yields
located `ConfigProblem`s only, never another exception.

Each example loads `config/chargeback.yml`, applies a few random mutations (a hostile value at any path, a
deleted key, an unknown key, a duplicated list item), maybe edits the YAML text (a repeated line, a YAML tag,
anchor, directive or stray syntax, a truncation), writes the result to a file and validates it the way the CLI
does.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargeback.cli import main
from chargeback.config import validate_config_file

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "chargeback.yml"
VALID = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))

HOSTILE_TEXT = [
    "", " ", " padded ", "'", '"', "`finance`", "finance; DROP TABLE usage; --", "x'); DELETE FROM t; --",
    "${var.catalog}", "{{job.run_id}}", "é", "😀🚀", "\u202e", "\u00a0", "a" * 10_000, "NaN", "Infinity",
    "-Infinity", "1e999999", "1e-999999", "-1", "0", "0.00001", "99999999999999999999.999", "2026-02-30",
    "2026-13-01", "0000-01-01", "9999-12-31", "2026-1-1", "2026-00", "2026-13", "99999-01", "null", "~", "yes",
    "<<", "UNALLOCATED", "unallocated", "finance", "USD", "EUR", "proportional", "fixed", "central", "job",
    "consumption", "spread", "keep", "b2e4d6f8a0c3e5b7",
]  # fmt: skip
HUGE = [10**400, -(10**400), 2**63, -(2**63) - 1]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from(HUGE),
    st.floats(),  # NaN and infinities included
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.dates(),
    st.datetimes(),
    st.text(max_size=30),
    st.sampled_from(HOSTILE_TEXT),
    st.binary(max_size=8),  # !!binary
    st.sets(st.integers(0, 3), max_size=3),  # !!set
)
keys = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["id", "name", "valid_from", "business_unit", "match", "<<"]),
    st.none() | st.booleans() | st.integers() | st.floats() | st.dates(),  # keys that are not strings
)
SNIPPETS = [
    "!!binary aGk=", "!!set {a, b}", "!!omap [a: 1]", "!!python/object/apply:os.system [true]", "!custom x",
    "&anchor", "*undefined", "? [complex, key]", "<<: {a: 1}", "\t", "%YAML 1.1", "---", "...", "{", "]", "'",
    "|", ">-", "@", "`", "# comment", "\ufeff", "\x00", "\x85", "\u2028", "[" * 1000,
]  # fmt: skip
hostile = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=12
)

Path_ = tuple[str | int, ...]


def _paths(tree: object, prefix: Path_ = ()) -> list[Path_]:
    """Every path to a value in the tree (the root excluded)."""
    children: list[tuple[str | int, object]] = []
    if isinstance(tree, dict):
        children = list(tree.items())
    elif isinstance(tree, list):
        children = list(enumerate(tree))
    found = []
    for key, child in children:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


def _containers(tree: object, prefix: Path_ = ()) -> list[Path_]:
    """Every path to a mapping or list, the root included."""
    found = [prefix] if isinstance(tree, dict | list) else []
    for path in _paths(tree, prefix):
        if isinstance(_at(tree, path[len(prefix) :]), dict | list):
            found.append(path)
    return found


def _at(tree: object, path: Path_) -> object:
    for key in path:
        tree = tree[key]  # type: ignore[index]
    return tree


def _dump(tree: object) -> str:
    return yaml.dump(tree, Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False, width=10_000)


@st.composite
def broken_configs(draw: st.DrawFn) -> str:
    """The example config after one to four random mutations, as YAML text."""
    tree = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(("replace", "replace", "delete", "add", "duplicate")))
        if action in ("replace", "delete"):
            paths = _paths(tree)
            if not paths:
                break
            *parent, key = draw(st.sampled_from(paths))
            container = _at(tree, tuple(parent))
            if action == "replace":
                container[key] = draw(hostile)  # type: ignore[index]
            else:
                del container[key]  # type: ignore[arg-type, attr-defined]
        else:
            container = _at(tree, draw(st.sampled_from(_containers(tree))))
            if isinstance(container, dict) and action == "add":
                container[draw(keys)] = draw(hostile)
            elif isinstance(container, list) and container:
                # A copy of an item: duplicate ids, overlapping rules, a unit listed twice.
                container.append(draw(st.sampled_from(container)) if action == "duplicate" else draw(hostile))
    text = _dump(tree)
    lines = text.splitlines(keepends=True)
    index = draw(st.integers(0, len(lines) - 1))
    edit = draw(st.sampled_from(("none", "none", "none", "repeat", "snippet", "truncate")))
    if edit == "repeat":  # a duplicate key (which PyYAML's loader would silently accept) or broken syntax
        lines.insert(index, lines[index])
    elif edit == "snippet":  # YAML tags, anchors, directives and stray syntax somewhere in a line
        at = draw(st.integers(0, len(lines[index])))
        lines[index] = lines[index][:at] + draw(st.sampled_from(SNIPPETS)) + lines[index][at:]
    elif edit == "truncate":
        lines = lines[:index]
    return "".join(lines)


def _located(file: Path) -> re.Pattern[str]:
    """`FILE:LINE` or `FILE:LINE: field.path`."""
    return re.compile(rf"{re.escape(str(file))}:[1-9][0-9]*(: \S.*)?")


def assert_located_problems(file: Path) -> int:
    """Validate `file` as `validate-config` does; every problem names the file, a line and, in one line, what."""
    problems = validate_config_file(file)  # anything but ConfigError escapes and fails the test
    located = _located(file)
    for problem in problems:
        assert located.fullmatch(problem.location), problem
        assert problem.message.strip(), problem
        assert "\n" not in str(problem) and len(str(problem)) < 1000, problem
    return len(problems)


def test_the_example_config_is_valid(tmp_path: Path) -> None:
    # The fuzz below starts from the example as re-dumped by PyYAML: it must be valid too.
    file = tmp_path / "chargeback.yml"
    file.write_text(_dump(VALID), encoding="utf-8")
    assert validate_config_file(EXAMPLE) == [] and validate_config_file(file) == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=broken_configs())
def test_a_broken_example_config_validates_or_reports_located_problems(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    file = tmp_path_factory.mktemp("fuzz") / "chargeback.yml"
    file.write_text(text, encoding="utf-8")
    assert_located_problems(file)


_DELETE = object()


def _broken(**changes: object) -> str:
    """The example with `a__0__b=value` set (or deleted with `_DELETE`)."""
    tree = copy.deepcopy(VALID)
    for dotted, value in changes.items():
        *parent, key = [int(part) if part.isdigit() else part for part in dotted.split("__")]
        container = _at(tree, tuple(parent))
        if value is _DELETE:
            del container[key]  # type: ignore[arg-type, attr-defined]
        else:
            container[key] = value  # type: ignore[index]
    return _dump(tree)


CLI_CASES = {
    "missing required key": (_broken(currency=_DELETE), "currency", "required field is missing"),
    "wrong type": (_broken(lookback_days=[1, 2]), "lookback_days", "expected a whole number"),
    "invalid date": (
        _broken(budgets__0__valid_from="2026-02-30"),
        "budgets[0].valid_from",
        "expected a date YYYY-MM-DD",
    ),
    "nan amount": (_broken(budgets__0__amount=float("nan")), "budgets[0].amount", "expected a number"),
    "hostile id": (
        _broken(business_units__5__id="sales'; DROP TABLE t; --"),
        "business_units[5].id",
        "not a valid id",
    ),
    "unknown key": (_broken(attribution__tag_kyes=["team"]), "attribution.tag_kyes", "did you mean 'tag_keys'"),
    "duplicate key": (EXAMPLE.read_text(encoding="utf-8") + "currency: EUR\n", "currency", "duplicate key"),
    "too deep": ("version: 1\nx: " + "[" * 1000 + "\n", None, "YAML nesting is too deep"),
}


@pytest.mark.parametrize(("text", "field", "fragment"), CLI_CASES.values(), ids=CLI_CASES.keys())
def test_validate_config_cli_prints_located_problems_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, field: str | None, fragment: str
) -> None:
    file = tmp_path / "chargeback.yml"
    file.write_text(text, encoding="utf-8")
    count = assert_located_problems(file)
    code = main(["validate-config", str(file)])
    out, err = capsys.readouterr()
    *problems, summary = out.splitlines()
    assert code != 0 and err == ""
    assert summary == f"{file}: {count} problem(s)" and len(problems) == count >= 1
    problem_line = re.compile(rf"{re.escape(str(file))}:[1-9][0-9]*: \S.*")  # FILE:LINE: [field.path: ]message
    assert all(problem_line.fullmatch(line) for line in problems), problems
    assert any(fragment in line and (field is None or f": {field}: " in line) for line in problems), problems


def test_validate_config_cli_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate-config", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out == f"{EXAMPLE}: valid\n"
