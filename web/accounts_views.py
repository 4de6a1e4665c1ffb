"""The login page and logout (PLAYGROUND_AUTH=accounts), with failed logins throttled.

Failed logins are limited per client address with Flask-Limiter rather than ``hit_rate``:
its ``deduct_when`` checks the window *before* the password is verified and counts the
attempt only *after* it failed. ``hit_rate`` counts and checks in one step, so it could
only limit every attempt (a class behind one NAT signing in together would be refused)
or check after verifying (a blocked address would still learn a right guess).
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
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.exceptions import TooManyRequests
from wtforms import PasswordField, StringField
from wtforms.validators import InputRequired, Length

from .accounts import MAX_NAME, UserStore

log = logging.getLogger(__name__)
bp = Blueprint("accounts", __name__)

# Failed logins one address may make; more are refused before the password is looked at.
DEFAULT_LOGIN_FAILURES = "10 per 5 minutes"
FAILED = 401  # the status of a wrong name or password: the one the limit counts


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
    user = store.verify(form.name.data, form.password.data)
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


@bp.errorhandler(429)
def _too_many(exc: TooManyRequests) -> tuple[str, int]:
    message = "Too many failed logins from this address. Wait a few minutes and try again."
    return _page(LoginForm(), message, 429)


def init_login(app: Flask) -> None:
    """Register /login and /logout, with failed logins limited per address."""
    app.config.setdefault("LOGIN_FAILURES", DEFAULT_LOGIN_FAILURES)
    app.config.setdefault("LOGIN_LIMIT_PREFIX", "playground:logins")
    limiter = Limiter(
        get_remote_address,
        app=app,
        # Redis shares the count across worker processes, like web/limits.py does.
        storage_uri=app.config["REDIS_URL"] or "memory://",
        key_prefix=app.config["LOGIN_LIMIT_PREFIX"],
        default_limits=[],
    )
    limiter.limit(
        app.config["LOGIN_FAILURES"],
        methods=["POST"],
        deduct_when=lambda response: response.status_code == FAILED,
        exempt_when=lambda: request.endpoint != "accounts.login",  # logout is never refused
    )(bp)
    app.register_blueprint(bp)
    app.extensions["login_limiter"] = limiter
