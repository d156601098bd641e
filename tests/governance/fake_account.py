"""A Databricks account API on loopback, for running the real databricks-sdk `AccountClient` in tests.

It implements the endpoints governance uses with the official request and response shapes (as databricks-sdk
0.15x serialises them): budget policies (`/api/2.1/accounts/{id}/budget-policies`), access-control rule sets
(`/api/2.0/preview/accounts/{id}/access-control/rule-sets`) and budgets (`/api/2.1/accounts/{id}/budgets`).
It checks the bearer token, validates request bodies the way the service documents them, pages list results two
at a time so clients must follow `next_page_token`, and records every call (refused ones too). Anything else
answers 404 (including the SDK's host-metadata probe, which then falls back to the explicit configuration).

Each rule below names where the documented behaviour comes from:
- [REST] the REST API reference, docs.databricks.com/api/account/budgetpolicy (the BudgetPolicy object:
  `policy_name` [1 .. 127] characters, custom tag `key` [1 .. 512], `value` <= 256, at most 20 tags);
- [SDK] databricks-sdk-py 0.156 docstrings, `databricks/sdk/service/billing.py` and `compute.py`
  (`BudgetConfiguration.display_name` "Max Length: 128"; `alert_configurations` "up to four shared alerts per
  time period, each with a unique quantity_threshold"; `CustomPolicyTag.key` reserved keys; `BudgetPolicy`
  name rules);
- [SDK-old] the older wording, still in databricks-sdk-go v0.175 `service/billing/model.go` (from the OpenAPI
  update of 2024-07-22): "Budgets must have exactly one alert configuration" -- accounts that still enforce it
  are modelled by `FakeAccount(alerts_per_budget=1)`. No source gives the refusal's text: it is
  `one_alert_message`, by default a wording the code under test never looks for (it must decide by structure);
- [GO-IT] the Go SDK's budgets integration test (databricks-sdk-go `internal/billing_test.go`
  `TestMwsAccBudgets`, and the generated example `service/billing/budgets_usage_test.go`): an update sends
  `budget_configuration_id`, the same filter, and each alert with the `alert_configuration_id` and
  `action_configurations` (with their `action_configuration_id`) the create returned;
- [TF] terraform-provider-databricks `finops/resource_budget.go`: `alert_configuration_id` and
  `action_configuration_id` are computed (read back and sent with every update), `display_name` 1..128, and the
  service echoes `quantity_threshold` as a BigDecimal with trailing zeros ("840.840000000000000000" in
  `finops/resource_budget_test.go`). Its `filter` is not ForceNew: Terraform sends a changed filter in an update,
  and the fake takes it. Doubt: issue 14 item 9 says the service cannot edit a filter, but no source above says
  so; the code under test never edits a filter in place (it replaces the budget, on request), so either way holds;
- [SDK] `BudgetConfiguration.alert_configurations`: `BLOCK_USAGE` actions, per-user alerts and
  `principal_overrides` belong to `BUDGET_RESOURCE_TYPE_UNITY_AI_GATEWAY` budgets; the fake stores them (and
  `resource_type`, `include_external_spend`, `scope_type`) as sent, without checking them.
Where the sources give no exact error text, the messages here are our own.

Test hooks: `fail(method, path, body)` may return an `ApiError` to refuse one call (after it is recorded), and
`reorder_lists` lists budgets in another order on each listing (the API guarantees no order).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN = "dapi-test-token"
CREATOR = "users/platform.admin@acme.example"
RESERVED = ("budget-policy-name", "budget-policy-id", "budget-policy-resolution-result")  # [SDK] CustomPolicyTag.key
PAGE = 2
MAX_POLICY_NAME = 127  # [REST] policy_name [1 .. 127] characters
MAX_TAG_KEY, MAX_TAG_VALUE = 512, 256  # [REST] custom_tags key [1 .. 512], value <= 256 characters
MAX_BUDGET_NAME = 128  # [SDK] display_name "Max Length: 128"; [TF] StringLenBetween(1, 128)
ALERT_KIND = ("MONTH", "CUMULATIVE_SPENDING_EXCEEDED", "LIST_PRICE_DOLLARS_USD")  # [TF] the only enum values


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class FakeAccount:
    """The account's state and the calls made to it."""

    account_id: str
    # Shared alerts a budget may have per time period: 4 today [SDK], 1 on accounts that still enforce [SDK-old].
    alerts_per_budget: int = 4
    one_alert_message: str = "alert_configurations: size must be between 1 and 1"  # our own words [SDK-old]
    reorder_lists: bool = False
    fail: Callable[[str, str, Any], ApiError | None] | None = None
    listings: int = 0  # budget listings started
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # policy id -> BudgetPolicy JSON
    rule_sets: dict[str, dict[str, Any]] = field(default_factory=dict)  # rule set name -> RuleSetResponse JSON
    budgets: dict[str, dict[str, Any]] = field(default_factory=dict)  # budget id -> BudgetConfiguration JSON
    calls: list[tuple[str, str, Any]] = field(default_factory=list)  # (method, path, JSON body or query)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _listing: list[dict[str, Any]] = field(default_factory=list)  # the order of the listing being paged
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _ in self.calls if method != "GET"]

    def rule_set_name(self, policy_id: str) -> str:
        return f"accounts/{self.account_id}/budgetPolicies/{policy_id}/ruleSets/default"

    def add_policy(self, policy_id: str, name: str, tags: dict[str, str], grants: dict[str, list[str]]) -> None:
        self.policies[policy_id] = {
            "policy_id": policy_id,
            "policy_name": name,
            "custom_tags": [{"key": k, "value": v} for k, v in tags.items()],
        }
        self.rule_sets[self.rule_set_name(policy_id)] = {
            "name": self.rule_set_name(policy_id),
            "etag": f"etag-{next(self._ids)}",
            "grant_rules": [{"role": role, "principals": who} for role, who in grants.items()],
        }

    def add_budget(self, budget_id: str, name: str, body: dict[str, Any]) -> None:
        self.budgets[budget_id] = self._budget(budget_id, {"display_name": name, **body}, None, set())

    def policy_tags(self, name: str) -> dict[str, str]:
        policy = next(p for p in self.policies.values() if p["policy_name"] == name)
        return {t["key"]: t.get("value", "") for t in policy.get("custom_tags", [])}

    def policy_grants(self, name: str) -> dict[str, list[str]]:
        policy = next(p for p in self.policies.values() if p["policy_name"] == name)
        rules = self.rule_sets[self.rule_set_name(policy["policy_id"])]["grant_rules"]
        return {r["role"]: sorted(r.get("principals", [])) for r in rules}

    # --- request handling ------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> Any:
        with self._lock:
            self.calls.append((method, path, body if method != "GET" else query))
            refused = self.fail(method, path, body) if self.fail else None
            if refused is not None:
                raise refused
            base = f"/api/2.1/accounts/{self.account_id}"
            acl = f"/api/2.0/preview/accounts/{self.account_id}/access-control/rule-sets"
            if path == f"{base}/budget-policies" and method == "GET":
                return self._page(sorted(self.policies.values(), key=lambda p: p["policy_name"]), "policies", query)
            if path == f"{base}/budget-policies" and method == "POST":
                return self._create_policy(body)
            match = re.fullmatch(f"{base}/budget-policies/([^/]+)", path)
            if match and method == "PATCH":
                return self._update_policy(match[1], body, query)
            if path == acl and method == "GET":
                return self._rule_set(query.get("name", ""))
            if path == acl and method == "PUT":
                return self._put_rule_set(body)
            if path == f"{base}/budgets" and method == "GET":
                return self._page(self._budget_listing(query), "budgets", query)
            if path == f"{base}/budgets" and method == "POST":
                return {"budget": self._create_budget(body)}
            match = re.fullmatch(f"{base}/budgets/([^/]+)", path)
            if match and method == "PUT":
                return {"budget": self._update_budget(match[1], body)}
            if match and method == "DELETE":
                if self.budgets.pop(match[1], None) is None:
                    raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"budget {match[1]} does not exist")
                return {}
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"no API for {method} {path}")

    def _budget_listing(self, query: dict[str, str]) -> list[dict[str, Any]]:
        """Budgets by creation; with `reorder_lists`, rotated and every other time reversed, fixed while paged."""
        if query.get("page_token"):
            return self._listing
        self.listings += 1
        items = sorted(self.budgets.values(), key=lambda b: b["create_time"])
        if self.reorder_lists and items:
            turn = self.listings % len(items)
            items = items[turn:] + items[:turn]
            items = items[::-1] if self.listings % 2 else items
        self._listing = items
        return items

    def _page(self, items: list[dict[str, Any]], key: str, query: dict[str, str]) -> dict[str, Any]:
        start = int(query.get("page_token") or 0)
        size = int(query.get("page_size") or PAGE)
        page: dict[str, Any] = {key: items[start : start + size]}
        if start + size < len(items):
            page["next_page_token"] = str(start + size)
        return page

    def _check_policy(self, policy: dict[str, Any]) -> None:
        name = policy.get("policy_name") or ""
        if not 1 <= len(name) <= MAX_POLICY_NAME:  # [REST]
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"policy_name must be 1 to {MAX_POLICY_NAME} characters")
        tags = policy.get("custom_tags", [])
        keys = [t.get("key") for t in tags]
        if any(not k for k in keys) or len(set(keys)) != len(keys) or len(keys) > 20:  # [REST] [SDK]
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "custom_tags: keys must be present, unique, at most 20")
        if any(str(k).lower() in RESERVED for k in keys):  # [SDK]
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "custom_tags: reserved tag key")
        if any(len(str(k)) > MAX_TAG_KEY for k in keys):  # [REST]
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"custom_tags: a key is longer than {MAX_TAG_KEY}")
        if any(len(t.get("value") or "") > MAX_TAG_VALUE for t in tags):  # [REST]
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"custom_tags: a value is longer than {MAX_TAG_VALUE}")

    def _create_policy(self, body: dict[str, Any]) -> dict[str, Any]:
        policy = dict(body.get("policy") or {})
        if not body.get("request_id") or "policy_id" in policy or not policy.get("policy_name"):
            raise ApiError(
                400, "INVALID_PARAMETER_VALUE", "policy_name and request_id required, policy_id must be empty"
            )
        if any(p["policy_name"] == policy["policy_name"] for p in self.policies.values()):
            raise ApiError(409, "RESOURCE_ALREADY_EXISTS", "policy name must be unique among active policies")
        self._check_policy(policy)
        policy_id = f"00000000-0000-4000-8000-{next(self._ids):012d}"
        self.add_policy(policy_id, policy["policy_name"], {}, {"roles/budgetPolicy.manager": [CREATOR]})
        self.policies[policy_id].update(policy, policy_id=policy_id)
        return self.policies[policy_id]

    def _update_policy(self, policy_id: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if policy_id not in self.policies:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"policy {policy_id} does not exist")
        if body.get("policy_id") != policy_id or not body.get("policy_name") or query.get("limit_config"):
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "the full policy, with its policy_id, is required")
        self._check_policy(body)
        self.policies[policy_id] = {"policy_id": policy_id, **body}
        return self.policies[policy_id]

    def _rule_set(self, name: str) -> dict[str, Any]:
        if name not in self.rule_sets:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"rule set {name} does not exist")
        return self.rule_sets[name]

    def _put_rule_set(self, body: dict[str, Any]) -> dict[str, Any]:
        name, rule_set = body.get("name", ""), body.get("rule_set") or {}
        current = self._rule_set(name)
        if rule_set.get("name") != name:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "rule_set.name must equal name")
        if rule_set.get("etag") != current["etag"]:
            raise ApiError(409, "RESOURCE_CONFLICT", "etag does not match the current version of the rule set")
        for rule in rule_set.get("grant_rules", []):
            if not str(rule.get("role", "")).startswith("roles/budgetPolicy."):
                raise ApiError(400, "INVALID_PARAMETER_VALUE", f"role {rule.get('role')} is not assignable here")
            if not all(re.match(r"(users|groups|servicePrincipals)/.+", p) for p in rule.get("principals", [])):
                raise ApiError(400, "INVALID_PARAMETER_VALUE", "bad principal")
        self.rule_sets[name] = {"name": name, "etag": f"etag-{next(self._ids)}", "grant_rules": rule_set["grant_rules"]}
        return self.rule_sets[name]

    def _budget(
        self, budget_id: str, budget: dict[str, Any], current: dict[str, Any] | None, keep: set[str]
    ) -> dict[str, Any]:
        """The stored budget for a create (`current` None) or an update of `current`; alerts and actions sent
        with an id in `keep` (checked by the update) keep it, the others get new ids."""

        def new_id(item: dict[str, Any], key: str, prefix: str) -> str:
            return item[key] if item.get(key) in keep else f"{prefix}-{next(self._ids)}"

        name = budget.get("display_name") or ""
        if not name or not budget.get("alert_configurations"):
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "display_name and at least one alert are required")
        if len(name) > MAX_BUDGET_NAME:  # [SDK] [TF]
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"display_name is longer than {MAX_BUDGET_NAME} characters")
        alerts_in = budget["alert_configurations"]
        if len(alerts_in) > self.alerts_per_budget:
            if self.alerts_per_budget == 1:  # [SDK-old]
                raise ApiError(400, "INVALID_PARAMETER_VALUE", self.one_alert_message)
            raise ApiError(  # [SDK]
                400,
                "INVALID_PARAMETER_VALUE",
                f"a budget can have up to {self.alerts_per_budget} alerts per time period",
            )
        thresholds = [Decimal(a["quantity_threshold"]) for a in alerts_in]  # a string holding a number
        if len(set(thresholds)) != len(thresholds):  # [SDK] "each with a unique quantity_threshold"
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "each alert must have a unique quantity_threshold")
        alerts = []
        for alert, threshold in zip(alerts_in, thresholds, strict=True):
            kind = (alert.get("time_period"), alert.get("trigger_type"), alert.get("quantity_type"))
            if kind != ALERT_KIND:
                raise ApiError(400, "INVALID_PARAMETER_VALUE", f"unsupported alert {kind}")
            actions = [
                {
                    **a,
                    "action_configuration_id": new_id(a, "action_configuration_id", "act"),
                }
                for a in alert.get("action_configurations", [])
            ]
            alerts.append(
                {
                    **alert,
                    "alert_configuration_id": new_id(alert, "alert_configuration_id", "alert"),
                    # [TF] the service echoes the threshold as a BigDecimal of scale 18: compare numbers, not text.
                    "quantity_threshold": f"{threshold:.18f}",
                    "action_configurations": actions,
                }
            )
        stamp = next(self._ids)
        return {
            "account_id": self.account_id,
            "budget_configuration_id": budget_id,
            "display_name": name,
            "filter": budget.get("filter", {}),
            "alert_configurations": alerts,
            **{k: budget[k] for k in ("resource_type", "include_external_spend") if k in budget},  # [SDK]
            "create_time": current["create_time"] if current else stamp,
            "update_time": stamp,
        }

    def _create_budget(self, body: dict[str, Any]) -> dict[str, Any]:
        budget = body.get("budget") or {}
        if any("alert_configuration_id" in a for a in budget.get("alert_configurations", [])):
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "a new budget's alerts cannot have ids")
        budget_id = f"budget-{next(self._ids)}"
        self.budgets[budget_id] = self._budget(budget_id, budget, None, set())
        return self.budgets[budget_id]

    def _update_budget(self, budget_id: str, body: dict[str, Any]) -> dict[str, Any]:
        budget = body.get("budget") or {}
        if budget_id not in self.budgets:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"budget {budget_id} does not exist")
        current = self.budgets[budget_id]
        if budget.get("budget_configuration_id") != budget_id:  # [GO-IT]
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "budget.budget_configuration_id must match the path")
        kept = {a["alert_configuration_id"]: a for a in current["alert_configurations"]}
        sent = budget.get("alert_configurations") or []
        ids = _sent_ids(sent, set(kept), "alert_configuration_id", "alert")
        for alert in sent:
            if alert.get("alert_configuration_id"):
                had = {
                    a["action_configuration_id"] for a in kept[alert["alert_configuration_id"]]["action_configurations"]
                }
                ids |= _sent_ids(alert.get("action_configurations", []), had, "action_configuration_id", "action")
        self.budgets[budget_id] = self._budget(budget_id, budget, current, ids)
        return self.budgets[budget_id]


def _sent_ids(items: list[dict[str, Any]], existing: set[str], key: str, what: str) -> set[str]:
    """The ids an update sends back for `items` (alerts of a budget, or actions of an alert).

    [GO-IT] [TF] An update carries the ids the budget returned. An item sent without its id while the budget still
    has one the update does not mention would be created anew, next to the old one: refused, as is an unknown id.
    """
    sent = [item[key] for item in items if item.get(key)]
    if any(i not in existing for i in sent) or len(set(sent)) != len(sent):
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"{key} does not name an {what} of this budget")
    if len(sent) < min(len(items), len(existing)):
        raise ApiError(
            400, "INVALID_PARAMETER_VALUE", f"{key} is missing: send the id of each existing {what} the update keeps"
        )
    return set(sent)


def _handler(account: FakeAccount) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                if url.path.startswith("/api/") and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    raise ApiError(401, "UNAUTHENTICATED", "Invalid access token.")
                body = json.loads(raw) if raw else {}
                status, payload = 200, account.handle(self.command, url.path, query, body)
            except ApiError as exc:
                status, payload = exc.status, {"error_code": exc.code, "message": exc.message}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the calls are recorded instead
            pass

    return Handler


@contextmanager
def serve(account: FakeAccount) -> Iterator[str]:
    """Serve `account` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(account))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
