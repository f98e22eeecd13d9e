"""The UI's blueprint: login and logout, the page of each panel, static files, and the rules every
request of the UI follows (a principal allowed to "read" "admin_ui", a CSRF token on each post).

Layer: plugin, the top of it. The kernel's guard (`forge.api.guard`) authenticates each request
before these views run; the session cookie counts because this plugin's `forge_authenticate`
accepts it. The panels' own routes are added by each panel (`panels.Panel.register`).
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path

from quart import Blueprint, g, redirect, request, send_from_directory, url_for
from quart_schema import hide
from werkzeug.exceptions import HTTPException

from forge.api.guard import public
from forge.auth import AuthenticationFailed, NotAllowed, TooManyFailures, authenticate, authorize
from forge.contracts import Credentials
from forge.store.repository import NotFound
from forge_plugins.admin_ui import pages
from forge_plugins.admin_ui.pages import UI_TARGET, delete_cookie, gateway, page_of, set_cookie
from forge_plugins.admin_ui.session import CSRF_COOKIE, CSRF_FIELD, FLASH_COOKIE, SESSION_COOKIE, sessions_of

log = logging.getLogger("forge.admin_ui")
HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def build_blueprint(panels) -> Blueprint:
    blueprint = Blueprint("admin_ui", __name__, url_prefix=pages.PREFIX, template_folder="templates")
    blueprint.before_request(_before)
    blueprint.after_request(_after)
    blueprint.context_processor(_context)
    blueprint.register_error_handler(AuthenticationFailed, _to_login)
    blueprint.register_error_handler(NotAllowed, _forbidden)
    blueprint.register_error_handler(NotFound, _not_found)
    blueprint.register_error_handler(HTTPException, _http_error)
    blueprint.add_url_rule("/static/<path:filename>", "static_file", public(_static), methods=["GET"])
    blueprint.add_url_rule("/login", "login", public(_login), methods=["GET", "POST"])
    blueprint.add_url_rule("/logout", "logout", _logout, methods=["POST"])
    blueprint.add_url_rule("", "index", _index, methods=["GET"], strict_slashes=False)
    blueprint.add_url_rule("/<panel_id>", "panel", _panel, methods=["GET"])
    for panel in panels:
        panel.register(blueprint)
    blueprint.record(_hide_from_openapi)  # recorded last: runs once every view above is registered
    return blueprint


def _hide_from_openapi(state) -> None:
    """HTML pages are no part of the management API: keep them out of /openapi.json."""
    for endpoint, view in state.app.view_functions.items():
        if endpoint.startswith(f"{state.name}."):
            hide(view)


# --- what every request goes through ------------------------------------------------------------


async def _before():
    if request.endpoint == "admin_ui.static_file":
        return None
    nonce = request.cookies.get(CSRF_COOKIE)
    g.new_csrf_nonce = None if nonce else sessions_of(gateway()).new_nonce()
    g.csrf_nonce = nonce or g.new_csrf_nonce
    g.flash = sessions_of(gateway()).read_flash(request.cookies.get(FLASH_COOKIE))
    if request.method == "POST":
        form = await request.form
        g.posted_next = form.get("next")
        if not sessions_of(gateway()).csrf_valid(nonce, form.get(CSRF_FIELD)):
            log.warning("admin UI: refused a %s %s without a valid CSRF token", request.method, request.path)
            message = (
                "This form has expired or did not come from this page. Go back, reload it and try again."
            )
            return await page_of(None, "Refused", "error.html", 403, heading="Form refused", message=message)
    if g.get("principal") is not None:  # None only on the public views: login, static files
        await authorize(gateway(), g.principal, "read", UI_TARGET)
    return None


async def _after(response):
    if g.get("new_csrf_nonce"):
        set_cookie(response, CSRF_COOKIE, g.new_csrf_nonce)
    if g.get("flash") and response.status_code < 300:
        delete_cookie(response, FLASH_COOKIE)  # shown once
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.url_rule is None or request.url_rule.endpoint != "admin_ui.static_file":
        response.headers["Cache-Control"] = "no-store"
    return response


def _context():
    gw = gateway()
    return {
        "app_name": gw.settings.app_name,
        "panels": gw.admin_panels,
        "principal": g.get("principal"),
        "auth_required": gw.settings.auth_required,
        "csrf_field": CSRF_FIELD,
        "csrf_token": sessions_of(gw).csrf_token(g.csrf_nonce) if g.get("csrf_nonce") else "",
        "flash": g.get("flash"),
        "current_url": request.root_path + (request.full_path if request.query_string else request.path),
    }


# --- error pages --------------------------------------------------------------------------------


async def _to_login(error: AuthenticationFailed):
    here = request.root_path + request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("admin_ui.login", next=here) if here else url_for("admin_ui.login"), 303)


async def _forbidden(error: NotAllowed):
    return await page_of(None, "Not allowed", "error.html", 403, heading="Not allowed", message=str(error))


async def _not_found(error: NotFound):
    return await page_of(None, "Not found", "error.html", 404, heading="Not found", message=str(error))


async def _http_error(error: HTTPException):
    code = error.code or 500
    return await page_of(None, error.name, "error.html", code, heading=error.name, message=error.description)


# --- routes -------------------------------------------------------------------------------------


async def _static(filename: str):
    response = await send_from_directory(HERE / "static", filename)
    response.cache_control.max_age = 3600
    return response


async def _login():
    gw = gateway()
    next_url = pages.safe_next(request.args.get("next") or g.get("posted_next"), url_for("admin_ui.index"))
    if not gw.settings.auth_required:
        return redirect(next_url, 303)
    if request.method == "GET":
        return await page_of(None, "Log in", "login.html", next_url=next_url, username="", error=None)
    form = await request.form
    username, password = form.get("username", "").strip(), form.get("password", "")
    headers: dict[str, str] = {}
    basic = base64.b64encode(f"{username}:{password}".encode()).decode()
    credentials = Credentials(headers={"authorization": f"Basic {basic}"}, client_address=request.remote_addr)
    try:
        principal = await authenticate(gw, credentials)
        await authorize(gw, principal, "read", UI_TARGET)
    except TooManyFailures as throttled:  # the password was not even checked: say so, not "wrong"
        log.warning("admin UI: login throttled for %s", request.remote_addr)
        error, status = f"Too many attempts, try again in {throttled.retry_after} s.", 429
        headers = throttled.headers
    except AuthenticationFailed:
        log.warning("admin UI: failed login for %r from %s", username, request.remote_addr)
        error, status = "Wrong user name or password.", 401
    except NotAllowed:
        error, status = f"{username!r} may not use the admin UI.", 403
    else:
        response = redirect(next_url, 303)
        sessions = sessions_of(gw)
        set_cookie(response, SESSION_COOKIE, sessions.issue(principal), max_age=sessions.max_age)
        set_cookie(response, CSRF_COOKIE, sessions.new_nonce())  # a fresh nonce for the new session
        g.new_csrf_nonce = None
        return response
    body, status = await page_of(
        None, "Log in", "login.html", status, next_url=next_url, username=username, error=error
    )
    return body, status, headers


async def _logout():
    response = redirect(url_for("admin_ui.login"), 303)
    delete_cookie(response, SESSION_COOKIE)
    return response


async def _index():
    panels = gateway().admin_panels
    if not panels:
        return await page_of(
            None, "Admin", "error.html", heading="No panels", message="No plugin contributes a panel."
        )
    return redirect(url_for("admin_ui.panel", panel_id=panels[0].id))


async def _panel(panel_id: str):
    gw = gateway()
    panel = next((p for p in gw.admin_panels if p.id == panel_id), None)
    if panel is None:
        message = f"There is no panel {panel_id!r}."
        return await page_of(None, "Not found", "error.html", 404, heading="Not found", message=message)
    try:
        content = await panel.render(gw, request)
    except (NotAllowed, NotFound, AuthenticationFailed, HTTPException):
        raise
    except Exception:
        log.exception("admin panel %r failed to render", panel_id)
        message = "This panel failed to render; the gateway log has the details."
        return await page_of(panel.id, panel.title, "error.html", 500, heading=panel.title, message=message)
    return await pages.page(panel.id, panel.title, content)
