"""A Databricks account API on loopback, for running the real databricks-sdk `AccountClient` in tests.

It implements the endpoints governance uses with the official request and response shapes (as databricks-sdk
0.15x serialises them): budget policies (`/api/2.1/accounts/{id}/budget-policies`), access-control rule sets
(`/api/2.0/preview/accounts/{id}/access-control/rule-sets`) and budgets (`/api/2.1/accounts/{id}/budgets`).
It checks the bearer token, validates request bodies the way the service documents (reserved tag keys, etags,
required fields), pages list results two at a time so clients must follow `next_page_token`, and records every
call. Anything else answers 404 (including the SDK's host-metadata probe, which then falls back to the
explicit configuration).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN = "dapi-test-token"
CREATOR = "users/platform.admin@acme.example"
RESERVED = ("budget-policy-name", "budget-policy-id", "budget-policy-resolution-result")
PAGE = 2


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class FakeAccount:
    """The account's state and the calls made to it."""

    account_id: str
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # policy id -> BudgetPolicy JSON
    rule_sets: dict[str, dict[str, Any]] = field(default_factory=dict)  # rule set name -> RuleSetResponse JSON
    budgets: dict[str, dict[str, Any]] = field(default_factory=dict)  # budget id -> BudgetConfiguration JSON
    calls: list[tuple[str, str, Any]] = field(default_factory=list)  # (method, path, JSON body or query)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
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
        self.budgets[budget_id] = self._budget(budget_id, {"display_name": name, **body})

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
                return self._page(sorted(self.budgets.values(), key=lambda b: b["create_time"]), "budgets", query)
            if path == f"{base}/budgets" and method == "POST":
                return {"budget": self._create_budget(body)}
            match = re.fullmatch(f"{base}/budgets/([^/]+)", path)
            if match and method == "PUT":
                return {"budget": self._update_budget(match[1], body)}
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"no API for {method} {path}")

    def _page(self, items: list[dict[str, Any]], key: str, query: dict[str, str]) -> dict[str, Any]:
        start = int(query.get("page_token") or 0)
        size = int(query.get("page_size") or PAGE)
        page: dict[str, Any] = {key: items[start : start + size]}
        if start + size < len(items):
            page["next_page_token"] = str(start + size)
        return page

    def _check_tags(self, tags: list[dict[str, str]]) -> None:
        keys = [t.get("key") for t in tags]
        if any(not k for k in keys) or len(set(keys)) != len(keys) or len(keys) > 20:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "custom_tags: keys must be present, unique, at most 20")
        if any(str(k).lower() in RESERVED for k in keys):
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "custom_tags: reserved tag key")

    def _create_policy(self, body: dict[str, Any]) -> dict[str, Any]:
        policy = dict(body.get("policy") or {})
        if not body.get("request_id") or "policy_id" in policy or not policy.get("policy_name"):
            raise ApiError(
                400, "INVALID_PARAMETER_VALUE", "policy_name and request_id required, policy_id must be empty"
            )
        if any(p["policy_name"] == policy["policy_name"] for p in self.policies.values()):
            raise ApiError(409, "RESOURCE_ALREADY_EXISTS", "policy name must be unique among active policies")
        self._check_tags(policy.get("custom_tags", []))
        policy_id = f"00000000-0000-4000-8000-{next(self._ids):012d}"
        self.add_policy(policy_id, policy["policy_name"], {}, {"roles/budgetPolicy.manager": [CREATOR]})
        self.policies[policy_id].update(policy, policy_id=policy_id)
        return self.policies[policy_id]

    def _update_policy(self, policy_id: str, body: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        if policy_id not in self.policies:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"policy {policy_id} does not exist")
        if body.get("policy_id") != policy_id or not body.get("policy_name") or query.get("limit_config"):
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "the full policy, with its policy_id, is required")
        self._check_tags(body.get("custom_tags", []))
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

    def _budget(self, budget_id: str, budget: dict[str, Any], created: int | None = None) -> dict[str, Any]:
        if not budget.get("display_name") or not budget.get("alert_configurations"):
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "display_name and at least one alert are required")
        alerts = []
        for alert in budget["alert_configurations"]:
            kind = (alert.get("time_period"), alert.get("trigger_type"), alert.get("quantity_type"))
            if kind != ("MONTH", "CUMULATIVE_SPENDING_EXCEEDED", "LIST_PRICE_DOLLARS_USD"):
                raise ApiError(400, "INVALID_PARAMETER_VALUE", f"unsupported alert {kind}")
            threshold = Decimal(alert["quantity_threshold"])  # a string holding a number
            actions = [
                {"action_configuration_id": f"act-{next(self._ids)}", **a}
                for a in alert.get("action_configurations", [])
            ]
            # The service echoes numbers in its own spelling: compare them as numbers, never as text.
            alerts.append(
                {
                    "alert_configuration_id": f"alert-{next(self._ids)}",
                    **alert,
                    "quantity_threshold": f"{threshold.normalize():f}",
                    "action_configurations": actions,
                }
            )
        stamp = next(self._ids)
        return {
            "account_id": self.account_id,
            "budget_configuration_id": budget_id,
            "display_name": budget["display_name"],
            "filter": budget.get("filter", {}),
            "alert_configurations": alerts,
            "create_time": created if created is not None else stamp,
            "update_time": stamp,
        }

    def _create_budget(self, body: dict[str, Any]) -> dict[str, Any]:
        budget_id = f"budget-{next(self._ids)}"
        self.budgets[budget_id] = self._budget(budget_id, body.get("budget") or {})
        return self.budgets[budget_id]

    def _update_budget(self, budget_id: str, body: dict[str, Any]) -> dict[str, Any]:
        budget = body.get("budget") or {}
        if budget_id not in self.budgets:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"budget {budget_id} does not exist")
        if budget.get("budget_configuration_id") != budget_id:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "budget.budget_configuration_id must match the path")
        self.budgets[budget_id] = self._budget(budget_id, budget, self.budgets[budget_id]["create_time"])
        return self.budgets[budget_id]


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
