"""The hooks a Forge plugin implements: this file is the plugin author's manual.

Layer: kernel contracts. `forge.plugins` builds the plugin manager from these specs; the app factory
(`forge.app`) calls them. Forge's own defaults (`forge.defaults.*`) implement them exactly as a
third-party plugin would, so any of them can be replaced.

Write a plugin as a module or class with functions named after these hooks, marked `@hookimpl`:

    from forge.hookspecs import hookimpl

    @hookimpl
    def forge_tool_adapters(gateway):
        return {"ECHO": EchoAdapter()}

and announce it in the `forge.plugins` entry-point group of your distribution. Hooks are plain
`def`s (pluggy is synchronous). Where a hook says it "may be async", return a coroutine or any
awaitable and the kernel awaits it; never rely on pluggy's `firstresult` for async answers.
Keep registration cheap: no network or disk work until `forge_startup`.
"""

from __future__ import annotations

import pluggy

PROJECT = "forge"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- Lifecycle -------------------------------------------------------------------------------------


@hookspec
def forge_settings_sections():
    """Contribute a settings section, read from the environment and `.env` like the kernel's.

    Parameters: none; settings are read before the gateway exists.
    Returns: a pydantic-settings `BaseSettings` subclass (give it an `env_prefix`), or None. Forge
    instantiates it at start (a bad value stops start-up with one readable line) and stores the
    instance in `gateway.plugin_settings[<class name>]`.
    Call semantics: all results are collected, in call order.
    May be async: no.
    Default plugin: none in the kernel; plugins with their own knobs implement it.
    """


@hookspec
def forge_startup(gateway):
    """Start what the plugin needs once the store and cache are open: pools, tasks, connections.

    Parameters: `gateway`, the `forge.gateway.Gateway` being started.
    Returns: None, or an awaitable the kernel awaits before serving requests.
    Call semantics: all results are collected, in call order (newest registered plugin first).
    May be async: yes.
    Default plugin: none; the kernel's defaults start in the gateway itself (tool adapters'
    `start()`, the store's `open()`).
    """


@hookspec
def forge_shutdown(gateway):
    """Release what `forge_startup` opened; called once when the server stops.

    Parameters: `gateway`, the `forge.gateway.Gateway` being stopped.
    Returns: None, or an awaitable the kernel awaits; an exception is logged, not raised, so
    every plugin gets its turn.
    Call semantics: all results are collected, in call order.
    May be async: yes.
    Default plugin: none; tool adapters' `aclose()` and the store's `close()` are called by the
    gateway after every plugin's shutdown.
    """


@hookspec
def forge_cli_commands(cli):
    """Add commands to the `forge` command line.

    Parameters: `cli`, the root `click.Group`; call `cli.add_command(...)` or use `@cli.command()`.
    Returns: None.
    Call semantics: all results are collected, in call order.
    May be async: no.
    Default plugin: `forge.defaults.cli_commands` (`serve`, `db upgrade`, `plugins`);
    `forge.defaults.catalog_io` (`import openapi`, `import catalog`, `export`, `client-config`).
    """


# --- Routes and transports -------------------------------------------------------------------------


@hookspec
def forge_blueprints(gateway):
    """Contribute Quart blueprints: management API routes, pages, anything request/response.

    Parameters: `gateway`, the `forge.gateway.Gateway` being built.
    Returns: a list of `quart.Blueprint` (decorate views with quart-schema so they reach
    /openapi.json, or hide HTML pages with `quart_schema.hide`), or None. A route another
    blueprint already serves stops start-up. Every view answers only callers `forge_authenticate`
    vouches for (the principal is `quart.g.principal`); mark one with `forge.api.guard.public` to
    answer anyone (a login page), and declare the right it needs with
    `@forge.api.guard.requires(action, target)` (checked before its body is validated: 403 first).
    Call semantics: all results are collected, in call order.
    May be async: no.
    Default plugin: `forge.defaults.management_api` (/tools, /resources, /prompts, /servers,
    /gateways, /health, /ready, /version, /protocol/*); `forge.defaults.catalog_io`
    (/tools/import/openapi, /export, /import, /servers/{id}/client-config).
    """


@hookspec
def forge_transports(gateway):
    """Contribute the endpoints MCP clients connect to, as plain ASGI handlers.

    These are mounted in front of Quart and bypass its request machinery, so keep them lean:
    no database read and no pydantic per message; use `gateway.engine` to handle MCP messages and
    `gateway.authenticate` for credentials.
    Parameters: `gateway`, the `forge.gateway.Gateway` being built.
    Returns: a `forge.contracts.Transport` (name plus `AsgiRoute`s), or None. Two transports
    claiming the same path, or one name, stop start-up with one line naming both.
    Call semantics: all results are collected, in call order.
    May be async: no.
    Default plugin: `forge.defaults.streamable_http` (/mcp, /servers/{server_id}/mcp, /rpc).
    """


@hookspec
def forge_upstream_connectors(gateway):
    """Contribute the client side of a transport: how Forge opens an MCP session to an upstream.

    The federation plugin looks up a gateway record's `transport` here each time it connects.
    Parameters: `gateway`, the `forge.gateway.Gateway` being built.
    Returns: a dict mapping a transport name ("streamable_http", "sse", "websocket", "stdio") to a
    callable `connect(gateway_record)` answering an async context manager that yields an open
    `forge.contracts.UpstreamSession` (raw JSON-RPC requests, relayed notifications, list changes)
    and closes it on exit, or None. A name claimed twice stops start-up.
    Call semantics: all results are collected, in call order.
    May be async: no (connecting happens in the context manager).
    Default plugin: none in the kernel; `forge_plugins.federation` contributes "streamable_http"
    (2026-07-28 over httpx, the SDK's handshake-era client as fallback), "sse" and "stdio" (a
    command line, started in its own process group), over the official SDK's client transports;
    `forge_plugins.transport_ws` contributes "websocket".
    """


# --- Authentication and authorization --------------------------------------------------------------


@hookspec
def forge_authenticate(gateway, credentials):
    """Decide who is calling from what the request presents.

    Parameters: `gateway`; `credentials`, a `forge.contracts.Credentials` (headers lower-cased,
    query parameters, client address).
    Returns: a `forge.contracts.Principal` for valid credentials; None when this plugin does not
    recognise them (the next plugin is asked). Raise `forge.auth.AuthenticationFailed` for
    credentials this plugin owns but finds invalid (a wrong password, an expired token).
    Call semantics: the first non-None result wins, awaited in call order.
    May be async: yes.
    Default plugin: `forge.defaults.anonymous_auth` answers an anonymous admin principal when
    AUTH_REQUIRED=false; `forge_plugins.auth_basic_jwt` checks Basic and Bearer credentials.
    """


@hookspec
def forge_authorize(gateway, principal, action, target):
    """Decide whether a principal may do something.

    Parameters: `gateway`; `principal`, a `forge.contracts.Principal`; `action`, a string such as
    "read", "write", "mcp"; `target`, what is acted on ("tools", "server:<id>", "mcp:all", ...).
    Returns: True to allow, False to refuse, None to leave it to the next plugin. When every
    plugin answers None the request is refused.
    Call semantics: the first non-None result wins, awaited in call order.
    May be async: yes.
    Default plugin: `forge.defaults.scope_permissions` (admin may do anything, "read" may read,
    "server:<id>" may use that server's MCP endpoints).
    """


@hookspec
def forge_credential_valid(gateway, principal):
    """Decide whether the credential behind an open connection still holds: not revoked, not expired.

    A WebSocket, a legacy SSE stream, a Streamable HTTP session with its GET stream and a
    `subscriptions/listen` stream are authenticated once, when they open, and may stay open for
    days. The kernel (`forge.mcp.revalidation`) asks this hook about the principal of each open
    one every AUTH_RECHECK_SECONDS, on each message a WebSocket or SSE client sends, and whenever a
    plugin calls `await gateway.credential_watch.sweep()` (do so right after revoking a credential,
    so it ends at once); those answered False are ended: the session is closed (its streams end), a
    listen stream ends, a WebSocket closes with code 1008. It runs per message: read no database
    and no network here; keep what you check (a revocation list, an expiry) in memory.
    Parameters: `gateway`; `principal`, the `forge.contracts.Principal` a `forge_authenticate`
    answered when the connection opened (its `method` and `claims` tell whose it is).
    Returns: False when the credential no longer holds; True when it does; None for a principal
    this plugin did not make (the next plugin is asked; when nobody answers, it holds).
    Call semantics: the first non-None result wins, awaited in call order.
    May be async: yes.
    Default plugin: none in the kernel; with no implementation nothing is re-checked and no task
    runs. `forge_plugins.auth_basic_jwt` answers False for a token whose `jti` is revoked or whose
    `exp` has passed, and None for Basic credentials (settings, fixed for the process's life).
    """


@hookspec
def forge_auth_challenge(gateway, credentials):
    """Say how to authenticate: the WWW-Authenticate value of a 401 when no plugin vouched.

    Asked only when every `forge_authenticate` answered None (no credentials, or none a plugin
    recognises); a plugin refusing credentials it owns puts its challenge on the
    `AuthenticationFailed` it raises instead.
    Parameters: `gateway`; `credentials`, the `forge.contracts.Credentials` nobody vouched for;
    `credentials.resource` is the MCP endpoint's URL, None on the management API and the UI.
    Returns: a WWW-Authenticate header value (e.g. `Bearer resource_metadata="..."` for MCP
    clients, as the MCP authorization spec asks), or None to leave it to the next plugin.
    Call semantics: the first non-None result wins, awaited in call order.
    May be async: yes.
    Default plugin: none; without an answer the kernel challenges with `Basic realm="forge"`.
    `forge_plugins.auth_basic_jwt` answers Basic for the API and, for MCP endpoints, a Bearer
    challenge naming its OAuth protected resource metadata (RFC 9728).
    """


# --- Store and cache -------------------------------------------------------------------------------


@hookspec
def forge_store(gateway):
    """Provide the entity store: tools, resources, prompts, virtual servers, gateways, metrics.

    Parameters: `gateway`, with `gateway.settings` read.
    Returns: an object with the interface of `forge.store.repository.Store` (open/close, CRUD per
    entity kind, `snapshot()` for the in-memory catalog), or None to leave it to another plugin.
    Call semantics: the first non-None result wins.
    May be async: no (open connections in the store's `open()`, which the kernel awaits).
    Default plugin: `forge.defaults.sql_store` (SQLAlchemy on DATABASE_URL, Alembic migrations).
    """


@hookspec
def forge_secret_codec(gateway):
    """Provide the codec that encrypts stored secrets before they reach the database.

    The store passes every secret value (the header values of tools and gateways, see
    `forge.secrets.SECRET_FIELDS`) through `codec.encrypt` when writing and `codec.decrypt` when
    reading, so the database holds ciphertext while the catalog, the adapters and plugins see
    plaintext in memory; the management API shows the values masked.
    Parameters: `gateway`, with `gateway.settings` and `gateway.plugin_settings` read (derive the
    key lazily: this is called while the app is built).
    Returns: a `forge.contracts.SecretCodec`, or None to leave it to another plugin.
    Call semantics: the first non-None result wins.
    May be async: no (the codec's methods are synchronous too).
    Default plugin: none; without an answer values are stored as given (`forge.secrets.PLAINTEXT`).
    `forge_plugins.auth_basic_jwt` answers AES-GCM keyed from AUTH_ENCRYPTION_SECRET.
    """


@hookspec
def forge_cache(gateway):
    """Provide the cache used for resource reads and other short-lived values.

    Parameters: `gateway`, with `gateway.settings` read.
    Returns: an `aiocache.BaseCache` instance (or an object with its async get/set/delete/clear),
    or None to leave it to another plugin.
    Call semantics: the first non-None result wins.
    May be async: no.
    Default plugin: `forge.defaults.cache` (aiocache memory, or Redis with CACHE_TYPE=redis).
    """


@hookspec
def forge_after_entity_write(gateway, kind, before, after, principal):
    """React to a change of the catalog made through the management API (or the admin UI).

    Parameters: `gateway`; `kind`, one of "tools", "resources", "prompts", "servers", "gateways";
    `before`, the entity as it was (None when created); `after`, as it is now (None when deleted);
    `principal`, who made the change. The change is committed and the in-memory catalog rebuilt
    before this is called.
    Returns: None, or an awaitable the kernel awaits before answering the request; raising does
    not undo the change (it is logged).
    Call semantics: all results are collected, in call order.
    May be async: yes.
    Default plugin: none in the kernel; the federation plugin connects and imports a gateway when
    one is created or changed.
    """


# --- Cluster ---------------------------------------------------------------------------------------


@hookspec
def forge_cluster_event(gateway, topic, data):
    """Receive an event a plugin in another process serving this gateway published.

    With CACHE_TYPE=redis, the workers of `forge serve --workers N` and the replicas sharing
    REDIS_URL (and REDIS_PREFIX) share one pub/sub channel (`forge.cluster`). A plugin publishes
    with `await gateway.publish_cluster_event(topic, data)`: `topic` names what happened (prefix it
    with your plugin's name, e.g. "auth_basic_jwt.revoked"), `data` is any JSON value (a TypeError
    otherwise); keep it small, and an id to re-read rather than a record. Every other process is
    then called here with both, in order of publication, soon after (well under a second).
    It is fire-and-forget: never delivered to the process that published it (act there yourself),
    nothing is acknowledged or retried, and an event published while Redis is unreachable, or while
    a process's subscription is down, is lost for good. So an event only hastens what must happen
    anyway: keep state that matters in the store, and keep a periodic re-read of it as the safety
    net. Without CACHE_TYPE=redis, a process is alone: publishing tells nobody and this is never
    called. Any process (or an older version) may publish anything under any topic: ignore the
    topics you do not know, and check `data` before you trust it (its type, its size); ignore a
    malformed one.
    Parameters: `gateway`, the receiving `forge.gateway.Gateway`; `topic`, the publisher's string;
    `data`, the decoded JSON value it published.
    Returns: None, or an awaitable the kernel awaits before the next event is handled (so be quick:
    start a task for long work); an exception is logged, and the other plugins and later events
    are still delivered.
    Call semantics: all results are collected, in call order; each implementation is called on
    its own.
    May be async: yes.
    Default plugin: none in the kernel. `forge_plugins.auth_basic_jwt` publishes the jti of a token
    revoked through its API or `forge token revoke`, so every process refuses it at once and ends
    its open connections (its AUTH_REVOCATION_REFRESH re-read stays the safety net).
    """


# --- Tool adapters ---------------------------------------------------------------------------------


@hookspec
def forge_tool_adapters(gateway):
    """Contribute tool adapters: how a tool of a given integration type is invoked.

    Parameters: `gateway`, the `forge.gateway.Gateway` being built.
    Returns: a dict mapping an integration type (upper case, e.g. "REST") to an object with the
    `forge.contracts.ToolAdapter` interface, or None. A type claimed twice stops start-up; a tool
    whose type no adapter claims is refused when it is created.
    Call semantics: all results are collected, in call order.
    May be async: no.
    Default plugin: `forge.defaults.rest_adapter` ("REST").
    """


# --- Invocation ------------------------------------------------------------------------------------


@hookspec
def forge_mcp_middleware(gateway):
    """Contribute around-advice for every MCP message the engine handles, on every transport.

    The place to observe MCP traffic as a whole (metrics, traces, access logs, an audit of tool
    calls) or to answer a message without running its method. A middleware is an async callable
    `middleware(message, connection, call_next)`: `message` is the decoded JSON-RPC message (a
    request, a notification or the client's response; check `"method" in message and "id" in
    message` before treating it as a request), `connection` the transport's
    `forge.mcp.context.Connection` (principal, server id, session, transport name and, on HTTP, the
    request's lower-cased `headers`). `await call_next(message, connection)` runs the rest of the
    chain and answers what the engine answers: a JSON-RPC response dict (a method's failure is
    already an `error` answer by then), None for a notification or response, or a
    `forge.mcp.subscriptions.Subscription` that the transport streams after the chain returns.
    The middleware answers that, or a replacement. It runs in the task serving the message, so
    context variables it sets (an OpenTelemetry span) are seen by the method and the tool adapter;
    `asyncio.CancelledError` passes through it when the request is cancelled. An exception
    escaping a middleware is logged and answered as an internal error (-32603).
    Parameters: `gateway`, the `forge.gateway.Gateway` being built.
    Returns: an async middleware callable as above, or None (e.g. when the plugin's settings turn
    its feature off). The chain is composed once, at start-up.
    Call semantics: all results are collected, in call order; the first is the outermost (it sees
    the message first and the answer last).
    May be async: no (the middleware it returns is async and runs per message).
    Default plugin: none; with no implementation the engine runs no chain at all. The
    observability plugin (`forge_plugins.observability`: metrics, traces, access log) and its
    `audit` plugin (tool calls, with AUDIT_TOOL_CALLS=true) implement it.
    """


@hookspec
def forge_before_tool_call(gateway, call):
    """Inspect, rewrite or refuse a tool call before its adapter runs (the guardrail point).

    Parameters: `gateway`; `call`, a `forge.contracts.ToolCall` (name, validated arguments, the
    stored tool, principal, virtual server id).
    Returns: None to let the call through unchanged, or a dict of replacement arguments that later
    plugins and the adapter see. Raise `forge.contracts.InvocationRejected` to refuse the call: the
    client receives an `isError` result with its message.
    Call semantics: all results are collected, in call order, each seeing earlier rewrites.
    May be async: yes.
    Default plugin: none; with no implementation the kernel skips this step entirely.
    """


@hookspec
def forge_after_tool_call(gateway, call, result):
    """Inspect or rewrite a tool's result before it reaches the client.

    Parameters: `gateway`; `call`, the `forge.contracts.ToolCall` as the adapter saw it; `result`,
    the MCP CallToolResult dict.
    Returns: None to keep the result, or a replacement CallToolResult dict.
    Call semantics: all results are collected, in call order, each seeing earlier rewrites.
    May be async: yes.
    Default plugin: none; with no implementation the kernel skips this step entirely.
    """


@hookspec
def forge_before_prompt_render(gateway, prompt, arguments, principal):
    """Inspect, rewrite or refuse the arguments of a prompts/get before the template renders.

    Parameters: `gateway`; `prompt`, the stored prompt dict; `arguments`, the client's arguments
    dict; `principal`, the caller.
    Returns: None, or a dict of replacement arguments. Raise `InvocationRejected` to refuse.
    Call semantics: all results are collected, in call order, each seeing earlier rewrites.
    May be async: yes.
    Default plugin: none.
    """


@hookspec
def forge_after_prompt_render(gateway, prompt, result, principal):
    """Inspect or rewrite a rendered prompt (a GetPromptResult dict) before it reaches the client.

    Parameters: `gateway`; `prompt`, the stored prompt dict; `result`, the GetPromptResult dict;
    `principal`, the caller.
    Returns: None, or a replacement GetPromptResult dict.
    Call semantics: all results are collected, in call order, each seeing earlier rewrites.
    May be async: yes.
    Default plugin: none.
    """


@hookspec
def forge_before_resource_read(gateway, uri, principal):
    """Inspect or refuse a resources/read before the resource is looked up.

    Parameters: `gateway`; `uri`, the requested URI; `principal`, the caller.
    Returns: None, or a replacement URI string. Raise `InvocationRejected` to refuse.
    Call semantics: all results are collected, in call order, each seeing earlier rewrites.
    May be async: yes.
    Default plugin: none.
    """


@hookspec
def forge_after_resource_read(gateway, uri, result, principal):
    """Inspect or rewrite the contents of a resources/read (a ReadResourceResult dict).

    Parameters: `gateway`; `uri`, the URI read; `result`, the ReadResourceResult dict; `principal`.
    Returns: None, or a replacement ReadResourceResult dict.
    Call semantics: all results are collected, in call order, each seeing earlier rewrites.
    May be async: yes.
    Default plugin: none.
    """


# --- Admin UI --------------------------------------------------------------------------------------


@hookspec
def forge_admin_panels(gateway):
    """Contribute pages to the admin UI's navigation.

    Parameters: `gateway`, the `forge.gateway.Gateway` being built.
    Returns: a `forge.contracts.AdminPanel` or a list of them, or None. Panels are shown by
    `order`, then title; two panels with one id stop start-up. A panel is the page
    /admin/<id>: `await render(gateway, request)` answers an HTML fragment placed as it is in the
    UI's layout, so escape what you put in it (`markupsafe.escape`, or an autoescaped template).
    Call semantics: all results are collected, in call order.
    May be async: no (a panel's `render` is async and runs per request).
    Default plugin: `forge_plugins.admin_ui` renders them and contributes its own (overview,
    tools, resources, prompts, servers, gateways, metrics, ordered 0 to 60, and tokens at 70 when
    `forge_plugins.auth_basic_jwt` is installed); the kernel none.
    """
