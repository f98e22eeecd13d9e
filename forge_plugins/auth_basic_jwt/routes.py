"""The plugin's routes: OAuth protected resource metadata, tokens issued and revoked.

Layer: plugin routes, a Quart blueprint behind the kernel's guard (`forge.api.guard`).
`/.well-known/...` is public by the guard's rule; `/auth/tokens...` needs credentials like the
rest of the management API: issuing and revoking need "write" (administrators), listing "read".
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, Field
from quart import Blueprint, current_app, g, request
from quart_schema import tag, validate_querystring, validate_request, validate_response

from forge.api.errors import ApiError, invalid_field
from forge.api.guard import requires
from forge.api.schemas import ErrorBody, Page
from forge.asgi import compile_path
from forge_plugins.auth_basic_jwt.challenges import METADATA_PATH, metadata
from forge_plugins.auth_basic_jwt.issued import MAX_MINUTES, STATES, TokenRefused
from forge_plugins.auth_basic_jwt.revocation import JTI
from forge_plugins.auth_basic_jwt.settings import settings_of


class ProtectedResource(BaseModel):
    """RFC 9728 OAuth 2.0 protected resource metadata."""

    resource: str
    authorization_servers: list[str]
    bearer_methods_supported: list[str]
    scopes_supported: list[str]
    resource_name: str


class RevokedToken(BaseModel):
    jti: str
    revoked_at: datetime
    revoked_by: str | None
    reason: str | None


class RevokedTokens(BaseModel):
    items: list[RevokedToken]
    total: int


class NewToken(BaseModel):
    name: str = Field(..., description="What the token is for, shown in listings.")
    scopes: list[str] = Field(
        ...,
        description='At least one of "admin", "read", "server:<id>" (no scopes would make an admin token).',
    )
    expires_minutes: int | None = Field(
        None, description="Minutes until it expires (default: TOKEN_EXPIRY).", ge=1, le=MAX_MINUTES
    )
    subject: str | None = Field(None, description="The `sub` claim (default: the caller's name).")


class IssuedToken(BaseModel):
    jti: str
    name: str
    subject: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    created_by: str | None
    state: str = Field(..., description="active, expired or revoked")


class CreatedToken(IssuedToken):
    token: str = Field(..., description="The signed JWT: shown this once, never stored.")


class IssuedTokens(Page):
    items: list[IssuedToken]


class TokenQuery(BaseModel):
    offset: int = Field(0, ge=0, le=2**63 - 1)  # a 64-bit OFFSET: larger overflows the database driver
    limit: int = Field(50, ge=1, le=1000)
    search: str | None = Field(None, max_length=255, description="Part of the name or subject, any case.")
    state: str = Field("all", pattern="^(" + "|".join(STATES) + ")$")


def build_blueprint(authenticator, tokens) -> Blueprint:
    blueprint = Blueprint("auth_basic_jwt", __name__)

    @blueprint.get(METADATA_PATH)
    @tag(["auth"])
    @validate_response(ProtectedResource)
    async def protected_resource():
        """Where MCP clients learn how to authenticate: the gateway's protected resource metadata."""
        return _metadata("")

    @blueprint.get(METADATA_PATH + "/<path:resource_path>")
    @tag(["auth"])
    @validate_response(ProtectedResource)
    @validate_response(ErrorBody, 404)
    async def endpoint_protected_resource(resource_path: str):
        """The metadata of one MCP endpoint (RFC 9728's path-inserted form: .../mcp, .../servers/{id}/mcp)."""
        path = "/" + resource_path
        if not any(pattern.fullmatch(path) for pattern in _endpoint_patterns()):
            raise ApiError(404, "not_found", f"{path} is not an MCP endpoint of this gateway")
        return _metadata(path)

    @blueprint.get("/auth/tokens")
    @tag(["auth"])
    @validate_querystring(TokenQuery)
    @validate_response(IssuedTokens)
    @requires("read", "tokens")
    async def issued_tokens(query_args: TokenQuery):
        """The tokens this gateway issued (POST /auth/tokens, the admin UI), newest first."""
        items, total = await tokens.page(
            offset=query_args.offset,
            limit=query_args.limit,
            search=query_args.search,
            state=query_args.state,
        )
        return {"items": items, "total": total, "offset": query_args.offset, "limit": query_args.limit}

    @blueprint.post("/auth/tokens")
    @tag(["auth"])
    @validate_request(NewToken)
    @validate_response(CreatedToken, 201)
    @validate_response(ErrorBody, 422)
    @requires("write", "tokens")
    async def issue_token(data: NewToken):
        """Sign a token and record it (without the token itself): the answer is the only time it is shown."""
        try:
            created = await tokens.issue(
                name=data.name,
                scopes=data.scopes,
                expires_minutes=data.expires_minutes,
                subject=data.subject or g.principal.name,
                created_by=g.principal.name,
            )
        except TokenRefused as refused:
            if refused.field is None:
                raise ApiError(409, "cannot_sign", str(refused)) from None
            raise invalid_field(refused.field, str(refused)) from None
        return created, 201

    @blueprint.get("/auth/tokens/revoked")
    @tag(["auth"])
    @validate_response(RevokedTokens)
    @requires("read", "tokens")
    async def revoked_tokens():
        """The tokens revoked before they expire, most recent first."""
        items = await authenticator.revoked.listing()
        return {"items": items, "total": len(items)}

    @blueprint.post("/auth/tokens/<jti>/revoke")
    @tag(["auth"])
    @validate_response(RevokedToken)
    @validate_response(ErrorBody, 422)
    @requires("write", "tokens")
    async def revoke_token(jti: str):
        """Refuse the token with this `jti` claim from now on, on every endpoint (admin only)."""
        if not JTI.match(jti):
            raise ApiError(422, "invalid_jti", "a jti is 1 to 255 printable ASCII characters")
        return await authenticator.revoked.revoke(jti, revoked_by=g.principal.name)

    return blueprint


def _metadata(resource_path: str) -> dict:
    gateway = current_app.config["FORGE_GATEWAY"]
    base = f"{request.scheme}://{request.host}{request.root_path}"
    servers = settings_of(gateway).auth_authorization_servers
    return metadata(base, resource_path, servers, gateway.settings.app_name)


def _endpoint_patterns() -> list[re.Pattern]:
    gateway = current_app.config["FORGE_GATEWAY"]
    return [
        compile_path(route.path) for transport in gateway.transports.values() for route in transport.routes
    ]
