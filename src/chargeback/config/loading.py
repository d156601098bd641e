"""From a config file or text to a validated `Config`: reading the file safely, composing the YAML node tree
(fast where LibYAML allows), and turning YAML errors into located problems."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from chargeback.config.model import Config
from chargeback.config.sections.document import parse_document
from chargeback.config.values import ConfigReader
from chargeback.errors import ConfigError, ConfigProblem

_MAX_DEPTH = 100  # YAML nesting levels; a valid config has about 5
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)  # LibYAML, when PyYAML was built with it
# Far above any real config (tens of thousands of units and aliases are a few MiB), far below harm.
MAX_CONFIG_BYTES = 64 * 1024 * 1024


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; `ConfigError` lists every problem found.

    Only a regular file of at most `MAX_CONFIG_BYTES` is read: `/dev/zero` or a FIFO would never end.
    """
    source = str(path)
    try:
        text = _read_regular_file(Path(path))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError([ConfigProblem(source, f"cannot read the config file: {reason}")]) from None
    return parse_config(text, source)


def _read_regular_file(path: Path) -> str:
    # Non-blocking open: opening a FIFO for reading would otherwise wait for a writer, forever.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise ValueError(f"{info.st_size:,} bytes, more than the {MAX_CONFIG_BYTES:,} allowed")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(MAX_CONFIG_BYTES + 1).decode("utf-8")
    finally:
        os.close(fd)


def validate_config_file(path: str | Path) -> list[ConfigProblem]:
    """Every problem in a config file; empty when it is valid."""
    try:
        load_config(path)
    except ConfigError as exc:
        return exc.problems
    return []


def parse_config(text: str, source: str) -> Config:
    """Validate config text; `source` names it in problem locations. `ConfigError` lists every problem."""
    reader = ConfigReader(source)
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        detail = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError([ConfigProblem(f"{source}:{line}", f"YAML syntax error: {detail}")]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError([ConfigProblem(f"{source}:{line}", f"YAML syntax error: {exc.reason}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(source, f"YAML syntax error: {exc}")]) from None
    except RecursionError:
        line = _deepest_line(text)
        raise ConfigError([ConfigProblem(f"{source}:{line}", "YAML nesting is too deep")]) from None
    if root is None:
        raise ConfigError([ConfigProblem(f"{source}:1", "the config file is empty")])
    config = parse_document(reader, root, source)
    if config is None or reader.problems:
        raise ConfigError(reader.problems)
    return config


def _compose(text: str) -> Node | None:
    """The YAML node tree of `text`.

    LibYAML composes a config of thousands of units about ten times faster than PyYAML's pure-Python loader
    (which takes seconds per megabyte). Text LibYAML refuses, nests deeper than `_MAX_DEPTH`, or holds
    characters PyYAML refuses goes to the pure-Python loader, so every problem reads as it always did.
    """
    if _FAST_LOADER is not None and not yaml.reader.Reader.NON_PRINTABLE.search(text):
        try:
            root = yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            root = None
        else:
            if _depth(root) <= _MAX_DEPTH:
                return root
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _depth(root: Node | None) -> int:
    """Nesting levels of a node tree (iteratively: a deep tree must not exhaust the stack)."""
    deepest, todo = 0, [(root, 1)] if root is not None else []
    seen: set[int] = set()  # an alias repeats a node; each is walked once
    while todo:
        node, depth = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        deepest = max(deepest, depth)
        if isinstance(node, SequenceNode):
            todo += [(child, depth + 1) for child in node.value]
        elif isinstance(node, MappingNode):
            todo += [(child, depth + 1) for pair in node.value for child in pair]
    return deepest


def _deepest_line(text: str) -> int:
    """The line where the YAML nesting first exceeds `_MAX_DEPTH` levels, or else its deepest line.

    The composer recurses once per level and so fails without a location; the parser does not recurse.
    """
    depth, deepest, line = 0, 0, 1
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > deepest:
                    deepest, line = depth, event.start_mark.line + 1 if event.start_mark else line
                if depth > _MAX_DEPTH:
                    break
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        pass  # a syntax error past the deep part: the deepest line seen so far is the answer
    return line
