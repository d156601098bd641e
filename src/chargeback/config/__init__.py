"""The chargeback configuration: load `config/chargeback.yml`, validate all of it, expose it as tables.

Parsing works on PyYAML's composed node tree instead of loaded Python objects: every problem can name its
line, duplicate keys are caught (PyYAML's loader silently keeps the last one), and numbers are read from
their source text straight into `Decimal`, so no float ever exists. Problems are collected, never raised one
at a time: `ConfigError.problems` lists all of them.

Every scalar setting (version, currency, price_currency, lookback_days) is required; lists are optional,
except `business_units`. An optional field given as null counts as absent.

Modules: `model` (the dataclasses and their limits), `reader` and `values` (reading the node tree), `sections`
(one parser per part of the file), `loading` (file and text to `Config`), `tables` (the config as the tables
`contracts.config_tables` declares). This module re-exports what the rest of the product uses.
"""

from __future__ import annotations

from chargeback.config.loading import load_config, parse_config, validate_config_file
from chargeback.config.model import (
    MANAGED_BUDGET_PREFIX,
    RESERVED_POLICY_TAG_KEYS,
    Attribution,
    Budget,
    BusinessUnit,
    Config,
    Discount,
    FxRate,
    IdentityRule,
    IdleRule,
    PolicyGrant,
    PolicyRule,
    PoolMatch,
    ServerlessPolicy,
    SharedPool,
    TagValueRule,
    WorkloadRule,
    WorkspaceRule,
    account_budget_name,
    in_force,
    normalise,
)
from chargeback.config.tables import config_frames
from chargeback.contracts.config_tables import CONFIG_TABLES, UNALLOCATED

__all__ = [
    "CONFIG_TABLES",
    "MANAGED_BUDGET_PREFIX",
    "RESERVED_POLICY_TAG_KEYS",
    "UNALLOCATED",
    "Attribution",
    "Budget",
    "BusinessUnit",
    "Config",
    "Discount",
    "FxRate",
    "IdentityRule",
    "IdleRule",
    "PolicyGrant",
    "PolicyRule",
    "PoolMatch",
    "ServerlessPolicy",
    "SharedPool",
    "TagValueRule",
    "WorkloadRule",
    "WorkspaceRule",
    "account_budget_name",
    "config_frames",
    "in_force",
    "load_config",
    "normalise",
    "parse_config",
    "validate_config_file",
]
