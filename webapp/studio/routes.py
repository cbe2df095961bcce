"""Studio pages."""

from flask import render_template

from webapp.auth.access import roles_required
from webapp.auth.models import Role
from webapp.studio import bp


@bp.get("/")
@roles_required(Role.STUDIO, Role.ADMIN)
def index():
    """The studio home; says plainly that no effect is available yet."""
    return render_template("studio/index.html")
