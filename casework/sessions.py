"""Server-side sessions: the cookie carries a random id only; the data stays on the server.

The session of a page request lives in Redis when ``REDIS_URL`` is set (key
``<SESSION_REDIS_PREFIX><sha256(id)>``), otherwise in the ``server_sessions`` table. Only the
SHA-256 of the id is stored, so a copy of the store opens no session. A session ends:

- at login and logout, and whenever the signed-in user changes (a new id; the old record is
  deleted), so an id planted or seen before login is worth nothing after it;
- after ``SESSION_IDLE_TIMEOUT`` (default 15 minutes) without a request, and
  ``PERMANENT_SESSION_LIFETIME`` (8 hours) after it began however busy it is; both are checked
  here, on the server, from the times in the record, not left to the cookie's expiry;
- when every session of the user is ended (``end_user_sessions``: password change,
  deactivation), which deletes their records besides the session generation check.

The JSON API has no session at all (bearer tokens only): it neither reads nor sets the cookie.

Why not Flask-Session: its stores key records by the raw session id (whoever reads the store
can use every id), it has no absolute lifetime (each request pushes the expiry on), and no
index from a user to their sessions to end them all; those three are the point here.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Flask, Request, current_app, flash, redirect, request
from flask.sessions import SecureCookieSession, SessionInterface, session_json_serializer
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, ForeignKey, String, bindparam, delete, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db, execute_without_objects
from .models_base import UTCDateTime

EXTENSION = "casework_sessions"
# An ended record is kept this long past its expiry (then swept), so that the next request
# can still say why the session ended (idle or too old) rather than only that it did.
GRACE = timedelta(hours=1)
MAX_ID_LENGTH = 128

ENDED_MESSAGES = {
    "idle": _l("You were logged out after %(minutes)s minutes without activity. "
               "Please log in again."),
    "lifetime": _l("Your session reached its limit of %(hours)s hours. Please log in again."),
}


class ServerSessionRecord(db.Model):
    """A web session (database store). ``id_hash`` is the SHA-256 of the cookie's id."""

    __tablename__ = "server_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True)
    data: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def hash_id(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


@dataclass
class Record:
    user_id: str | None  # the user's UUID, as text
    data: dict
    created_at: datetime
    last_seen_at: datetime


class ServerSession(SecureCookieSession):
    """The session dict, with what the store knows about it."""

    def __init__(self, initial=None, *, sid: str | None = None, record: Record | None = None):
        super().__init__(initial)
        self.sid = sid
        self.created_at = record.created_at if record else None
        self.last_seen_at = record.last_seen_at if record else None
        self.loaded_login = (initial or {}).get("_user_id")
        self.regenerate = False
        self.ended_reason: str | None = None  # "idle" or "lifetime", for the login message
        self.stale_cookie = False
        # What ``refresh_in_unit_of_work`` wrote with the request's commit (save_session
        # then has nothing left to write unless the session changed after it).
        self.refreshed: dict | None = None

    @property
    def new(self) -> bool:  # SessionMixin
        return self.sid is None


def regenerate() -> None:
    """Give the current session a new id at the end of this request (the old one dies)."""
    from flask import session

    if isinstance(session._get_current_object(), ServerSession):
        session.regenerate = True


def _expiry(app: Flask, created_at: datetime, last_seen_at: datetime) -> datetime:
    return min(last_seen_at + app.config["SESSION_IDLE_TIMEOUT"],
               created_at + app.permanent_session_lifetime)


def _ended(app: Flask, record: Record, now: datetime) -> str | None:
    if now >= record.created_at + app.permanent_session_lifetime:
        return "lifetime"
    if now >= record.last_seen_at + app.config["SESSION_IDLE_TIMEOUT"]:
        return "idle"
    return None


def _user_uuid(login_id: str | None) -> str | None:
    """The user's UUID from Flask-Login's ``_user_id`` ("<uuid>:<generation>")."""
    if not login_id:
        return None
    return str(login_id).partition(":")[0] or None


def _encode(data: dict) -> dict:
    return json.loads(session_json_serializer.dumps(dict(data)))


def _decode(data) -> dict:
    return session_json_serializer.loads(json.dumps(data))


# --- stores ------------------------------------------------------------------------------------


class DatabaseStore:
    """The ``server_sessions`` table, read and refreshed in the request's own transaction
    (one connection and one transaction a request: the record is read as the request begins
    and its refresh is committed with the request's work). A new, regenerated or ended
    session, or one a failed request changed, is written after the request, on a connection
    of its own. Ending a user's sessions is part of the unit of work that ends them, so it
    stands or falls with the password change."""

    table = ServerSessionRecord.__table__
    in_unit_of_work = True
    # Every page reads and refreshes its record: the two statements are built once (building
    # one costs about as much as its round trip to the database).
    _select = select(table).where(table.c.id_hash == bindparam("record_id_hash"))
    _refresh = update(table).where(table.c.id_hash == bindparam("record_id_hash"))

    def load(self, id_hash: str) -> Record | None:
        row = execute_without_objects(self._select, {"record_id_hash": id_hash}).first()
        if row is None:
            return None
        return Record(str(row.user_id) if row.user_id else None, _decode(row.data),
                      row.created_at, row.last_seen_at)

    def create(self, id_hash: str, record: Record, expires_at: datetime) -> None:
        with db.engine.begin() as conn:
            # Sweep records ended long enough ago (their reason is no longer shown).
            conn.execute(delete(self.table).where(
                self.table.c.expires_at < datetime.now(UTC) - GRACE))
            conn.execute(insert(self.table).values(
                id_hash=id_hash, user_id=uuid.UUID(record.user_id) if record.user_id else None,
                data=_encode(record.data), created_at=record.created_at,
                last_seen_at=record.last_seen_at, expires_at=expires_at))

    @staticmethod
    def _refreshed(id_hash: str, record: Record, expires_at: datetime) -> dict:
        """The parameters of ``_refresh``: the record's new values (SET) for its id (WHERE;
        only a record still there: a session ended meanwhile stays ended)."""
        return {"record_id_hash": id_hash, "data": _encode(record.data),
                "created_at": record.created_at, "last_seen_at": record.last_seen_at,
                "expires_at": expires_at}

    def update(self, id_hash: str, record: Record, expires_at: datetime) -> None:
        with db.engine.begin() as conn:
            conn.execute(self._refresh, self._refreshed(id_hash, record, expires_at))

    def update_in_unit_of_work(self, id_hash: str, record: Record, expires_at: datetime) -> dict:
        """Refresh the record in the request's transaction; the data as written (encoded)."""
        params = self._refreshed(id_hash, record, expires_at)
        execute_without_objects(self._refresh, params)
        return params["data"]

    def delete(self, id_hash: str) -> None:
        with db.engine.begin() as conn:
            conn.execute(delete(self.table).where(self.table.c.id_hash == id_hash))

    def discard_ended(self, id_hash: str) -> None:
        """An ended session found as the request begins: deleted in the request's
        transaction (which already holds SQLite's write lock)."""
        db.session.execute(delete(self.table).where(self.table.c.id_hash == id_hash))

    def delete_user(self, user_id: uuid.UUID) -> None:
        db.session.execute(delete(self.table).where(self.table.c.user_id == user_id))


class RedisStore:
    """Redis: one key per session holding JSON, with a TTL that follows the expiry, and a set
    per user (``<prefix>user:<uuid>``) of the hashes of their sessions."""

    in_unit_of_work = False

    def __init__(self, url: str, prefix: str):
        import redis

        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix

    def _key(self, id_hash: str) -> str:
        return f"{self.prefix}{id_hash}"

    def _user_key(self, user_id) -> str:
        return f"{self.prefix}user:{user_id}"

    @staticmethod
    def _ttl(expires_at: datetime) -> int:
        return max(1, int((expires_at + GRACE - datetime.now(UTC)).total_seconds()))

    @staticmethod
    def _dump(record: Record) -> str:
        return json.dumps({"user_id": record.user_id, "data": _encode(record.data),
                           "created_at": record.created_at.timestamp(),
                           "last_seen_at": record.last_seen_at.timestamp()})

    def load(self, id_hash: str) -> Record | None:
        raw = self.redis.get(self._key(id_hash))
        if raw is None:
            return None
        value = json.loads(raw)
        return Record(value["user_id"], _decode(value["data"]),
                      datetime.fromtimestamp(value["created_at"], UTC),
                      datetime.fromtimestamp(value["last_seen_at"], UTC))

    def create(self, id_hash: str, record: Record, expires_at: datetime) -> None:
        pipe = self.redis.pipeline()
        pipe.set(self._key(id_hash), self._dump(record), ex=self._ttl(expires_at), nx=True)
        if record.user_id:
            pipe.sadd(self._user_key(record.user_id), id_hash)
            pipe.expire(self._user_key(record.user_id),
                        int((current_app.permanent_session_lifetime + GRACE).total_seconds()))
        pipe.execute()

    def update(self, id_hash: str, record: Record, expires_at: datetime) -> None:
        self.redis.set(self._key(id_hash), self._dump(record), ex=self._ttl(expires_at), xx=True)

    def delete(self, id_hash: str) -> None:
        self.redis.delete(self._key(id_hash))

    discard_ended = delete

    def delete_user(self, user_id: uuid.UUID) -> None:
        user_key = self._user_key(user_id)
        hashes = [h.decode() if isinstance(h, bytes) else h
                  for h in self.redis.smembers(user_key)]
        self.redis.delete(user_key, *(self._key(h) for h in hashes))


def store_for(app: Flask):
    return app.extensions[EXTENSION]


def init_app(app: Flask) -> None:
    if app.config.get("REDIS_URL"):
        store = RedisStore(app.config["REDIS_URL"], app.config["SESSION_REDIS_PREFIX"])
    else:
        store = DatabaseStore()
    app.extensions[EXTENSION] = store
    app.session_interface = ServerSideSessionInterface()


def refresh_in_unit_of_work() -> None:
    """Called just before a successful request commits: refresh its session's record in the
    same transaction (the database store), so that the request needs no second connection
    and transaction for it. ``save_session`` writes nothing more unless the session changed
    after this, or the session is new, regenerated or empty (those it handles itself)."""
    from flask import session

    current = session._get_current_object()
    if (not isinstance(current, ServerSession) or current.sid is None or not current
            or current.regenerate or current.get("_user_id") != current.loaded_login):
        return
    store = store_for(current_app)
    if not store.in_unit_of_work or ServerSideSessionInterface._sessionless(
            current_app, request):
        return
    now = datetime.now(UTC)
    data = dict(current)
    record = Record(_user_uuid(current.get("_user_id")), data, current.created_at, now)
    current.refreshed = store.update_in_unit_of_work(
        hash_id(current.sid), record, _expiry(current_app, current.created_at, now))


def end_user_sessions(user) -> None:
    """Delete every session of ``user`` (password change, deactivation)."""
    store_for(current_app).delete_user(user.id)


def ended_notice() -> str | None:
    """Why the session of this request ended (idle, too old), as a message; else None."""
    from flask import session

    reason = getattr(session._get_current_object(), "ended_reason", None)
    if reason is None:
        return None
    return str(ENDED_MESSAGES[reason] % {
        "minutes": int(current_app.config["SESSION_IDLE_TIMEOUT"].total_seconds() // 60),
        "hours": int(current_app.permanent_session_lifetime.total_seconds() // 3600),
    })


def redirect_to_login_if_ended():
    """For a page that needs a login, after a timeout: the login page, saying why."""
    notice = ended_notice()
    if notice is None:
        return None
    from flask_login import login_url

    flash(notice, "info")
    return redirect(login_url("auth.login", next_url=request.url))


# --- the interface -----------------------------------------------------------------------------


class ServerSideSessionInterface(SessionInterface):
    """Flask's session, kept on the server; none at all for /api/ and static files."""

    session_class = ServerSession

    @staticmethod
    def _sessionless(app: Flask, req: Request) -> bool:
        return req.path.startswith("/api/") or req.path.startswith(
            (app.static_url_path or "/static") + "/")

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        if self._sessionless(app, request):
            return self.session_class()
        sid = request.cookies.get(self.get_cookie_name(app))
        if not sid:
            return self.session_class()
        session = None
        if len(sid) <= MAX_ID_LENGTH:
            store = store_for(app)
            id_hash = hash_id(sid)
            record = store.load(id_hash)
            if record is not None:
                reason = _ended(app, record, datetime.now(UTC))
                if reason is None:
                    return self.session_class(record.data, sid=sid, record=record)
                store.discard_ended(id_hash)
                session = self.session_class()
                if record.user_id:
                    session.ended_reason = reason
        if session is None:
            session = self.session_class()
        session.stale_cookie = True  # an id that opens nothing: the cookie goes
        return session

    def save_session(self, app: Flask, session: ServerSession, response) -> None:
        if self._sessionless(app, request) or not isinstance(session, ServerSession):
            return
        store = store_for(app)
        name = self.get_cookie_name(app)
        cookie = {"domain": self.get_cookie_domain(app), "path": self.get_cookie_path(app),
                  "secure": self.get_cookie_secure(app),
                  "samesite": self.get_cookie_samesite(app),
                  "httponly": self.get_cookie_httponly(app)}
        if session.accessed:
            response.vary.add("Cookie")

        if session.sid is not None and (session.regenerate
                                        or session.get("_user_id") != session.loaded_login):
            # Logged in, out, or as someone else, or asked for: the old id dies here.
            store.delete(hash_id(session.sid))
            session.sid = None
            session.created_at = None
            session.stale_cookie = True
        if not session:
            if session.sid is not None:
                store.delete(hash_id(session.sid))
                session.sid = None
                session.stale_cookie = True
            if session.stale_cookie:
                response.delete_cookie(name, **cookie)
                response.vary.add("Cookie")
            return

        now = datetime.now(UTC)
        if session.sid is None:
            sid = secrets.token_urlsafe(32)
            record = Record(_user_uuid(session.get("_user_id")), dict(session), now, now)
            store.create(hash_id(sid), record, _expiry(app, now, now))
            session.sid, session.created_at, session.last_seen_at = sid, now, now
            expires = now + app.permanent_session_lifetime if session.permanent else None
            response.set_cookie(name, sid, expires=expires, **cookie)
            response.vary.add("Cookie")
            return
        # Every request refreshes the record (one write, the same on every page, so the idle
        # clock is exact and a page's statements do not depend on when it was last seen),
        # usually already with the request's commit (refresh_in_unit_of_work).
        if session.refreshed is not None and _encode(dict(session)) == session.refreshed:
            return
        record = Record(_user_uuid(session.get("_user_id")), dict(session), session.created_at,
                        now)
        store.update(hash_id(session.sid), record, _expiry(app, session.created_at, now))
