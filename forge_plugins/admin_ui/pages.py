"""What every view of the UI shares: the gateway, the page layout, cookies, redirects, permissions.

Layer: plugin views' helpers, over Quart's request context and the kernel's `forge.auth`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from markupsafe import Markup
from quart import current_app, g, redirect, render_template, request, url_for

from forge.auth import authorize
from forge_plugins.admin_ui.session import FLASH_COOKIE, sessions_of

PREFIX = "/admin"
UI_TARGET = "admin_ui"  # what `forge_authorize` is asked about: "read" to see the UI at all


def gateway():
    return current_app.config["FORGE_GATEWAY"]


async def require(action: str, target: str) -> None:
    """Raise `NotAllowed` (a 403 page) unless the caller may `action` `target` ("write", "tools")."""
    await authorize(gateway(), g.principal, action, target)


async def fragment(template: str, **context) -> str:
    """A template of this plugin rendered on its own, as a panel's content."""
    return await render_template(f"admin_ui/{template}", **context)


async def page(active: str | None, title: str, content: str, status: int = 200):
    """A full page: the layout and navigation around `content` (HTML this plugin rendered)."""
    body = await render_template("admin_ui/page.html", active=active, title=title, content=Markup(content))
    return body, status


async def page_of(active: str | None, title: str, template: str, status: int = 200, **context):
    return await page(active, title, await fragment(template, **context), status)


def ui_path() -> str:
    """The UI's path as the browser sees it (APP_ROOT_PATH included): where its cookies live."""
    return request.root_path + PREFIX


def is_https() -> bool:
    """Whether the browser reached us over HTTPS, so cookies get `Secure`. Behind TRUSTED_PROXIES
    the scheme is already the client's (forge.forwarded); X-Forwarded-Proto is also believed from
    any peer here because it can only add `Secure` (a liar loses their own cookies), and a TLS
    proxy left out of TRUSTED_PROXIES should not cost the session cookie its flag."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.scheme == "https" or forwarded == "https"


def set_cookie(response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=ui_path(), secure=is_https(), httponly=True, samesite="Lax"
    )


def delete_cookie(response, name: str) -> None:
    response.delete_cookie(name, path=ui_path(), secure=is_https(), httponly=True, samesite="Lax")


def safe_next(target: str | None, default: str) -> str:
    """`target` when it is a path inside the UI (no scheme, no host: no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith(ui_path())
        or target.startswith("//")
        or "\\" in target
    ):
        return default
    return target


def flash_redirect(location: str, message: str, category: str = "success"):
    """303 to `location`, which shows `message` once (a signed, short-lived cookie)."""
    response = redirect(location, 303)
    set_cookie(response, FLASH_COOKIE, sessions_of(gateway()).flash(message, category), max_age=120)
    return response


def back_to(default_endpoint: str, **values) -> str:
    """Where a form's `next` field points, when it is safe; else the endpoint given."""
    return safe_next(g.get("posted_next"), url_for(default_endpoint, **values))
