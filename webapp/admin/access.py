"""Who may use the admin pages: admins everything, managers read their department's records."""

from __future__ import annotations

from flask import abort
from flask_login import current_user

from webapp.attendance.records import Scope
from webapp.auth.access import roles_required
from webapp.auth.models import Role

admin_only = roles_required(Role.ADMIN)
readers = roles_required(Role.ADMIN, Role.MANAGER)  # records, reports, dashboard
STAFF_ROLES = (Role.ADMIN, Role.MANAGER)


def current_scope() -> Scope:
    """The employees the logged-in user may see."""
    return Scope.for_user(current_user)


def check_in_scope(employee) -> None:
    """404 for an employee outside the user's scope (a manager's other departments)."""
    if employee is None or not current_scope().allows(employee):
        abort(404)
