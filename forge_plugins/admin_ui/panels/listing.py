"""A list page, as every list of the UI shows one: a search box, a "Show" filter, a count, a table
whose rows carry links and one-button forms, and pagination.

Layer: plugin panels, over the templates `list.html` and `macros.html`. A `ListPage` states what
differs (columns, filter choices, row actions, where the rows come from); `paginate` cuts pages
for lists held in memory too (metrics). Rows are pages the source cuts (`offset`, `limit`, a
count): a catalog of 10,000 tools renders one page of 50, never all of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from quart import url_for

from forge_plugins.admin_ui.pages import fragment, gateway, page, require
from forge_plugins.admin_ui.panels import Panel
from forge_plugins.admin_ui.settings import settings_of


@dataclass(frozen=True)
class Column:
    """A column: a field name or a function of the row; `kind`: text, code, link (to the row's
    edit page), state (a badge named after the value), error, onoff (an enabled/disabled badge)."""

    label: str
    value: str | Callable[[Mapping[str, Any]], Any]
    kind: str = "text"

    def of(self, row: Mapping[str, Any]) -> Any:
        return row.get(self.value) if isinstance(self.value, str) else self.value(row)


@dataclass(frozen=True)
class Action:
    """A control on each row: a link, or (`post`) a one-button form with the CSRF token and the
    page to come back to. `text` and `endpoint` (an endpoint taking `entity_id`) may depend on
    the row; `shown` says whether the row has it at all."""

    text: str | Callable[[Mapping[str, Any]], str]
    endpoint: str | Callable[[Mapping[str, Any]], str]
    post: bool = False
    danger: bool = False
    shown: Callable[[Mapping[str, Any]], bool] | None = None

    def text_of(self, row: Mapping[str, Any]) -> str:
        return self.text if isinstance(self.text, str) else self.text(row)

    def url(self, row: Mapping[str, Any], key: str) -> str:
        endpoint = self.endpoint if isinstance(self.endpoint, str) else self.endpoint(row)
        return url_for(endpoint, entity_id=row[key])

    def shown_on(self, row: Mapping[str, Any]) -> bool:
        return self.shown is None or self.shown(row)


@dataclass(frozen=True)
class Pagination:
    rows: list
    total: int
    page: int
    pages: int
    first: int
    last: int
    previous: str | None
    next: str | None


def page_number(args: Mapping[str, str]) -> int:
    try:
        return max(int(args.get("page") or 1), 1)
    except ValueError:
        return 1


def page_count(total: int, size: int) -> int:
    return max((total + size - 1) // size, 1)


def paginate(rows: list, total: int, number: int, size: int, link: Callable[[int], str]) -> Pagination:
    """Page `number` of `total` rows, `rows` being that page's; `link(n)` is page n's URL."""
    pages = page_count(total, size)
    first = (number - 1) * size + 1 if total else 0
    return Pagination(
        rows=rows,
        total=total,
        page=number,
        pages=pages,
        first=first,
        last=first + len(rows) - 1 if rows else 0,
        previous=link(number - 1) if number > 1 else None,
        next=link(number + 1) if number < pages else None,
    )


@dataclass(frozen=True)
class Query:
    """What a list is asked for: the search text, the filter's value, and the rows of one page."""

    search: str | None
    state: str
    offset: int
    limit: int


@dataclass(frozen=True, kw_only=True)
class ListPage(Panel):
    """A panel whose page is a list. `source`: async (gateway, Query) -> (rows, total); `read`: the
    target whose "read" right the list needs; `states`: the filter's (value, label) choices, the
    first the default; `new`: the text of a link to the endpoint `admin_ui.<id>_new`."""

    singular: str
    columns: tuple[Column, ...]
    source: Callable[[Any, Query], Awaitable[tuple[list, int]]] | None = None
    read: str = ""
    actions: tuple[Action, ...] = ()
    states: tuple[tuple[str, str], ...] = ()
    intro: str = ""
    label_key: str = "name"
    key: str = "id"
    new: str | None = None
    search_by: str | None = None  # what the search box matches, when not the name (or URI)

    def label(self, row: Mapping[str, Any]) -> str:
        return str(row.get(self.label_key) or row.get(self.key))

    @property
    def search_label(self) -> str:
        return self.search_by or ("URI" if self.label_key == "uri" else "name")

    @property
    def table_columns(self) -> tuple[Column, ...]:
        return self.columns

    @property
    def row_actions(self) -> tuple[Action, ...]:
        return self.actions

    async def fetch(self, gw, query: Query) -> tuple[list, int]:
        return await self.source(gw, query)

    async def render(self, gw, request) -> str:
        return await self.fragment(request.args)

    async def fragment(self, args: Mapping[str, str]) -> str:
        await require("read", self.read or self.id)
        size = settings_of(gateway()).page_size
        search = (args.get("q") or "").strip()[:255]
        values = [value for value, _ in self.states]
        state = args.get("state") if args.get("state") in values else (values[0] if values else "")
        number = page_number(args)
        rows, total = await self.fetch(gateway(), Query(search or None, state, (number - 1) * size, size))
        if number > page_count(total, size) and total:  # past the end (a filter shrank it): the last
            number = page_count(total, size)
            rows, total = await self.fetch(gateway(), Query(search or None, state, (number - 1) * size, size))

        def link(to: int) -> str:
            params = {"q": search, "state": state if values and state != values[0] else "", "page": to}
            params = {name: value for name, value in params.items() if value}
            return url_for("admin_ui.panel", panel_id=self.id) + ("?" + urlencode(params) if params else "")

        listing = paginate(rows, total, number, size, link)
        return await fragment("list.html", spec=self, listing=listing, q=search, state=state)


async def confirm(
    spec: ListPage,
    *,
    heading: str,
    action: str,
    button: str,
    explanation: list[str],
    hidden: Mapping[str, str] | None = None,
    error: str | None = None,
):
    """The page that asks before a row is deleted or revoked: a form posting to `action`."""
    content = await fragment(
        "confirm.html",
        spec=spec,
        heading=heading,
        action=action,
        button=button,
        explanation=explanation,
        hidden=hidden or {},
        error=error,
    )
    return await page(spec.id, heading, content, 409 if error else 200)
