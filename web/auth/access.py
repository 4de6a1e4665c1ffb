"""Who may do what: the login gate, CSRF, proxy-header users, transcript ownership and visibility.

PLAYGROUND_AUTH picks the mode. ``none``: no users, nothing changes (the app only listens on
loopback). ``accounts``: built-in users signed in with a session cookie. ``proxy``: a reverse
proxy that authenticated the user names them in a header. In both of the last two a cookie or a
header gives ambient authority, so every state-changing request also needs a CSRF token.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, current_app, jsonify, redirect, request
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy import and_, or_, select, update

from smtp_session.errors import PlaygroundError
from transcripts import db
from transcripts.model import Transcript
from transcripts.rows import matches, transcript_of
from transcripts.schema import MAX_TITLE, VISIBILITIES, transcripts
from transcripts.store import Store
from web.auth.accounts import AccountError, User, UserStore, users, users_cli

log = logging.getLogger(__name__)

MODES = ("none", "accounts", "proxy")
# Reachable without signing in at all.
# The knowledge document is the static SMTP texts every page resolves frames with.
PUBLIC_ENDPOINTS = {"static", "accounts.login", "accounts.logout", "pages.knowledge"}
# Reachable without signing in when the transcript's visibility is ``link`` (GET only).
LINK_ENDPOINTS = {
    "transcripts.replay",
    "transcripts.embed",
    "transcripts_api.get_transcript",
    "transcripts_api.export_transcript",
}
_META_COLUMNS = [c for c in transcripts.c if c.name != "edit_token_hash"]


class AccessError(PlaygroundError):
    """A request refused for who is asking, with an HTTP status."""

    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(message, code)
        self.status = status


def _json_error(message: str, code: str, status: int) -> tuple[Response, int]:
    # The shape of the transcripts API's errors (docs/api-transcripts.md).
    return jsonify({"error": {"code": code, "message": message}}), status


def mode() -> str:
    """The access-control mode of the current app."""
    found: str = current_app.config["AUTH"]
    return found


def accounts() -> UserStore:
    """The current app's users."""
    found: UserStore = current_app.extensions["accounts"]
    return found


def viewer() -> User | None:
    """The signed-in user (None when nobody is, and always in mode none)."""
    if mode() == "none" or not current_user.is_authenticated:
        return None
    user: User = current_user._get_current_object()
    return user


def user_name() -> str | None:
    """The signed-in user's name: the owner of what they record, their limits' subject."""
    user = viewer()
    return user.name if user else None


# -- transcripts: who sees and who edits --------------------------------------------------------


def owns(user: User | None, transcript: Transcript) -> bool:
    """Owners and admins may do anything to a transcript, without its edit token."""
    return user is not None and (user.is_admin or transcript.owner == user.name)


def _same_team(user: User | None, transcript: Transcript) -> bool:
    if user is None or not user.team:
        return False
    return accounts().team_of(transcript.owner) == user.team


# Visibility -> who besides the owner (and admins) may see the transcript.
_SEES: dict[str, Callable[[User | None, Transcript], bool]] = {
    "link": lambda user, transcript: True,  # anyone holding the 192-bit id
    "team": _same_team,
    "private": lambda user, transcript: False,
}


def _trains(user: User | None, transcript: Transcript) -> bool:
    """A trainer sees what their class's students recorded in the class (web/classroom/)."""
    if user is None or user.role != "trainer":
        return False
    classroom = current_app.extensions["playground"].classroom
    return classroom is not None and bool(classroom.store.trained_by(transcript.id, user.name))


def can_view(transcript: Transcript) -> bool:
    """Whether the person asking may see this transcript (callers answer 404 if not)."""
    if mode() == "none":
        return True
    user = viewer()
    if owns(user, transcript) or _trains(user, transcript):
        return True
    return _SEES.get(transcript.visibility, _SEES["private"])(user, transcript)


def can_edit(transcript: Transcript) -> bool:
    """Whether the person asking may edit without the edit token (owner or admin)."""
    return mode() != "none" and owns(viewer(), transcript)


def describe(transcript: Transcript) -> dict[str, Any]:
    """Owner, visibility and what the person asking may do (shown only with access control)."""
    user = viewer()
    return {
        "owner": transcript.owner,
        "visibility": transcript.visibility,
        "can_edit": can_edit(transcript),
        "can_change_visibility": user is not None and transcript.owner == user.name,
    }


def set_visibility(store: Store, transcript: Transcript, visibility: Any) -> None:
    """Change who may see a transcript: its owner only, and only with access control."""
    if visibility not in VISIBILITIES:
        raise AccessError(f"visibility is one of {', '.join(VISIBILITIES)}", 400, "bad_field")
    user = viewer()
    if user is None or transcript.owner != user.name:
        raise AccessError("only the transcript's owner may change its visibility", 403, "forbidden")
    stmt = update(transcripts).where(transcripts.c.id == transcript.id)
    with db.writer(store.engine) as conn, conn.begin():
        conn.execute(stmt.values(visibility=visibility))


def visible_list(store: Store, search: str | None, limit: int, offset: int) -> list[Transcript]:
    """The listing, newest first: everything in mode none and for admins; else one's own and,
    from one's team, those shared with the team or by link. Link transcripts of other teams
    are reachable by their link but not listed."""
    user = viewer()
    if mode() == "none" or (user is not None and user.is_admin):
        return store.list(search=search, limit=limit, offset=offset)
    if user is None:
        return []
    mine = transcripts.c.owner == user.name
    team = and_(
        transcripts.c.visibility.in_(("team", "link")),
        transcripts.c.owner.in_(select(users.c.name).where(users.c.team == user.team)),
    )
    stmt = select(*_META_COLUMNS).where(or_(mine, team) if user.team else mine)
    if search and search.strip():
        stmt = stmt.where(matches(search.strip()[:MAX_TITLE]))
    stmt = stmt.order_by(transcripts.c.created_at.desc(), transcripts.c.id)
    stmt = stmt.limit(max(1, min(limit, 500))).offset(max(0, offset))
    with store.engine.begin() as conn:
        return [transcript_of(row) for row in conn.execute(stmt)]


def _shared_by_link(tid: Any) -> bool:
    if not isinstance(tid, str) or len(tid) > 64:
        return False
    store: Store = current_app.extensions["playground"].store
    with store.engine.begin() as conn:
        found = conn.scalar(select(transcripts.c.visibility).where(transcripts.c.id == tid))
    return found == "link"


# -- the gate ----------------------------------------------------------------------------------


def require_login() -> ResponseReturnValue | None:
    """Before every request: signed in, public, or a GET of a transcript shared by link."""
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    if (
        request.method in ("GET", "HEAD")
        and request.endpoint in LINK_ENDPOINTS
        and _shared_by_link((request.view_args or {}).get("tid"))
    ):
        return None
    # A missing transcript and a private one look the same: neither reveals existence.
    if request.path.startswith(("/api/", "/ws/")) or request.path == "/ws":
        return _json_error("sign in first", "login_required", 401)
    if mode() == "proxy":
        message = "The reverse proxy did not say who you are (PLAYGROUND_USER_HEADER)."
        return Response(message, 401, content_type="text/plain; charset=utf-8")
    query = urlencode({"next": request.full_path.rstrip("?")})
    return redirect(f"/login?{query}")


def _load_session_user(user_id: str) -> User | None:
    name, _, stamp = user_id.rpartition(":")
    user = accounts().get(name)
    # The stamp follows the password hash: a changed password or a proxy-only user fails here.
    if user is None or not stamp or not hmac.compare_digest(user.stamp, stamp):
        return None
    return user


def _load_proxy_user(req: Any) -> User | None:
    cfg = current_app.config
    name = req.headers.get(cfg["USER_HEADER"], "").strip()
    if not name:
        return None
    role = req.headers.get(cfg["ROLE_HEADER"], "").strip() if cfg["ROLE_HEADER"] else ""
    team = req.headers.get(cfg["TEAM_HEADER"], "").strip() if cfg["TEAM_HEADER"] else ""
    try:
        return accounts().vouch(name, role or None, team or None)
    except AccountError as exc:
        log.warning("proxy user header refused: %s", exc.message)
        return None


def _csrf_error(exc: CSRFError) -> tuple[Response, int] | Response:
    if request.path.startswith("/api/"):
        return _json_error(f"CSRF check failed: {exc.description}", "csrf", 400)
    text = f"CSRF check failed: {exc.description} Reload the page and try again."
    return Response(text, 400, content_type="text/plain; charset=utf-8")


def _access_error(exc: AccessError) -> tuple[Response, int]:
    return _json_error(exc.message, exc.code, exc.status)


def _template_context() -> dict[str, Any]:
    return {"auth_mode": mode(), "auth_user": viewer()}


def init_access(app: Flask) -> None:
    """Users, the ``users`` commands and, unless PLAYGROUND_AUTH=none, the gate and CSRF."""
    auth = app.config["AUTH"]
    if auth not in MODES:
        raise ValueError(f"PLAYGROUND_AUTH is one of {', '.join(MODES)}, not {auth!r}")
    engine = app.extensions["playground"].store.engine
    app.extensions["accounts"] = UserStore(engine, app.config.get("PASSWORD_HASHER"))
    app.cli.add_command(users_cli)
    app.context_processor(_template_context)
    app.register_error_handler(AccessError, _access_error)
    app.config.setdefault("USER_HEADER", "X-Forwarded-User")
    app.config.setdefault("ROLE_HEADER", "")
    app.config.setdefault("TEAM_HEADER", "")
    if auth == "none":
        return
    manager = LoginManager(app)
    if auth == "accounts":
        from web.views.accounts_views import init_login

        manager.user_loader(_load_session_user)
        init_login(app)
    else:
        manager.request_loader(_load_proxy_user)
    app.before_request(require_login)  # before CSRF: a stranger hears 401, not 400
    # The replay page sends no Referer (it may carry ?edit=TOKEN), so the token alone is
    # checked, not the HTTPS referrer; and it stays valid as long as the session does.
    app.config.update(WTF_CSRF_SSL_STRICT=False, WTF_CSRF_TIME_LIMIT=None)
    CSRFProtect(app)
    app.register_error_handler(CSRFError, _csrf_error)
