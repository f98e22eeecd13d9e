"""Tokens issued by the gateway itself (`POST /auth/tokens`, the admin UI): made, recorded, listed.

Layer: plugin, over SQLAlchemy and the authenticator (its revocation list). The table
`issued_tokens` lives in the catalog's database (the default store's engine is shared; another
store gets an engine of its own on DATABASE_URL) but belongs to this plugin: it is created at
start-up when missing, outside the kernel's Alembic migrations, as the observability plugin's
audit table is. A row holds what a token says (jti, name, subject, scopes, expiry), never the
token: it is shown once, to whoever created it. Tokens signed offline by `forge token` are not
recorded (the command may run where the database is not); they are revoked by their jti.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import jwt
from sqlalchemy import JSON, Column, MetaData, String, Table, func, inspect, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from forge.plugins import PluginError
from forge.store.models import UtcDateTime, utcnow
from forge.store.repository import NotFound
from forge_plugins.auth_basic_jwt.keys import signing_key
from forge_plugins.auth_basic_jwt.tokens import claims_for

STATES = ("active", "expired", "revoked", "all")  # what a listing may be limited to
BASE_SCOPES = ("admin", "read")
SERVER_PREFIX = "server:"
MAX_MINUTES = 5 * 366 * 24 * 60  # five years: a token must expire, and not never in practice

metadata = MetaData()
issued = Table(
    "issued_tokens",
    metadata,
    Column("jti", String(255), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False, index=True),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("created_by", String(255)),
)


class TokenRefused(Exception):
    """A token cannot be made as asked: `field` ("name", "subject", "scopes", "expires_minutes", or
    None for the gateway's own configuration) and what to change."""

    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field = field


class IssuedTokens:
    # Raised by `issue` and `checked_scopes`; reachable from the object, so the admin UI, which
    # finds it through the plugin manager, catches it without importing this plugin.
    Refused = TokenRefused

    def __init__(self, gateway, auth_settings, revoked):
        self.gateway = gateway
        self.auth_settings = auth_settings
        self.revoked = revoked  # the authenticator's RevocationList
        self.engine: AsyncEngine | None = None
        self._own_engine = False
        self._key = None

    async def open(self, store, database_url: str) -> None:
        engine = getattr(store, "engine", None)
        if not isinstance(engine, AsyncEngine):
            engine, self._own_engine = create_async_engine(database_url), True
        self.engine = engine
        try:
            async with engine.begin() as connection:
                await connection.run_sync(metadata.create_all, checkfirst=True)
        except SQLAlchemyError:  # workers starting together race to create it; losing is fine
            async with engine.connect() as connection:
                if not await connection.run_sync(lambda sync: inspect(sync).has_table(issued.name)):
                    raise

    async def close(self) -> None:
        if self._own_engine and self.engine is not None:
            await self.engine.dispose()

    # --- issuing --------------------------------------------------------------------------------

    async def issue(
        self, *, name: str, scopes: Iterable[str], expires_minutes: int | None, subject: str, created_by: str
    ) -> dict:
        """Sign a token and record it; answers the record with the token itself under "token"."""
        name, subject = (name or "").strip(), (subject or "").strip()
        if not name or len(name) > 255:
            raise TokenRefused("name", "give the token a name of 1 to 255 characters")
        if not subject or len(subject) > 255:
            raise TokenRefused("subject", "the subject is 1 to 255 characters")
        scopes = await self.checked_scopes(scopes)
        settings = self.gateway.settings
        minutes = settings.token_expiry if expires_minutes is None else expires_minutes
        if not 1 <= minutes <= MAX_MINUTES:
            raise TokenRefused("expires_minutes", f"a token expires after 1 to {MAX_MINUTES} minutes")
        claims = claims_for(
            subject,
            minutes,
            scopes=scopes,
            audience=self.auth_settings.jwt_audience,
            issuer=self.auth_settings.jwt_issuer,
        )
        token = jwt.encode(claims, self._signing_key(), algorithm=settings.jwt_algorithm)
        record = {
            "jti": claims["jti"],
            "name": name,
            "subject": subject,
            "scopes": scopes,
            "created_at": utcnow(),
            "expires_at": claims["exp"],
            "created_by": created_by,
        }
        async with self.engine.begin() as connection:
            await connection.execute(issued.insert(), [record])
        return {**self._shown(record, utcnow()), "token": token}

    def _signing_key(self):
        if self._key is None:  # read on first use: a key file is no concern of start-up
            settings = self.gateway.settings
            try:
                self._key = signing_key(
                    settings.jwt_algorithm, settings.jwt_secret_key, self.auth_settings.jwt_private_key_file
                )
            except PluginError as error:
                raise TokenRefused(None, f"this gateway cannot sign tokens: {error}") from None
        return self._key

    async def checked_scopes(self, scopes: Iterable[str]) -> list[str]:
        """The scopes, each one the plugin knows; never none, as a token without scopes is an admin
        token (a box left unticked must not grant everything)."""
        chosen = list(dict.fromkeys(str(scope).strip() for scope in scopes if str(scope).strip()))
        if not chosen:
            raise TokenRefused("scopes", "choose at least one scope: admin, read or server:<id>")
        for scope in chosen:
            if scope.startswith(SERVER_PREFIX):
                try:
                    await self.gateway.store.get("servers", scope.removeprefix(SERVER_PREFIX))
                except NotFound:
                    message = f"{scope}: there is no virtual server with that id"
                    raise TokenRefused("scopes", message) from None
            elif scope not in BASE_SCOPES:
                raise TokenRefused("scopes", f"{scope!r} is not a scope: use admin, read or server:<id>")
        return chosen

    # --- listing and revoking -------------------------------------------------------------------

    async def page(
        self, *, offset: int = 0, limit: int = 50, search: str | None = None, state: str = "all"
    ) -> tuple[list[dict], int]:
        """Recorded tokens, newest first, and how many match: `search` is a substring of the name
        or subject (any case); `state` one of STATES."""
        now = utcnow()
        query = select(issued)
        if search:
            needle = f"%{search.lower()}%"
            query = query.where(
                or_(func.lower(issued.c.name).like(needle), func.lower(issued.c.subject).like(needle))
            )
        revoked = sorted(self.revoked.jtis)
        if state == "revoked":
            query = query.where(issued.c.jti.in_(revoked))
        elif state == "expired":
            query = query.where(issued.c.expires_at <= now, issued.c.jti.notin_(revoked))
        elif state == "active":
            query = query.where(issued.c.expires_at > now, issued.c.jti.notin_(revoked))
        async with self.engine.connect() as connection:
            total = await connection.scalar(select(func.count()).select_from(query.subquery()))
            rows = await connection.execute(
                query.order_by(issued.c.created_at.desc(), issued.c.jti).offset(offset).limit(limit)
            )
            return [self._shown(dict(row._mapping), now) for row in rows], total

    async def get(self, jti: str) -> dict:
        async with self.engine.connect() as connection:
            row = (await connection.execute(select(issued).where(issued.c.jti == jti))).first()
        if row is None:
            raise NotFound(f"no token with jti {jti!r} was issued here")
        return self._shown(dict(row._mapping), utcnow())

    async def revoke(self, jti: str, revoked_by: str | None) -> dict:
        return await self.revoked.revoke(jti, revoked_by=revoked_by)

    def _shown(self, record: dict, now: datetime) -> dict:
        if record["jti"] in self.revoked:
            state = "revoked"
        else:
            state = "expired" if record["expires_at"] <= now else "active"
        return {**record, "state": state}
