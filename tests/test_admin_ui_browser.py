"""The admin UI in a real browser (Debian's Chromium, driven by Playwright): an administrator logs
in, wraps a REST endpoint as a tool, tries it, puts it in a virtual server, and an MCP client then
finds it on that server's endpoint. Screenshots land in test-artifacts/admin-ui/.

Skipped when /usr/bin/chromium is missing (`apt-get install chromium`); Playwright never downloads
a browser of its own here.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.test_admin_ui import PASSWORD, SECRET

CHROMIUM = os.environ.get("FORGE_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "admin-ui"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
)
playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-gpu",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A 401 or 422 page is logged as a failed load; anything else on the console is a script error.
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    yield page
    context.close()
    assert errors == [], f"the browser reported errors: {errors}"


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def expect(locator):
    return playwright_api.expect(locator)


async def tools_listed_by_an_mcp_client(endpoint: str) -> tuple[list[str], str]:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    basic = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    http = create_mcp_http_client(headers={"Authorization": f"Basic {basic}"})
    async with (
        http,
        Client(streamable_http_client(endpoint, http_client=http), mode="legacy", cache=None) as client,
    ):
        names = [tool.name for tool in (await client.list_tools()).tools]
        result = await client.call_tool("weather", {"city": "Bergen"})
        return names, result.content[0].text


def test_an_administrator_builds_a_virtual_server_from_a_rest_endpoint(start_forge, rest_upstream, page):
    forge = start_forge(auth_required=True, basic_auth_password=PASSWORD)
    forge.run(forge.gateway.store.create("tools", {"name": "unrelated", "url": rest_upstream}))
    forge.run(forge.gateway.reload_catalog())

    # Every page asks for a login first; the form is labelled and keyboard friendly.
    page.goto(forge.url + "/admin/tools")
    expect(page.get_by_role("heading", name="Log in to Forge")).to_be_visible()
    shot(page, "01-login")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("heading", name="Tools", exact=True)).to_be_visible()
    assert page.url == forge.url + "/admin/tools"

    # A REST tool, with a mistake in its schema first: the error shows next to the field.
    page.get_by_role("link", name="New tool").click()
    page.get_by_label("Name (required)").fill("weather")
    page.get_by_label("Description").fill("Forecast for a city <b>today</b>")
    page.get_by_label("URL").fill(rest_upstream + "/weather")
    page.get_by_label("HTTP method").select_option("POST")
    schema = page.get_by_role("textbox", name="Input schema (JSON Schema)")
    schema.fill('{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]')
    schema.blur()
    expect(page.locator("#f-input_schema-client-error")).to_contain_text("Not valid JSON")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#f-input_schema-error")).to_contain_text("not valid JSON")
    expect(schema).to_have_attribute("aria-invalid", "true")
    shot(page, "02-tool-form-error")
    schema.fill(
        json.dumps(
            {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "Where"},
                    "days": {"type": "integer"},
                },
                "required": ["city"],
            }
        )
    )
    page.get_by_role("button", name="Format the JSON of Input schema (JSON Schema)").click()
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status").filter(has_text="created")).to_have_text("Tool 'weather' created.")

    # The list filters as you type (server-side pages, swapped in by the script).
    page.get_by_label("Search by name").fill("weath")
    expect(page.locator("#results .count")).to_contain_text("1–1 of 1 tools matching “weath”")
    expect(
        page.get_by_role("cell", name="Forecast for a city <b>today</b>")
    ).to_be_visible()  # escaped, not bold
    shot(page, "03-tools-list")

    # Try it: a form generated from the input schema; the answer appears in place.
    page.get_by_role("link", name="Try weather").click()
    page.get_by_label("city").fill("Oslo")
    page.get_by_label("days").fill("3")
    page.get_by_role("button", name="Call weather").click()
    result = page.locator("[data-result-text]")
    expect(result).to_contain_text('"path": "/weather"')
    echoed = json.loads(result.inner_text())
    assert echoed["json"] == {"city": "Oslo", "days": 3}
    shot(page, "04-try-it")

    # A virtual server holding it, picked from the catalog.
    page.get_by_role("link", name="Virtual servers").click()
    page.get_by_role("link", name="New virtual server").click()
    page.get_by_label("Name (required)").fill("Weather desk")
    page.get_by_label("weather", exact=True).check()
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Weather desk")).to_be_visible()
    endpoint = page.locator("[data-endpoint]").inner_text()
    config = json.loads(page.locator("#client-config").inner_text())
    assert config["mcpServers"]["weather-desk"]["args"] == ["--url", endpoint]
    shot(page, "05-virtual-server")

    # An MCP client finds the tool, and only it, on that endpoint.
    # (in a thread of its own: Playwright's sync API keeps an event loop running in this one)
    with ThreadPoolExecutor(1) as thread:
        names, answer = thread.submit(asyncio.run, tools_listed_by_an_mcp_client(endpoint)).result(60)
    assert names == ["weather"]
    assert json.loads(answer)["json"] == {"city": "Bergen"}

    page.get_by_role("link", name="Metrics").click()
    expect(page.locator("svg[aria-labelledby^='chart-calls'] rect.bar")).to_have_count(1)
    shot(page, "06-metrics")
    page.get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", name="Recent calls")).to_be_visible()
    shot(page, "07-overview")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to Forge")).to_be_visible()
    page.goto(forge.url + "/admin/overview")
    expect(page.get_by_role("heading", name="Log in to Forge")).to_be_visible()


def test_the_ui_works_from_the_keyboard(forge, page):
    page.goto(forge.url + "/admin/overview")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    expect(page.locator(".banner.warning")).to_contain_text("Authentication is off")
    # The navigation is a list of links, reachable in order with Tab.
    page.focus("a.brand")
    seen = []
    for _ in range(3):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert seen == ["Overview", "Tools", "Resources"]
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Resources", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Resources", exact=True)).to_have_attribute("aria-current", "page")
    shot(page, "08-resources-auth-off")


def test_an_administrator_creates_a_token_copies_it_and_revokes_it(start_forge, page):
    forge = start_forge(auth_required=True, basic_auth_password=PASSWORD, jwt_secret_key=SECRET)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=forge.url)
    page.goto(forge.url + "/admin/tokens")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Tokens", exact=True)).to_be_visible()

    # Creating one: no scope ticked is refused next to the scopes, not turned into an admin token.
    page.get_by_role("link", name="New token").click()
    page.get_by_label("Name (required)").fill("ci reader")
    page.get_by_label("Expires after").select_option(label="1 day")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#f-scopes-error")).to_contain_text("choose at least one scope")
    page.get_by_label("read: reads, and every MCP endpoint").check()
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Token ci reader created")).to_be_visible()
    token = page.locator("#new-token").inner_text()
    page.get_by_role("button", name="Copy token").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == token
    shot(page, "09-token-created")

    # Listed (without the token), then revoked after a confirmation.
    page.get_by_role("navigation", name="Admin panels").get_by_role("link", name="Tokens").click()
    expect(page.get_by_role("cell", name="ci reader", exact=True)).to_be_visible()
    expect(page.locator("#results .badge")).to_have_text("active")
    assert token not in page.content()
    page.get_by_role("link", name="Revoke ci reader").click()
    expect(page.get_by_role("heading", name="Revoke token ci reader?")).to_be_visible()
    shot(page, "10-token-revoke")
    page.get_by_role("button", name="Revoke ci reader").click()
    expect(page.get_by_role("status").filter(has_text="revoked")).to_have_text("Token 'ci reader' revoked.")
    expect(page.locator("#results .badge")).to_have_text("revoked")
    expect(page.get_by_role("link", name="Revoke ci reader")).to_have_count(0)
    shot(page, "11-tokens-list")
