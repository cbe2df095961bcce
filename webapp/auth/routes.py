"""Login and logout pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from webapp.auth import bp
from webapp.auth.forms import LoginForm
from webapp.auth.models import Role
from webapp.auth.services import authenticate, end_sessions
from webapp.security import login_limits


def home_for(user) -> str:
    """Where a user lands after logging in."""
    if user.role == Role.STUDIO:
        return url_for("studio.index")
    return url_for("admin.dashboard")


@bp.get("/")
def index():
    """Send visitors to their home page or the login page."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
@login_limits
def login():
    """Show the login form and log the user in."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is None:
            flash(_("Wrong e-mail or password."), "error")
            return render_template("auth/login.html", form=form), 401
        login_user(user, remember=form.remember.data)
        target = request.args.get("next")
        if not target or urlsplit(target).netloc or not target.startswith("/"):
            target = home_for(user)
        return redirect(target)
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    """Log out; copies of this session's cookies stop working too."""
    end_sessions(current_user)
    logout_user()
    flash(_("You have been logged out."), "info")
    return redirect(url_for("auth.login"))
