"""The `business_units` section: the units, their ids and names (unique after normalisation) and the parent
hierarchy (known parents, no cycles)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from chargeback.config.model import BusinessUnit, normalise
from chargeback.config.reader import show
from chargeback.config.values import ConfigReader, Units
from chargeback.contracts.config_tables import UNALLOCATED


def parse_business_units(r: ConfigReader, node: Node | None) -> tuple[tuple[BusinessUnit, ...], Units]:
    """The valid units, and every id the file declares (for checking references)."""
    units = _UnitsSeen(r)
    placed = r.items(node, "business_units", ("id", "name"), ("parent", "cost_center"), units.parse_unit)
    if isinstance(node, SequenceNode) and not node.value:
        r.problem(node, "business_units", "at least one business unit is required")
    known = Units(_declared_ids(node), units.by_normalised)
    for _, parent, parent_node, path in units.parents:
        if parent not in known.known:
            r.problem(parent_node, path, f"unknown business unit {show(parent)}{known.suggest(parent)}")
    _check_cycles(r, units.parents)
    return tuple(unit for unit, _, _ in placed), known


def _declared_ids(node: Node | None) -> tuple[str, ...]:
    # References are checked against every id the file declares, even ids with problems of their own, so one
    # bad unit does not also turn every reference to it into an "unknown business unit" problem.
    declared: list[str] = []
    if isinstance(node, SequenceNode):
        for item in node.value:
            for key, value in item.value if isinstance(item, MappingNode) else []:
                if isinstance(key, ScalarNode) and key.value == "id" and isinstance(value, ScalarNode):
                    declared.append(value.value)
    return tuple(declared)


@dataclass
class _UnitsSeen:
    """What the units read so far have claimed, for the checks across units."""

    r: ConfigReader
    # normalised id or name -> id
    by_normalised: dict[str, str] = dataclasses.field(default_factory=dict)
    # normalised id or name -> (item path, field path) that has it
    claimed: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    # (unit id, parent id, parent node, parent path)
    parents: list[tuple[str, str, Node, str]] = dataclasses.field(default_factory=list)

    def parse_unit(self, f: dict[str, Node], path: str, _: Node) -> BusinessUnit | None:
        r = self.r
        unit_id = r.get(f, path, "id", r.unit_id)
        name = r.get(f, path, "name", r.text)
        parent = r.get(f, path, "parent", r.text)
        cost_center = r.get(f, path, "cost_center", r.text)
        if unit_id is not None:
            self.claim(f, path, "id", unit_id, unit_id)
        if name is not None and normalise(name) in ("", normalise(UNALLOCATED)):
            r.problem(f["name"], f"{path}.name", f"{show(name)} cannot name a business unit")
            name = None
        elif name is not None:
            self.claim(f, path, "name", name, unit_id)
        if unit_id is not None and parent is not None:
            self.parents.append((unit_id, parent, f["parent"], f"{path}.parent"))
        if unit_id is None or name is None:
            return None
        return BusinessUnit(unit_id, name, parent, cost_center)

    def claim(self, f: dict[str, Node], path: str, field: str, value: str, unit_id: str | None) -> None:
        """Ids and names select units as tag values, so no two units may share one after normalisation."""
        key = normalise(value)
        owner = self.claimed.get(key)
        if owner is None:
            self.claimed[key] = (path, f"{path}.{field}")
            if unit_id is not None:
                self.by_normalised[key] = unit_id
        elif owner[0] != path:
            self.r.problem(
                f[field],
                f"{path}.{field}",
                f"{show(value)} clashes with {owner[1]}: both normalise to {key!r}, so tag values could not "
                "tell the two units apart",
            )


def _check_cycles(r: ConfigReader, parents: list[tuple[str, str, Node, str]]) -> None:
    """Following parents from any unit must end at a top-level unit; each cycle is reported once, at its unit
    listed first. Every unit is walked once, so a deep hierarchy of thousands of units costs no more than a flat one.
    """
    parent_of = {unit: parent for unit, parent, _, _ in parents}
    cycle_of: dict[str, str] = {}  # unit on a cycle -> the unit the walk entered the cycle at
    walked: set[str] = set()
    for start in parent_of:
        walk: dict[str, None] = {}  # the units of this walk, in order
        current: str | None = start
        while current is not None and current not in walked and current not in walk:
            walk[current] = None
            current = parent_of.get(current)
        if current is not None and current in walk:  # the walk closed a cycle, from `current` on
            on_cycle = list(walk)
            for unit in on_cycle[on_cycle.index(current) :]:
                cycle_of[unit] = current
        walked.update(walk)
    reported: set[str] = set()
    for unit, _, node, path in parents:
        cycle = cycle_of.get(unit)
        if cycle is not None and cycle not in reported:
            reported.add(cycle)
            chain = [unit]
            while parent_of[chain[-1]] != unit:
                chain.append(parent_of[chain[-1]])
            r.problem(node, path, f"parent cycle: {' -> '.join([*chain, unit])}")
