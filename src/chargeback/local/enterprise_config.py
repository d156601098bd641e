"""An enterprise-sized chargeback config: thousands of business units, tag aliases and identity rules.

`enterprise_config_text` adds them to a config for the synthetic account (`config/chargeback.yml`), so the
pipeline can run it on `chargeback generate` data: the benchmark times it against the plain config, the tests
check that it changes nothing but what its few rules about the synthetic account's own tags and users say.

The added units form a tree under the base config's first unit (ten children each), every fifth alias takes
part in a reorg (one value, two units, split on `REORG_DAY`), and identities are spread over the units.
"""

from __future__ import annotations

import datetime as dt

ENTERPRISE_UNITS = 5_000
ENTERPRISE_ALIASES = 20_000
ENTERPRISE_IDENTITIES = 2_000
REORG_DAY = dt.date(2026, 10, 1)
SINCE = dt.date(2020, 1, 1)
# Rules that reach the synthetic account's data (`chargeback.local.synthetic`): a team tag no base rule maps and two
# users no base rule maps. Everything else the config adds names values and users the account never has.
SYNTHETIC_TAG_VALUE = ("research", 42)
SYNTHETIC_IDENTITIES = (("frank.miller@acme.example", 7), ("intern@acme.example", 99))


def unit_id(i: int) -> str:
    return f"cc-{i:05d}"


def enterprise_config_text(
    base: str,
    units: int = ENTERPRISE_UNITS,
    aliases: int = ENTERPRISE_ALIASES,
    identities: int = ENTERPRISE_IDENTITIES,
) -> str:
    """`base` (config YAML text with `business_units:`, `tag_values:` and `identities:` lists) with `units`
    business units, `aliases` tag-value rules and `identities` identity rules added at the top of each list."""
    root = _first_unit(base)
    unit_lines = []
    for i in range(units):
        parent = root if i == 0 else unit_id((i - 1) // 10)
        unit_lines.append(
            f"  - {{id: {unit_id(i)}, name: Cost Center {i:05d}, parent: {parent}, cost_center: CC-9{i:05d}}}\n"
        )
    alias_lines = []
    value, unit = SYNTHETIC_TAG_VALUE
    if aliases:
        alias_lines.append(_rule("value", value, unit_id(unit % units), SINCE))
    while len(alias_lines) < aliases:
        j = len(alias_lines)
        if j % 5 == 0 and len(alias_lines) + 2 <= aliases:
            reorg = f"reorg-{j:05d}"
            alias_lines.append(_rule("value", reorg, unit_id(j % units), SINCE, REORG_DAY))
            alias_lines.append(_rule("value", reorg, unit_id((j + 1) % units), REORG_DAY))
        else:
            alias_lines.append(_rule("value", f"project-{j:05d}", unit_id(j % units), SINCE))
    identity_lines = [_rule("identity", who, unit_id(i % units), SINCE) for who, i in SYNTHETIC_IDENTITIES][:identities]
    while len(identity_lines) < identities:
        j = len(identity_lines)
        identity_lines.append(_rule("identity", f"user-{j:05d}@acme.example", unit_id(j * 7 % units), SINCE))
    text = _insert(base, "business_units:\n", "".join(unit_lines))
    text = _insert(text, "  tag_values:\n", "".join(alias_lines))
    return _insert(text, "  identities:\n", "".join(identity_lines))


def _rule(field: str, value: str, unit: str, since: dt.date, until: dt.date | None = None) -> str:
    end = f", valid_to: {until}" if until else ""
    return f'    - {{{field}: "{value}", business_unit: {unit}, valid_from: {since}{end}}}\n'


def _first_unit(base: str) -> str:
    after = base[base.index("business_units:\n") :]
    start = after.index("{id: ") + len("{id: ")
    return after[start : after.index(",", start)].strip()


def _insert(text: str, header: str, lines: str) -> str:
    """`lines` right after the first line equal to `header` (a block list's key)."""
    at = ("\n" + text).find("\n" + header)
    if at < 0:
        raise ValueError(f"the base config has no line {header.strip()!r}")
    end = at + len(header)
    return text[:end] + lines + text[end:]
