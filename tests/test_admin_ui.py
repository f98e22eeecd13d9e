"""The admin UI at /admin, driven over plain HTTP as a browser would: log in with a form, keep a
signed session cookie, send the page's CSRF token with every form, read server-rendered HTML.
(tests/test_admin_ui_browser.py drives it with a real browser.)"""

from __future__ import annotations

import html
import json
import re

import httpx
import pytest

from forge.contracts import AdminPanel
from forge.hookspecs import hookimpl
from forge_plugins.auth_basic_jwt import create_token

PASSWORD = "s3cret-admin"
SECRET = "admin-ui-test-secret-of-32-bytes-or-more"


class AdminClient:
    """An httpx client that uses the UI like a person: it reads each form's CSRF token off the page
    that shows the form before posting it."""

    def __init__(self, forge, **kwargs):
        self.forge = forge
        self.http = httpx.Client(base_url=forge.url, timeout=30, **kwargs)

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def token(self, path: str) -> str:
        page = self.http.get(path)
        assert page.status_code == 200, (path, page.status_code, page.text[:500])
        return csrf_token(page.text)

    def submit(self, form_page: str, data: dict, action: str | None = None) -> httpx.Response:
        """Post `data` to `action` (default: the page itself) with the token `form_page` shows."""
        return self.http.post(action or form_page, data={"csrf_token": self.token(form_page), **data})

    def login(self, username: str = "admin", password: str = PASSWORD, prefix: str = "") -> httpx.Response:
        return self.submit(f"{prefix}/admin/login", {"username": username, "password": password})

    def close(self):
        self.http.close()


def csrf_token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def navigation(page: str) -> list[tuple[str, str]]:
    """(href, text) of the links in the admin panels' navigation."""
    nav = re.search(r'<nav class="sidenav" aria-label="Admin panels">(.*?)</nav>', page, re.DOTALL).group(1)
    return [
        (href, html.unescape(text)) for href, text in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', nav)
    ]


def field_error(page: str, name: str) -> str | None:
    found = re.search(rf'<p class="field-error" id="f-{re.escape(name)}-error">(.*?)</p>', page, re.DOTALL)
    return html.unescape(found.group(1)) if found else None


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def start_ui(start_forge):
    """`start_ui(plugins=(), login=True, **settings)`: a gateway that requires credentials (Basic
    admin/PASSWORD, or JWTs signed with SECRET) and an `AdminClient` of it, logged in unless
    `login` is false; the clients are closed after the test."""
    clients: list[AdminClient] = []

    def start(plugins=(), login: bool = True, **settings) -> AdminClient:
        secured = {"auth_required": True, "basic_auth_password": PASSWORD, "jwt_secret_key": SECRET}
        settings = {**secured, **settings}
        client = AdminClient(start_forge(plugins=plugins, **settings))
        clients.append(client)
        if login:
            assert client.login(prefix=settings.get("app_root_path", "")).status_code == 303
        return client

    yield start
    for client in clients:
        client.close()


@pytest.fixture
def admin(start_ui) -> AdminClient:
    return start_ui()


@pytest.fixture
def secured(admin):
    return admin.forge


@pytest.fixture
def visitor(start_ui) -> AdminClient:
    """A browser on a secured gateway that has not logged in."""
    return start_ui(login=False)


@pytest.fixture
def api_client(secured):
    with httpx.Client(base_url=secured.url, auth=("admin", PASSWORD), timeout=30) as client:
        yield client


@pytest.fixture
def many_tools(secured, rest_upstream):
    """`many_tools(count, name)`: that many tools named name.format(number), written to the store
    at once (not one API call each) and loaded."""

    def add(count: int, name: str) -> None:
        async def write():
            for number in range(count):
                tool = {"name": name.format(number), "url": rest_upstream}
                await secured.gateway.store.create("tools", tool)
            await secured.gateway.reload_catalog()

        secured.run(write())

    return add


# --- logging in ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/admin", "/admin/", "/admin/overview", "/admin/tools", "/admin/tools/new", "/admin/metrics"]
)
def test_without_credentials_every_admin_page_redirects_to_the_login_page(secured, path):
    answer = httpx.get(secured.url + path)
    assert answer.status_code in (303, 308)
    if answer.status_code == 308:  # /admin/ → /admin first
        answer = httpx.get(secured.url + answer.headers["location"])
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/admin/login")
    login = httpx.get(secured.url + answer.headers["location"])
    assert login.status_code == 200
    assert '<label for="password">Password</label>' in login.text


def test_a_post_without_credentials_goes_to_the_login_page_and_changes_nothing(secured, api_client):
    answer = httpx.post(
        secured.url + "/admin/tools/new", data={"name": "sneaky", "url": "http://example.com"}
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/admin/login")
    assert api_client.get("/tools").json()["total"] == 0
    assert httpx.get(secured.url + "/tools").status_code == 401  # the API still answers JSON 401s


def test_logging_in_sets_a_signed_http_only_session_cookie_and_logging_out_ends_it(visitor):
    client, secured = visitor, visitor.forge
    wrong = client.login(password="nope")
    assert wrong.status_code == 401
    assert "Wrong user name or password." in wrong.text
    assert "forge_admin_session" not in client.http.cookies

    answer = client.http.post(
        "/admin/login",
        data={
            "csrf_token": client.token("/admin/login?next=/admin/prompts"),
            "username": "admin",
            "password": PASSWORD,
            "next": "/admin/prompts",
        },
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/admin/prompts")
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("forge_admin_session="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "samesite", "max-age"} <= attributes and "secure" not in attributes
    assert "Path=/admin" in cookie and "SameSite=Lax" in cookie
    page = client.get("/admin/prompts")
    assert page.status_code == 200
    assert "Signed in as <strong>admin</strong>" in page.text

    value = client.http.cookies["forge_admin_session"]
    tampered = httpx.get(secured.url + "/admin/tools", cookies={"forge_admin_session": value[:-2] + "xx"})
    assert tampered.status_code == 303  # a forged cookie is no credential

    logout = client.submit("/admin/tools", {}, action="/admin/logout")
    assert (logout.status_code, logout.headers["location"]) == (303, "/admin/login")
    assert client.get("/admin/tools").status_code == 303


def test_a_throttled_login_says_when_to_try_again_not_that_the_password_is_wrong(monkeypatch, start_ui):
    monkeypatch.setenv("AUTH_MAX_FAILURES", "2")
    client = start_ui(login=False)
    for _ in range(2):
        assert "Wrong user name or password." in client.login(password="nope").text
    throttled = client.login()  # the right password too, while the address is over the limit
    assert throttled.status_code == 429
    message = re.search(r'<div class="error-summary" role="alert"><p>(.*?)</p>', throttled.text).group(1)
    assert re.fullmatch(r"Too many attempts, try again in (\d+) s\.", message)
    assert int(throttled.headers["retry-after"]) >= 1
    assert "forge_admin_session" not in client.http.cookies


def test_login_redirects_only_inside_the_ui(visitor):
    client = visitor
    for target in ("https://evil.example/", "//evil.example/admin", "/tools"):
        answer = client.http.post(
            "/admin/login",
            data={
                "csrf_token": client.token("/admin/login"),
                "username": "admin",
                "password": PASSWORD,
                "next": target,
            },
        )
        assert (answer.status_code, answer.headers["location"]) == (303, "/admin")


def test_the_session_cookie_is_secure_behind_https(secured):
    proxied = {"x-forwarded-proto": "https"}
    form = httpx.get(secured.url + "/admin/login", headers=proxied)
    csrf_cookie = form.headers["set-cookie"]
    assert "Secure" in csrf_cookie
    nonce = csrf_cookie.split(";")[0].split("=", 1)[1]
    answer = httpx.post(
        secured.url + "/admin/login",
        headers={**proxied, "cookie": f"forge_admin_csrf={nonce}"},
        data={"csrf_token": csrf_token(form.text), "username": "admin", "password": PASSWORD},
    )
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("forge_admin_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_bearer_tokens_work_too_and_their_scopes_apply(secured):
    def bearer(*scopes):
        return {"authorization": f"Bearer {create_token('someone', SECRET, scopes=list(scopes))}"}

    assert httpx.get(secured.url + "/admin/tools", headers=bearer("admin")).status_code == 200
    reader = bearer("read")
    assert httpx.get(secured.url + "/admin/tools", headers=reader).status_code == 200
    refused = httpx.get(secured.url + "/admin/tools/new", headers=reader)
    assert refused.status_code == 403
    assert "may not write tools" in html.unescape(refused.text)
    assert httpx.get(secured.url + "/admin/overview", headers=bearer("server:abc")).status_code == 403


# --- forms --------------------------------------------------------------------------------------


def test_a_form_post_without_the_csrf_token_is_refused(admin, api_client):
    tool = {
        "name": "weather",
        "url": "http://127.0.0.1:9/weather",
        "method": "POST",
        "integration_type": "REST",
    }
    for token in (None, "0" * 64):
        data = tool if token is None else {**tool, "csrf_token": token}
        refused = admin.http.post("/admin/tools/new", data=data)
        assert refused.status_code == 403
        assert "Form refused" in refused.text
    assert api_client.get("/tools").json()["total"] == 0
    assert (
        AdminClient(admin.forge)
        .http.post("/admin/login", data={"username": "admin", "password": PASSWORD})
        .status_code
        == 403
    )

    accepted = admin.submit("/admin/tools/new", tool)
    assert (accepted.status_code, accepted.headers["location"]) == (303, "/admin/tools")
    assert api_client.get("/tools").json()["items"][0]["name"] == "weather"


def test_an_invalid_input_schema_is_shown_next_to_its_field_and_nothing_is_saved(admin, api_client):
    tool = {"name": "adder", "url": "http://127.0.0.1:9/add", "method": "POST", "integration_type": "REST"}
    for schema, message in (
        ('{"type": "string"}', 'must describe an object ("type": "object"), not \'string\''),
        ('{"type": "object", "properties": {"a": {"type": 12}}}', "not a valid JSON Schema"),
        ('{"type": "object",', "not valid JSON"),
    ):
        answer = admin.submit("/admin/tools/new", {**tool, "input_schema": schema})
        assert answer.status_code == 422
        assert message in field_error(answer.text, "input_schema")
        textarea, typed = re.search(
            r'(<textarea id="f-input_schema"[^>]*>)(.*?)</textarea>', answer.text, re.DOTALL
        ).groups()
        assert 'aria-invalid="true"' in textarea and "f-input_schema-error" in textarea
        assert html.unescape(typed) == schema  # what was typed is kept
    both = admin.submit("/admin/tools/new", {"name": "", "url": "", "method": "POST", "input_schema": "[1"})
    assert field_error(both.text, "name") == "required"
    assert field_error(both.text, "input_schema").startswith("not valid JSON")
    no_url = admin.submit(
        "/admin/tools/new", {"name": "adder", "url": "", "method": "POST", "integration_type": "REST"}
    )
    assert field_error(no_url.text, "url") == "a REST tool needs a url"
    assert api_client.get("/tools").json()["total"] == 0


def test_a_name_already_taken_is_said_next_to_the_name(admin, api_client, rest_upstream):
    api_client.post("/tools", json={"name": "taken", "url": rest_upstream})
    answer = admin.submit(
        "/admin/tools/new",
        {"name": "taken", "url": rest_upstream, "method": "GET", "integration_type": "REST"},
    )
    assert answer.status_code == 422
    assert field_error(answer.text, "name") == "a tool with name 'taken' already exists"


def test_html_in_the_catalog_is_shown_escaped(admin, api_client, rest_upstream):
    script = '<script>alert("pwned")</script>'
    tool = api_client.post(
        "/tools", json={"name": "innocent", "url": rest_upstream, "description": script}
    ).json()
    api_client.post("/prompts", json={"name": "p", "template": script, "description": script})
    for path in (
        "/admin/tools",
        f"/admin/tools/{tool['id']}/edit",
        f"/admin/tools/{tool['id']}/try",
        "/admin/prompts",
    ):
        page = admin.get(path).text
        assert script not in page, path
        assert "&lt;script&gt;alert(" in page, path
    found = admin.get("/admin/tools?q=" + "<b>inn</b>").text
    assert "<b>inn</b>" not in found and "&lt;b&gt;inn&lt;/b&gt;" in found


def test_editing_enabling_disabling_and_deleting_a_tool(admin, api_client, rest_upstream):
    tool = api_client.post("/tools", json={"name": "clock", "url": rest_upstream + "/time"}).json()
    edit = f"/admin/tools/{tool['id']}/edit"
    form = admin.get(edit).text
    assert 'value="clock"' in form and 'id="f-enabled" name="enabled" checked' in form
    saved = admin.submit(
        edit,
        {
            "name": "clock",
            "url": rest_upstream + "/now",
            "method": "GET",
            "integration_type": "REST",
            "description": "What time it is",
            "enabled": "on",
            "input_schema": '{"type": "object", "properties": {}}',
        },
    )
    assert saved.status_code == 303
    assert "Tool &#39;clock&#39; saved." in admin.get(saved.headers["location"]).text  # said once
    stored = api_client.get(f"/tools/{tool['id']}").json()
    assert (stored["url"], stored["method"], stored["description"]) == (
        rest_upstream + "/now",
        "GET",
        "What time it is",
    )

    disabled = admin.submit(
        "/admin/tools?state=enabled",
        {"next": "/admin/tools?state=enabled"},
        action=f"/admin/tools/{tool['id']}/disable",
    )
    assert (disabled.status_code, disabled.headers["location"]) == (303, "/admin/tools?state=enabled")
    assert api_client.get(f"/tools/{tool['id']}").json()["enabled"] is False
    assert "No tools." in admin.get("/admin/tools?state=enabled").text
    admin.submit("/admin/tools", {}, action=f"/admin/tools/{tool['id']}/enable")
    assert api_client.get(f"/tools/{tool['id']}").json()["enabled"] is True

    server = api_client.post("/servers", json={"name": "desk", "tool_ids": [tool["id"]]}).json()
    confirm = admin.get(f"/admin/tools/{tool['id']}/delete").text
    assert "Delete tool clock?" in confirm and "<strong>desk</strong>" in confirm
    assert api_client.get(f"/tools/{tool['id']}").status_code == 200  # asking is not deleting
    deleted = admin.submit(f"/admin/tools/{tool['id']}/delete", {"force": "1"})
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/admin/tools")
    assert api_client.get(f"/tools/{tool['id']}").status_code == 404
    assert api_client.get(f"/servers/{server['id']}").json()["tool_ids"] == []


# --- panels -------------------------------------------------------------------------------------


class HelloPanel:
    """A third-party plugin's panel, contributed through the hook the UI's own panels use."""

    @hookimpl
    def forge_admin_panels(self, gateway):
        async def render(gateway, request):
            return f"<h1>Hello</h1><p>{len(gateway.catalog.all.tools)} tools, asked with {dict(request.args)}</p>"

        return AdminPanel("hello", "Hello panel", render, order=55)


def test_a_panel_contributed_by_another_plugin_appears_in_the_navigation(start_forge):
    forge = start_forge(plugins=[HelloPanel()])
    page = httpx.get(forge.url + "/admin/overview").text
    listed = navigation(page)
    assert listed == [(f"/admin/{panel.id}", panel.title) for panel in forge.gateway.admin_panels]
    titles = [title for _, title in listed]
    assert titles[:6] == ["Overview", "Tools", "Resources", "Prompts", "Virtual servers", "Gateways"]
    assert titles.index("Gateways") < titles.index("Hello panel") < titles.index("Metrics")  # by order
    hello = httpx.get(forge.url + "/admin/hello?x=1")
    assert hello.status_code == 200
    assert "<h1>Hello</h1><p>0 tools, asked with {'x': '1'}</p>" in hello.text  # its HTML, as it is
    assert '<a href="/admin/hello" aria-current="page">Hello panel</a>' in hello.text
    assert httpx.get(forge.url + "/admin/nope").status_code == 404


def test_with_auth_off_the_ui_is_open_and_says_so(forge):
    page = httpx.get(forge.url + "/admin/overview")
    assert page.status_code == 200
    assert "<strong>Authentication is off</strong> (AUTH_REQUIRED=false)" in page.text
    assert httpx.get(forge.url + "/admin/login").headers["location"] == "/admin"


def test_the_overview_counts_the_catalog(admin, api_client, rest_upstream):
    for name in ("a", "b", "c"):
        api_client.post("/tools", json={"name": name, "url": rest_upstream, "enabled": name != "c"})
    page = admin.get("/admin/overview").text
    assert re.search(r'<span class="number">3</span> Tools</a>\s*<span class="muted">2 enabled</span>', page)
    assert '<dt>Database</dt><dd><span class="badge on">ok</span></dd>' in page


def test_the_tools_list_is_paginated_and_searched_on_the_server(admin, many_tools):
    many_tools(120, "tool-{:03d}")
    first = admin.get("/admin/tools").text
    assert "1–50 of 120 tools" in first
    assert len(re.findall(r'aria-label="Edit tool-', first)) == 50
    assert '<a href="/admin/tools?page=2" rel="next">' in first
    last = admin.get("/admin/tools?page=3").text
    assert "101–120 of 120 tools" in last and "tool-119" in last and "tool-000" not in last
    found = admin.get("/admin/tools?q=TOOL-11").text
    assert "1–10 of 10 tools matching “TOOL-11”" in found
    beyond = admin.get("/admin/tools?q=tool-11&page=9").text  # past the end: the last page
    assert "1–10 of 10 tools" in beyond


def test_try_it_calls_the_tool_through_the_kernel_and_shows_the_result(admin, api_client, rest_upstream):
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "Where"},
            "days": {"type": "integer"},
            "units": {"type": "string", "enum": ["metric", "imperial"]},
            "hourly": {"type": "boolean"},
            "extra": {"type": "object"},
        },
        "required": ["city"],
    }
    tool = api_client.post(
        "/tools", json={"name": "forecast", "url": rest_upstream + "/forecast", "input_schema": schema}
    ).json()
    path = f"/admin/tools/{tool['id']}/try"
    form = admin.get(path).text
    for label in (
        'for="arg-city">city',
        'for="arg-days">days',
        'for="arg-units">units',
        'for="arg-hourly">hourly',
    ):
        assert label in form

    bad = admin.submit(path, {"arg.city": "", "arg.days": "two", "arg.extra": "{"})
    assert bad.status_code == 422
    assert field_error_of_argument(bad.text, "city") == "required"
    assert field_error_of_argument(bad.text, "days") == "must be a whole number"
    assert field_error_of_argument(bad.text, "extra").startswith("not valid JSON")

    answer = admin.submit(
        path,
        {
            "arg.city": "Oslo",
            "arg.days": "3",
            "arg.units": "metric",
            "arg.hourly": "on",
            "arg.extra": '{"lang": "nb"}',
        },
    )
    assert answer.status_code == 200
    result = html.unescape(
        re.search(r"<pre class=\"output\" data-result-text>(.*?)</pre>", answer.text, re.DOTALL).group(1)
    )
    echoed = json.loads(result)
    assert echoed["path"] == "/forecast"
    assert echoed["json"] == {
        "city": "Oslo",
        "days": 3,
        "units": "metric",
        "hourly": True,
        "extra": {"lang": "nb"},
    }
    assert '<span class="badge on">ok</span>' in answer.text

    failing = api_client.post("/tools", json={"name": "broken", "url": rest_upstream + "/status/500"}).json()
    failed = admin.submit(f"/admin/tools/{failing['id']}/try", {})
    assert '<span class="badge off">error</span>' in failed.text


def field_error_of_argument(page: str, name: str) -> str | None:
    found = re.search(rf'<p class="field-error" id="arg-{name}-error">(.*?)</p>', page, re.DOTALL)
    return html.unescape(found.group(1)) if found else None


def test_metrics_are_drawn_as_an_svg_bar_chart(admin, api_client, rest_upstream):
    ok = api_client.post("/tools", json={"name": "steady", "url": rest_upstream}).json()
    bad = api_client.post("/tools", json={"name": "flaky", "url": rest_upstream + "/status/503"}).json()
    for tool, times in ((ok, 3), (bad, 2)):
        for _ in range(times):
            admin.submit(f"/admin/tools/{tool['id']}/try", {})
    page = admin.get("/admin/metrics").text
    assert page.count('<svg role="img"') == 3
    calls = re.search(
        r'<svg role="img" aria-labelledby="chart-calls-title chart-calls-desc".*?</svg>', page, re.DOTALL
    ).group(0)
    assert '<desc id="chart-calls-desc">steady: 3, flaky: 2</desc>' in calls
    widths = [float(w) for w in re.findall(r'<rect x="\d+" y="[\d.]+" width="([\d.]+)"', calls)]
    assert len(widths) == 2 and widths[0] > widths[1] > 0
    failures = re.search(r'<desc id="chart-failures-desc">(.*?)</desc>', page).group(1)
    assert failures == "steady: 0.0%, flaky: 100.0%"
    assert "5 calls to 2 tools; 2 failed (40.0 %)" in page
    overview = admin.get("/admin/overview").text
    assert "5 tool calls, 2 failed (40.0 %)" in overview


# --- the other kinds ----------------------------------------------------------------------------


def test_a_virtual_server_shows_its_endpoint_and_a_client_configuration(
    admin, secured, api_client, rest_upstream
):
    tool = api_client.post("/tools", json={"name": "weather", "url": rest_upstream}).json()
    api_client.post("/tools", json={"name": "payroll", "url": rest_upstream})
    form = admin.get("/admin/servers/new").text
    assert 'name="tool_ids"' in form and ">weather</label>" in form
    created = admin.submit(
        "/admin/servers/new", {"name": "Weather desk", "enabled": "on", "tool_ids": tool["id"]}
    )
    assert created.status_code == 303
    server = api_client.get("/servers").json()["items"][0]
    assert created.headers["location"] == f"/admin/servers/{server['id']}"
    assert server["tool_ids"] == [tool["id"]]

    detail = admin.get(created.headers["location"]).text
    endpoint = f"{secured.url}/servers/{server['id']}/mcp"
    assert f'<code id="endpoint" data-endpoint>{endpoint}</code>' in detail
    config = json.loads(
        html.unescape(
            re.search(r'<pre class="output" id="client-config"[^>]*>(.*?)</pre>', detail, re.DOTALL).group(1)
        )
    )
    assert config == {
        "mcpServers": {
            "weather-desk": {
                "command": "forge-stdio",
                "args": ["--url", endpoint],
                "env": {"FORGE_TOKEN": f"<forge token --scope server:{server['id']}>"},
            }
        }
    }

    unknown = admin.submit(
        f"/admin/servers/{server['id']}/edit", {"name": "Weather desk", "tool_ids": "nope"}
    )
    assert unknown.status_code == 422
    assert field_error(unknown.text, "tool_ids") == "tool_ids names unknown tools: nope"


def test_a_large_catalog_is_picked_by_name(admin, api_client, many_tools):
    many_tools(210, "t{:03d}")
    form = admin.get("/admin/servers/new").text
    assert 'name="tool_ids"' not in form  # 210 tools are not listed as boxes
    assert '<label for="f-tool_ids-names">Add tools by name</label>' in form
    refused = admin.submit("/admin/servers/new", {"name": "big", "tools_names": "t001\nmissing-one"})
    assert field_error(refused.text, "tool_ids") == "no tools named: missing-one"
    created = admin.submit("/admin/servers/new", {"name": "big", "tools_names": "t001\nt200"})
    assert created.status_code == 303
    server = api_client.get("/servers").json()["items"][0]
    edit = admin.get(f"/admin/servers/{server['id']}/edit").text
    assert edit.count('name="tool_ids"') == 2 and ">t001</label>" in edit and ">t200</label>" in edit


def test_resources_and_prompts_are_created_from_forms_and_prompts_preview(admin, api_client):
    created = admin.submit(
        "/admin/resources/new",
        {
            "uri": "docs://readme",
            "mime_type": "text/markdown",
            "content": "# Hello\r\nworld",
            "enabled": "on",
        },
    )
    assert created.status_code == 303, field_error(created.text, "uri")
    resource = api_client.get("/resources").json()["items"][0]
    assert (resource["name"], resource["text"]) == ("docs://readme", "# Hello\nworld")
    bad_uri = admin.submit("/admin/resources/new", {"uri": "no-scheme", "content": "x"})
    assert "must be an absolute URI" in field_error(bad_uri.text, "uri")

    template = "Hello, {{ user }}! You have {{ count }} messages."
    schema = '{"type": "object", "properties": {"user": {"type": "string"}, "count": {"type": "string"}}, "required": ["user"]}'
    made = admin.submit(
        "/admin/prompts/new",
        {"name": "greet", "template": template, "argument_schema": schema, "enabled": "on"},
    )
    assert made.status_code == 303
    broken = admin.submit("/admin/prompts/new", {"name": "broken", "template": "{{ oops", "enabled": "on"})
    assert "invalid template" in field_error(broken.text, "template")
    prompt = api_client.get("/prompts").json()["items"][0]
    preview = admin.submit(f"/admin/prompts/{prompt['id']}/preview", {"arg.user": "Ada", "arg.count": "3"})
    assert "Hello, Ada! You have 3 messages." in preview.text
    missing = admin.submit(f"/admin/prompts/{prompt['id']}/preview", {"arg.user": "Ada"})
    assert "could not render" in html.unescape(missing.text)


def test_gateways_show_their_state_and_last_error(admin, secured, api_client):
    record = api_client.post("/gateways", json={"name": "upstream", "url": "http://127.0.0.1:9/mcp"}).json()
    secured.run(
        secured.gateway.store.update(
            "gateways", record["id"], {"state": "error", "last_error": "connection refused"}
        )
    )
    page = admin.get("/admin/gateways").text
    assert '<span class="badge state-error">error</span>' in page
    assert '<span class="error-text">connection refused</span>' in page
    added = admin.submit(
        "/admin/gateways/new", {"name": "peer", "url": "ftp://peer", "transport": "streamable_http"}
    )
    assert field_error(added.text, "url") == "a streamable_http upstream needs a http:// or https:// URL"


def test_the_ui_follows_app_root_path(start_ui):
    client = start_ui(login=False, app_root_path="/gateway")
    forge = client.forge
    assert httpx.get(forge.url + "/gateway/tools", auth=("admin", PASSWORD)).status_code == 200  # the API too
    answer = httpx.get(forge.url + "/gateway/admin/tools")
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        "/gateway/admin/login?next=/gateway/admin/tools",
    )
    logged_in = client.http.post(
        "/gateway/admin/login",
        data={
            "csrf_token": client.token("/gateway/admin/login"),
            "username": "admin",
            "password": PASSWORD,
            "next": "/gateway/admin/tools",
        },
    )
    assert logged_in.headers["location"] == "/gateway/admin/tools"
    assert "Path=/gateway/admin" in logged_in.headers["set-cookie"]
    page = client.get("/gateway/admin/tools").text
    assert ("/gateway/admin/overview", "Overview") in navigation(page)
    assert 'href="/gateway/admin/static/admin.css"' in page


class WriteWatcher:
    def __init__(self):
        self.changes = []

    @hookimpl
    def forge_after_entity_write(self, gateway, kind, before, after, principal):
        self.changes.append((kind, before and before["name"], after and after["name"], principal.name))


def test_plugins_hear_about_changes_made_in_the_ui(start_ui):
    watcher = WriteWatcher()
    admin = start_ui(plugins=[watcher])
    forge = admin.forge
    admin.submit(
        "/admin/gateways/new", {"name": "upstream", "url": "http://127.0.0.1:9/mcp", "transport": "sse"}
    )
    record = forge.run(forge.gateway.store.list("gateways"))[0][0]
    admin.submit("/admin/gateways", {}, action=f"/admin/gateways/{record['id']}/disable")
    admin.submit(f"/admin/gateways/{record['id']}/delete", {})
    assert watcher.changes == [
        ("gateways", None, "upstream", "admin"),
        ("gateways", "upstream", "upstream", "admin"),
        ("gateways", "upstream", None, "admin"),
    ]


def test_a_tools_edit_form_never_shows_its_header_secrets(admin, api_client, rest_upstream):
    payload = {"name": "keyed", "url": rest_upstream + "/keyed", "headers": {"X-Api-Key": "s3cret-value"}}
    tool = api_client.post("/tools", json=payload).json()
    edit = f"/admin/tools/{tool['id']}/edit"
    form = admin.get(edit).text
    assert "s3cret-value" not in form and "****" in form
    saved = admin.submit(
        edit,
        {
            "name": "keyed",
            "url": rest_upstream + "/keyed",
            "method": "POST",
            "integration_type": "REST",
            "enabled": "on",
            "headers": '{"X-Api-Key": "****"}',  # what the form showed, sent back unchanged
            "input_schema": '{"type": "object", "properties": {}}',
        },
    )
    assert saved.status_code == 303
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "keyed", "arguments": {}}}
    answer = api_client.post("/rpc", json=call).json()
    assert '"x-api-key": "s3cret-value"' in answer["result"]["content"][0]["text"]


# --- tokens (the auth plugin's) -----------------------------------------------------------------


def created_token(page: str) -> str:
    found = re.search(r'<pre class="output token" id="new-token"[^>]*>(.*?)</pre>', page, re.DOTALL)
    return html.unescape(found.group(1))


def test_a_token_is_created_shown_once_listed_and_revoked_after_a_confirmation(admin, api_client):
    server = api_client.post("/servers", json={"name": "desk"}).json()
    form = admin.get("/admin/tokens/new").text
    assert "Scopes (at least one)</legend>" in form
    assert f'value="server:{server["id"]}"' in form and 'value="read"' in form
    assert '<option value="10080" selected>7 days</option>' in form  # TOKEN_EXPIRY

    refused = admin.submit("/admin/tokens/new", {"name": "", "expires_minutes": "60"})
    assert refused.status_code == 422
    assert field_error(refused.text, "name") == "required"
    assert field_error(refused.text, "scopes").startswith("choose at least one scope")
    assert api_client.get("/auth/tokens").json()["total"] == 0  # an unticked box grants nothing

    asked = {"name": "ci reader", "expires_minutes": "60", "scopes": "read"}
    created = admin.submit("/admin/tokens/new", asked)
    assert created.status_code == 200
    token = created_token(created.text)
    assert 'data-copy="new-token"' in created.text and "the only time it is shown" in created.text
    assert httpx.get(admin.forge.url + "/tools", headers=bearer(token)).status_code == 200

    listed = admin.get("/admin/tokens").text
    assert "ci reader" in listed and token not in listed
    assert '<span class="badge state-active">active</span>' in listed
    jti = api_client.get("/auth/tokens").json()["items"][0]["jti"]
    assert f'href="/admin/tokens/{jti}/revoke" class="danger" aria-label="Revoke ci reader"' in listed

    confirm = admin.get(f"/admin/tokens/{jti}/revoke").text
    assert "Revoke token ci reader?" in confirm
    # asking is not revoking
    assert httpx.get(admin.forge.url + "/tools", headers=bearer(token)).status_code == 200
    revoked = admin.submit(f"/admin/tokens/{jti}/revoke", {})
    assert (revoked.status_code, revoked.headers["location"]) == (303, "/admin/tokens")
    assert httpx.get(admin.forge.url + "/tools", headers=bearer(token)).status_code == 401
    after = admin.get("/admin/tokens").text
    assert "Token &#39;ci reader&#39; revoked." in after
    assert '<span class="badge state-revoked">revoked</span>' in after and "Revoke ci reader" not in after
    assert "No tokens." in admin.get("/admin/tokens?state=active").text


def test_without_the_auth_plugin_there_is_no_tokens_panel(start_forge):
    forge = start_forge(plugins_disabled=["auth_basic_jwt"])
    page = httpx.get(forge.url + "/admin/overview").text
    assert "Tokens" not in [title for _, title in navigation(page)]
    assert httpx.get(forge.url + "/admin/tokens").status_code == 404
    assert httpx.get(forge.url + "/admin/tokens/new").status_code == 404


def test_an_issued_token_is_listed_by_the_api_without_its_secret(secured, api_client):
    created = api_client.post("/auth/tokens", json={"name": "ci", "scopes": ["read"], "expires_minutes": 60})
    assert created.status_code == 201
    token = created.json()
    shown = (token["name"], token["subject"], token["scopes"], token["state"])
    assert shown == ("ci", "admin", ["read"], "active")
    assert httpx.post(secured.url + "/tools", headers=bearer(token["token"]), json={}).status_code == 403
    listed = api_client.get("/auth/tokens").json()
    assert listed["total"] == 1 and listed["items"][0]["jti"] == token["jti"]
    assert "token" not in listed["items"][0]
    api_client.post(f"/auth/tokens/{token['jti']}/revoke")
    assert api_client.get("/auth/tokens", params={"state": "revoked"}).json()["total"] == 1
    assert api_client.get("/auth/tokens", params={"state": "active"}).json()["total"] == 0


def test_a_token_for_a_virtual_server_names_it_by_id_and_reaches_nothing_else(secured, api_client):
    server = api_client.post("/servers", json={"name": "desk"}).json()
    body = {"name": "desk client", "scopes": [f"server:{server['id']}"], "subject": "bot"}
    token = api_client.post("/auth/tokens", json=body).json()
    assert (token["subject"], token["created_by"]) == ("bot", "admin")
    assert httpx.get(secured.url + "/tools", headers=bearer(token["token"])).status_code == 403


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"name": "x", "scopes": []}, "scopes", "choose at least one scope"),
        ({"name": "x", "scopes": ["root"]}, "scopes", "'root' is not a scope"),
        ({"name": "x", "scopes": ["server:nope"]}, "scopes", "no virtual server with that id"),
        ({"name": " ", "scopes": ["read"]}, "name", "1 to 255 characters"),
        ({"name": "x", "scopes": ["read"], "expires_minutes": 0}, "expires_minutes", "greater than or equal"),
    ],
)
def test_a_token_asked_for_wrongly_is_refused_field_by_field(api_client, payload, field, message):
    answer = api_client.post("/auth/tokens", json=payload)
    assert answer.status_code == 422
    detail = answer.json()["error"]["details"][0]
    assert detail["field"] == field and message in detail["message"]
    assert api_client.get("/auth/tokens").json()["total"] == 0


def test_readers_list_tokens_and_only_administrators_issue_them(secured, api_client):
    reader = api_client.post("/auth/tokens", json={"name": "reader", "scopes": ["read"]}).json()["token"]
    more = {"name": "more", "scopes": ["admin"]}
    assert httpx.post(secured.url + "/auth/tokens", headers=bearer(reader), json=more).status_code == 403
    assert httpx.get(secured.url + "/auth/tokens", headers=bearer(reader)).json()["total"] == 1
    assert httpx.get(secured.url + "/admin/tokens/new", headers=bearer(reader)).status_code == 403
    assert httpx.get(secured.url + "/auth/tokens").status_code == 401
