"""With AUTH_REQUIRED=true, every route of the app and every MCP endpoint refuses callers without
valid credentials and lets the right ones in. The routes are read from the Quart app's url_map and
the transports' registry, so a route added tomorrow is walked too; the public ones are the
documented exceptions (probes, API documents, /.well-known/*, the UI's login page and files)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from forge_plugins.auth_basic_jwt import create_token

SECRET = "every-route-secret-" + "x" * 45
PASSWORD = "every-route-password"
PUBLIC_RULES = {
    "/health",
    "/ready",
    "/version",
    "/openapi.json",
    "/docs",
    "/redocs",
    "/scalar",
    "/static/<path:filename>",
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/<path:resource_path>",
    "/admin/login",  # the UI's login form, and the files it needs
    "/admin/static/<path:filename>",
}
KINDS = ("tools", "resources", "prompts", "servers", "gateways")
PARAMETER_VALUES = {
    "panel_id": "overview",
    "filename": "admin.css",
    "resource_path": "mcp",
    "jti": "walked-jti",
}
ACCEPT = {"accept": "application/json, text/event-stream"}
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bad_credentials(forge) -> dict[str, dict]:
    now = int(time.time())
    revoked = create_token("revoked", SECRET)
    jti = jwt.decode(revoked, options={"verify_signature": False})["jti"]
    assert httpx.post(forge.url + f"/auth/tokens/{jti}/revoke", auth=("admin", PASSWORD)).status_code == 200
    claims = {"sub": "admin", "iat": now, "exp": now + 600, "jti": "forged"}
    header = json.dumps({"alg": "none", "typ": "JWT"}).encode()
    unsigned = f"{b64(header)}.{b64(json.dumps(claims).encode())}."
    expired = jwt.encode({**claims, "iat": now - 900, "exp": now - 300}, SECRET)
    return {
        "no credentials": {},
        "a wrong password": basic("admin", "not-the-password"),
        "an expired token": {"authorization": f"Bearer {expired}"},
        "a token signed with another key": {
            "authorization": "Bearer " + create_token("admin", "another-" + "k" * 56)
        },
        "alg none": {"authorization": f"Bearer {unsigned}"},
        "a revoked token": {"authorization": f"Bearer {revoked}"},
    }


def basic(user: str, password: str) -> dict:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(*scopes: str) -> dict:
    return {"authorization": "Bearer " + create_token("walker", SECRET, scopes=list(scopes) or None)}


@pytest.fixture
def guarded(start_forge, monkeypatch, rest_upstream):
    monkeypatch.setenv("AUTH_MAX_FAILURES", "0")  # this test fails on purpose, many times
    forge = start_forge(auth_required=True, basic_auth_password=PASSWORD, jwt_secret_key=SECRET)
    with httpx.Client(base_url=forge.url, auth=("admin", PASSWORD), timeout=30) as api:
        tool = api.post("/tools", json={"name": "echo", "url": rest_upstream + "/echo"}).json()
        forge.ids = {
            "tools": tool["id"],
            "resources": api.post("/resources", json={"uri": "docs://a", "content": "a"}).json()["id"],
            "prompts": api.post("/prompts", json={"name": "p", "template": "hi"}).json()["id"],
            "servers": api.post("/servers", json={"name": "desk", "tool_ids": [tool["id"]]}).json()["id"],
            "gateways": api.post("/gateways", json={"name": "up", "url": "http://127.0.0.1:9/mcp"}).json()[
                "id"
            ],
        }
        forge.other_server = api.post("/servers", json={"name": "other"}).json()["id"]
    forge.bad = bad_credentials(forge)
    return forge


def concrete(rule: str, ids: dict) -> str:
    """The rule with every <parameter> replaced: an entity id of the kind the path names."""
    kind = next((segment for segment in rule.split("/") if segment in KINDS), "servers")

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name in ("entity_id", "server_id"):
            return ids["servers"] if name == "server_id" else ids[kind]
        return PARAMETER_VALUES.get(name, "x")

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", value, rule)


def routes(forge) -> list[tuple[str, str, str, bool]]:
    """(rule, method, path, is_ui) for every route of the Quart app."""
    walked = []
    for rule in forge.app.quart_app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            is_ui = rule.endpoint.startswith("admin_ui.")
            walked.append((rule.rule, method, concrete(rule.rule, forge.ids), is_ui))
    return walked


def fresh_connections(forge) -> httpx.Client:
    """A client opening a connection per request: many answers here come before the request body
    was read, after which the server closes the connection."""
    return httpx.Client(base_url=forge.url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0))


def send(client: httpx.Client, method: str, path: str, headers: dict) -> httpx.Response:
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, path, headers=headers, json=body)


def refused_as_unauthenticated(answer: httpx.Response, is_ui: bool) -> bool:
    if is_ui:  # the UI sends a browser to its login page instead
        return answer.status_code == 303 and answer.headers["location"].startswith("/admin/login")
    return (
        answer.status_code == 401
        and answer.headers.get("www-authenticate", "").startswith('Basic realm="forge"')
        and answer.json()["error"]["code"] == "unauthenticated"
    )


def test_every_route_is_public_only_when_documented_so(guarded):
    with fresh_connections(guarded) as client:
        public = {
            rule
            for rule, method, path, is_ui in routes(guarded)
            if not refused_as_unauthenticated(send(client, method, path, {}), is_ui)
        }
    assert public == PUBLIC_RULES


def test_every_route_refuses_bad_credentials_and_accepts_the_right_ones(guarded):
    walked = [route for route in routes(guarded) if route[0] not in PUBLIC_RULES]
    assert len(walked) > 50
    with fresh_connections(guarded) as client:
        for rule, method, path, is_ui in walked:
            for why, headers in guarded.bad.items():
                answer = send(client, method, path, headers)
                assert refused_as_unauthenticated(answer, is_ui), (
                    f"{method} {rule} with {why}: {answer.status_code}"
                )
        for rule, method, path, is_ui in walked:
            if (method, rule) in (("POST", "/auth/tokens/<jti>/revoke"), ("POST", "/admin/logout")):
                continue  # would revoke the token the walk goes on with; answers the login page by design
            for who, headers in {
                "Basic admin": basic("admin", PASSWORD),
                "an admin token": bearer("admin"),
            }.items():
                answer = send(client, method, path, headers)
                assert answer.status_code != 401 and answer.headers.get("location", "") != "/admin/login", (
                    f"{method} {rule} refused {who}: {answer.status_code}"
                )
                if not (is_ui and method == "POST"):  # the UI's forms also want their CSRF token
                    assert answer.status_code != 403, f"{method} {rule} refused {who}: {answer.text[:200]}"


def test_writes_need_admin_and_a_server_token_reaches_no_management_route(guarded):
    walked = [route for route in routes(guarded) if route[0] not in PUBLIC_RULES]
    reader, desk = bearer("read"), bearer(f"server:{guarded.ids['servers']}")
    with fresh_connections(guarded) as client:
        for rule, method, path, _ in walked:
            if method != "GET" and not rule.startswith("/protocol/"):  # MCP over HTTP: a read may
                assert send(client, method, path, reader).status_code == 403, (
                    f"{method} {rule} let a reader write"
                )
            answer = send(client, method, path, desk)
            assert answer.status_code == 403, f"{method} {rule} let a server token in: {answer.status_code}"
        assert send(client, "GET", "/tools", reader).status_code == 200


# --- the MCP endpoints -------------------------------------------------------------------------------


def mcp_endpoints(forge) -> list[tuple[str, str]]:
    """(transport name, path template) of every MCP endpoint the transports serve."""
    return [
        (name, route.path)
        for name, transport in forge.gateway.transports.items()
        for route in transport.routes
    ]


def mcp_statuses(forge, transport: str, path: str, headers: dict) -> list[tuple[str, httpx.Response | int]]:
    """The answer of each method the endpoint serves (405s left out; a WebSocket's handshake status)."""
    if transport == "websocket":
        return [("WS", ws_status(forge, path, headers))]
    answers = []
    with fresh_connections(forge) as client:
        for method in ("GET", "POST", "DELETE"):
            body = PING if method == "POST" else None
            with client.stream(method, path, headers={**ACCEPT, **headers}, json=body) as answer:
                if answer.status_code != 405:
                    answers.append((method, answer))  # headers only: a 200 may be an endless stream
    assert answers, f"{path} serves none of GET, POST, DELETE"
    return answers


def ws_status(forge, path: str, headers: dict):
    async def handshake() -> int:
        try:
            async with connect(
                forge.url.replace("http", "ws") + path, additional_headers=headers, subprotocols=["mcp"]
            ):
                return 101
        except InvalidStatus as refused:
            return refused.response

    return asyncio.run(handshake())


def status_of(answer) -> int:
    return answer if isinstance(answer, int) else answer.status_code


def challenge_of(answer) -> str:
    return answer.headers.get("www-authenticate", "") if not isinstance(answer, int) else ""


def test_every_mcp_endpoint_refuses_bad_credentials_with_the_bearer_challenge(guarded):
    expected = f'Bearer resource_metadata="{guarded.url}/.well-known/oauth-protected-resource"'
    endpoints = mcp_endpoints(guarded)
    assert {"/mcp", "/rpc", "/servers/{server_id}/mcp", "/sse", "/ws"} <= {path for _, path in endpoints}
    for transport, template in endpoints:
        path = template.replace("{server_id}", guarded.ids["servers"])
        for why, headers in guarded.bad.items():
            for method, answer in mcp_statuses(guarded, transport, path, headers):
                assert status_of(answer) == 401, f"{method} {path} with {why}: {status_of(answer)}"
                assert challenge_of(answer).startswith(expected), f"{method} {path} with {why}"


def test_a_server_token_reaches_its_own_endpoints_and_no_other(guarded):
    desk, other = guarded.ids["servers"], guarded.other_server
    cases = []  # (transport, path, whether the desk token may use it)
    for transport, template in mcp_endpoints(guarded):
        if "{server_id}" in template:
            cases.append((transport, template.replace("{server_id}", desk), True))
            cases.append((transport, template.replace("{server_id}", other), False))
        else:
            cases.append((transport, template, False))  # the gateway-wide endpoints
    tokens = {
        "an admin token": bearer(),
        "a read token": bearer("read"),
        "the desk token": bearer(f"server:{desk}"),
    }
    for transport, path, desk_may in cases:
        for who, headers in tokens.items():
            allowed = desk_may or who != "the desk token"
            for method, answer in mcp_statuses(guarded, transport, path, headers):
                status = status_of(answer)
                if allowed:
                    assert status not in (401, 403), f"{method} {path} refused {who}: {status}"
                else:
                    assert status == 403, f"{method} {path} let {who} in: {status}"
