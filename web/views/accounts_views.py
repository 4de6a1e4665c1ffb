"""The login page and logout (PLAYGROUND_AUTH=accounts), with failed logins throttled.

web/auth/logins.py counts each attempt, per address and per account, before the password is
verified (a burst cannot race the check) and gives a right one's place back (a class behind
one NAT can sign in); verifications run through its small pool (bounded memory).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    redirect,
    render_template,
    request,
    session,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from web.auth.accounts import MAX_NAME, UserStore
from web.auth.logins import (
    DEFAULT_ACCOUNT_FAILURES,
    DEFAULT_ADDRESS_FAILURES,
    DEFAULT_VERIFY_POOL,
    DEFAULT_VERIFY_WAIT_S,
    LoginGuard,
    LoginRefused,
)

log = logging.getLogger(__name__)
bp = Blueprint("accounts", __name__)

FAILED = 401  # the status of a wrong name or password


class LoginForm(FlaskForm):
    """Name and password; Flask-WTF adds and checks the CSRF token."""

    name = StringField("Name", validators=[InputRequired(), Length(max=MAX_NAME)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=1024)])


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


def _page(form: LoginForm, error: str | None, status: int) -> tuple[str, int]:
    html = render_template(
        "login.html", form=form, error=error, next=safe_next(request.args.get("next"))
    )
    return html, status


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Sign in with a name and password."""
    form = LoginForm()
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    if not form.validate_on_submit():
        return _page(form, None, 400 if request.method == "POST" else 200)
    store: UserStore = current_app.extensions["accounts"]
    guard: LoginGuard = current_app.extensions["login_guard"]
    name, password = form.name.data or "", form.password.data or ""
    try:
        with guard.attempt(request.remote_addr or "", name) as attempt:
            user = guard.verify(lambda: store.verify(name, password))
            if user is not None:
                attempt.succeeded()
    except LoginRefused as refused:
        return _refused(form, refused)
    if user is None:
        # The attempted name is not logged: people type passwords into the name field.
        log.warning("failed login from %s", request.remote_addr)
        return _page(form, "Wrong name or password.", FAILED)
    session.clear()  # nothing from before signing in carries over
    login_user(user)
    log.info("%s signed in from %s", user.name, request.remote_addr)
    return redirect(safe_next(request.args.get("next")))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out (POST with the CSRF token, so another site cannot sign you out)."""
    logout_user()
    session.clear()
    return redirect("/login")


def _refused(form: LoginForm, refused: LoginRefused) -> ResponseReturnValue:
    log.warning("login refused (%s) from %s", refused.code, request.remote_addr)
    html, status = _page(form, refused.message, refused.status)
    return html, status, {"Retry-After": str(max(1, round(refused.retry_after_s)))}


def init_login(app: Flask) -> None:
    """Register /login and /logout, with failed logins limited per address and account."""
    app.config.setdefault("LOGIN_FAILURES", DEFAULT_ADDRESS_FAILURES)
    app.config.setdefault("LOGIN_ACCOUNT_FAILURES", DEFAULT_ACCOUNT_FAILURES)
    app.config.setdefault("LOGIN_VERIFY_POOL", DEFAULT_VERIFY_POOL)
    app.config.setdefault("LOGIN_VERIFY_WAIT", DEFAULT_VERIFY_WAIT_S)
    app.config.setdefault("LOGIN_LIMIT_PREFIX", "playground:logins")
    # Redis (REDIS_URL) shares the counts across worker processes, like web/live/limits.py does.
    app.extensions["login_guard"] = LoginGuard(app.config)
    app.register_blueprint(bp)
