"""User accounts: create them, set roles and managers' departments, block logins."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from webapp.admin import bp
from webapp.admin.access import admin_only
from webapp.admin.forms import ROLE_CHOICES, UserForm
from webapp.auth.models import Role, User
from webapp.auth.services import create_user, update_user
from webapp.employees.services import department_names
from webapp.errors import AppError
from webapp.extensions import db


@bp.route("/users", methods=["GET", "POST"])
@admin_only
def users():
    """Every account, and a form to add one."""
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = create_user(
                form.email.data,
                form.password.data,
                Role(form.role.data),
                actor=current_user,
                department=form.department.data,
            )
        except AppError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            flash(_("Account %(email)s created.", email=user.email), "success")
            return redirect(url_for("admin.users"))
    return render_template(
        "admin/users.html",
        form=form,
        users=db.session.scalars(select(User).order_by(User.role, User.email)).all(),
        departments=department_names(),
        roles=ROLE_CHOICES,
    )


@bp.post("/users/<int:user_id>")
@admin_only
def update_account(user_id: int):
    """Change an account's role, department or access."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    role = request.form.get("role", "")
    if role not in {r.value for r in Role}:
        abort(400)
    try:
        update_user(
            user,
            Role(role),
            request.form.get("department"),
            request.form.get("active") == "1",
            actor=current_user,
        )
    except AppError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        flash(_("Account %(email)s updated.", email=user.email), "success")
    return redirect(url_for("admin.users"))
