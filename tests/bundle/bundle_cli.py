"""An offline `databricks bundle validate`: the bundle loaded and checked as the bundle CLI does at load time.

The Go CLI cannot be installed here, so this emulates the documented steps of its load, in its order, each
citing the source it follows (databricks/cli, `bundle/...`):

1. `databricks.yml` plus every file its `include` globs match; a resource key may be used once across all
   resource types (`config/validate/unique_resource_keys.go`: "multiple resources or scripts have been defined
   with the same key"), checked before target overrides are merged.
2. The target's overrides merged (`config/root.go` `MergeTargetOverrides`): `bundle`, `workspace`, `resources`,
   `permissions`, `presets` deep-merged (maps by key, lists appended); `run_as` and `mode` replaced; a target's
   `variables` replace the variable's default (a scalar is shorthand for `default`).
3. Variables assigned (`config/mutator/set_variables.go`): `--var`, then `BUNDLE_VAR_<name>`, then the default;
   none of them is "no value assigned to required variable <name>".
4. Target mode (`resourcemutator/apply_target_mode.go`, `apply_presets.go`): development prefixes job and alert
   names with `[dev <short name>] ` and schema names with `dev_<short name>_`, pauses triggers; the mode's rules
   (`resourcemutator/validate_target_mode.go`): production needs an explicit `workspace.root_path`; development
   may not set `trigger_pause_status: UNPAUSED`.
5. References resolved (`config/mutator/resolve_variable_references.go`): `${var.*}`, `${bundle.*}`,
   `${workspace.*}`, `${resources.<type>.<key>.<field>}` (`id` is known only after deploy); an unknown one fails.
6. Each resource through the `databricks-bundles` models, which reject unknown fields and enum values.

Then the rules a deploy enforces on values, which the models do not: the required identifiers below are
non-empty, and the production root path is not under `/Workspace/Shared` (writable by every workspace user,
`permissions/validate.go`; the CLI warns, this product refuses).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from databricks.bundles.alerts import Alert
from databricks.bundles.dashboards import Dashboard
from databricks.bundles.jobs import Job
from databricks.bundles.schemas import Schema

MODELS = {"jobs": Job, "schemas": Schema, "dashboards": Dashboard, "alerts": Alert}
REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.\-\[\]]+)\}")
# `${resources...}` fields only known once deployed.
DEPLOY_TIME_FIELDS = {"id"}


@dataclass(frozen=True)
class User:
    user_name: str = "someone@example.com"

    @property
    def short_name(self) -> str:
        return re.sub(r"[^a-z0-9]+", "_", self.user_name.split("@")[0].lower())


@dataclass
class LoadedBundle:
    """The bundle as one target sees it after load: resolved config, and every diagnostic of error severity."""

    target: str
    config: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def resource(self, kind: str, key: str) -> dict[str, Any]:
        return self.config["resources"][kind][key]


def _read(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def _merge(base: Any, override: Any) -> Any:
    """The CLI's `merge.Merge`: maps merge by key, sequences are appended, scalars are replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(override, list):
        return [*base, *copy.deepcopy(override)]
    return copy.deepcopy(override)


def _files(root: Path) -> list[Path]:
    main = root / "databricks.yml"
    included = [p for pattern in _read(main).get("include", []) for p in sorted(root.glob(pattern))]
    return [main, *included]


def unique_resource_keys(root: Path) -> list[str]:
    """Step 1: a key used by two resources (of any types, in any files) is refused."""
    seen: dict[str, list[str]] = {}
    for path in _files(root):
        for kind, entries in (_read(path).get("resources") or {}).items():
            for key in entries or {}:
                seen.setdefault(key, []).append(f"{path.name}:resources.{kind}.{key}")
    return [
        f"multiple resources or scripts have been defined with the same key: {key} ({', '.join(places)})"
        for key, places in seen.items()
        if len(places) > 1
    ]


def load_bundle(
    root: Path, target: str, variables: dict[str, str] | None = None, user: User | None = None
) -> LoadedBundle:
    """Steps 1 to 6 and the value rules for `target`, with `variables` as given by `--var name=value`."""
    user = user or User()
    loaded = LoadedBundle(target, errors=unique_resource_keys(root))
    config: dict[str, Any] = {}
    for path in _files(root):
        config = _merge(config, {k: v for k, v in _read(path).items() if k != "include"})
    targets = config.pop("targets", {})
    if target not in targets:
        loaded.errors.append(f"{target}: no such target")
        return loaded
    overrides = targets[target] or {}
    for key in ("bundle", "workspace", "resources", "permissions", "presets", "artifacts", "sync"):
        if key in overrides:
            config[key] = _merge(config.get(key, {} if key != "permissions" else []), overrides[key])
    if "run_as" in overrides:
        config["run_as"] = overrides["run_as"]
    config.setdefault("bundle", {})["target"] = target
    if "mode" in overrides:
        config["bundle"]["mode"] = overrides["mode"]
    declared = config.get("variables", {})
    for name, value in (overrides.get("variables") or {}).items():
        if name not in declared:
            loaded.errors.append(f"variable {name} is not defined but is assigned a value")
            continue
        declared[name] = {**declared[name], "default": value.get("default") if isinstance(value, dict) else value}
    values = _assign_variables(declared, variables or {}, loaded.errors)
    if loaded.errors:  # the CLI stops at the first mutator that reports an error
        return loaded
    explicit_root = "root_path" in config.get("workspace", {})
    _apply_workspace_defaults(config, user)
    _apply_target_mode(config, user, explicit_root, loaded.errors)
    loaded.config = _resolve(config, values, loaded.errors)
    _check_models_and_values(loaded)
    return loaded


def _assign_variables(declared: dict[str, Any], given: dict[str, str], errors: list[str]) -> dict[str, Any]:
    values = {}
    for name, spec in declared.items():
        if name in given:
            values[name] = given[name]
        elif (spec or {}).get("lookup"):
            values[name] = f"<lookup of {name}>"
        elif "default" in (spec or {}) and spec["default"] is not None:
            values[name] = spec["default"]
        else:
            errors.append(f"no value assigned to required variable {name}")
    for name in given.keys() - declared.keys():
        errors.append(f'variable "{name}" is not defined')
    return values


def _apply_workspace_defaults(config: dict[str, Any], user: User) -> None:
    """`config/mutator/default_workspace_paths.go`: root `~/.bundle/<name>/<target>`, files below it."""
    workspace = config.setdefault("workspace", {})
    workspace.setdefault(
        "root_path", "/Workspace/Users/${workspace.current_user.userName}/.bundle/${bundle.name}/${bundle.target}"
    )
    workspace.setdefault("file_path", "${workspace.root_path}/files")
    workspace.setdefault("artifact_path", "${workspace.root_path}/artifacts")
    workspace["current_user"] = {"userName": user.user_name, "short_name": user.short_name}


def _apply_target_mode(config: dict[str, Any], user: User, explicit_root: bool, errors: list[str]) -> None:
    mode = config["bundle"].get("mode")
    presets = config.setdefault("presets", {})
    resources = config.setdefault("resources", {})
    if mode == "development":
        if presets.get("trigger_pause_status") == "UNPAUSED":
            errors.append("target with 'mode: development' cannot set trigger pause status to UNPAUSED by default")
        prefix = presets.get("name_prefix") or f"[dev {user.short_name}] "
        presets.setdefault("trigger_pause_status", "PAUSED")
        for job in resources.get("jobs", {}).values():
            job["name"] = prefix + job["name"]
        for alert in resources.get("alerts", {}).values():
            alert["display_name"] = prefix + alert["display_name"]
        schema_prefix = re.sub(r"[^a-z0-9_]+", "_", prefix.replace("[", "").strip(" ").rstrip("]").lower()) + "_"
        for schema in resources.get("schemas", {}).values():
            schema["name"] = schema_prefix + schema["name"]
    elif mode == "production" and not explicit_root and "run_as" not in config:
        errors.append(
            "target with 'mode: production' must set 'workspace.root_path' to make sure only one copy is deployed"
        )
    pause = presets.get("trigger_pause_status")
    if pause:
        for job in resources.get("jobs", {}).values():
            for trigger in ("schedule", "trigger", "continuous"):
                if trigger in job:
                    job[trigger].setdefault("pause_status", pause)
        for alert in resources.get("alerts", {}).values():
            if alert.get("schedule", {}).get("quartz_cron_schedule"):
                alert["schedule"].setdefault("pause_status", pause)


def _resolve(config: dict[str, Any], values: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    def lookup(path: str) -> Any:
        head, _, rest = path.partition(".")
        if head == "var":
            if rest not in values:
                raise KeyError(path)
            return values[rest]
        if head == "resources":
            kind, key, name = rest.split(".", 2)
            body = config.get("resources", {}).get(kind, {}).get(key)
            if body is None:
                raise KeyError(path)
            if name in DEPLOY_TIME_FIELDS:
                return f"<{kind}.{key}.{name}>"
            return _walk(body, name.split("."), path)
        if head in ("bundle", "workspace"):
            return _walk(config.get(head, {}), rest.split("."), path)
        raise KeyError(path)

    def substitute(node: Any, depth: int = 0) -> Any:
        if isinstance(node, dict):
            return {k: substitute(v, depth) for k, v in node.items()}
        if isinstance(node, list):
            return [substitute(v, depth) for v in node]
        if not isinstance(node, str) or "${" not in node:
            return node
        if depth > 10:
            errors.append(f"reference cycle in {node!r}")
            return node
        whole = REFERENCE.fullmatch(node)
        try:
            if whole:  # a whole-value reference keeps the referenced value's type (lists, maps)
                return substitute(lookup(whole.group(1)), depth + 1)
            return REFERENCE.sub(lambda m: str(substitute(lookup(m.group(1)), depth + 1)), node)
        except KeyError as exc:
            errors.append(f"reference does not exist: ${{{exc.args[0]}}}")
            return node

    return substitute(config)


def _walk(node: Any, parts: list[str], path: str) -> Any:
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node


def _required_values(config: dict[str, Any]) -> list[tuple[str, Any]]:
    """(location, value) of every identifier a deploy refuses when empty."""
    resources = config.get("resources", {})
    found = [
        (f"dashboards.{k}.warehouse_id", d.get("warehouse_id")) for k, d in resources.get("dashboards", {}).items()
    ]
    found += [(f"alerts.{k}.warehouse_id", a.get("warehouse_id")) for k, a in resources.get("alerts", {}).items()]
    for key, job in resources.get("jobs", {}).items():
        for task in job.get("tasks", []):
            if "dashboard_task" in task:
                found.append(
                    (
                        f"jobs.{key}.{task['task_key']}.dashboard_task.warehouse_id",
                        task["dashboard_task"].get("warehouse_id"),
                    )
                )
                found.append(
                    (
                        f"jobs.{key}.{task['task_key']}.dashboard_task.dashboard_id",
                        task["dashboard_task"].get("dashboard_id"),
                    )
                )
    for key, schema in resources.get("schemas", {}).items():
        found += [
            (f"schemas.{key}.grants[{i}].principal", g.get("principal")) for i, g in enumerate(schema.get("grants", []))
        ]
    if "run_as" in config:
        found += [(f"run_as.{k}", v) for k, v in config["run_as"].items()]
    for i, permission in enumerate(config.get("permissions", [])):
        found += [(f"permissions[{i}].{k}", v) for k, v in permission.items() if k != "level"]
    return found


def _check_models_and_values(loaded: LoadedBundle) -> None:
    for kind, entries in loaded.config.get("resources", {}).items():
        for key, body in entries.items():
            if kind not in MODELS:
                loaded.errors.append(f"resources.{kind}.{key}: no offline model for resource type {kind}")
                continue
            try:
                MODELS[kind].from_dict(body)
            except (ValueError, TypeError) as exc:
                loaded.errors.append(f"resources.{kind}.{key}: {exc}")
    for location, value in _required_values(loaded.config):
        if not isinstance(value, str) or not value.strip():
            loaded.errors.append(f"{location} is empty")
    root_path = loaded.config["workspace"]["root_path"]
    if loaded.config["bundle"].get("mode") == "production" and root_path.startswith("/Workspace/Shared/"):
        loaded.errors.append(f"the bundle root path {root_path} is writable by all workspace users")
