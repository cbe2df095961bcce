"""`flask users ...`: create accounts from the command line."""

from __future__ import annotations

import os

import click
from flask.cli import AppGroup

from webapp.auth.models import Role
from webapp.auth.services import create_user, ensure_admin
from webapp.errors import AppError

users = AppGroup("users", help="Manage user accounts.")


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.STUDIO.value)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create(email: str, role: str, password: str) -> None:
    """Create a user with a role."""
    try:
        user = create_user(email, password, Role(role), actor="cli")
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"created {user.role} {user.email}")


@users.command("create-admin")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_admin(email: str, password: str) -> None:
    """Create an administrator."""
    try:
        user = create_user(email, password, Role.ADMIN, actor="cli")
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"created admin {user.email}")


@users.command("ensure-admin")
def ensure_admin_command() -> None:
    """Create the first admin if there is none (ADMIN_EMAIL, ADMIN_PASSWORD or a printed one)."""
    email = os.environ.get("ADMIN_EMAIL", "admin@example.com")
    user, generated = ensure_admin(email, os.environ.get("ADMIN_PASSWORD"))
    if user is None:
        return
    click.echo(f"Created the first admin account: {user.email}")
    if generated:
        click.echo(f"Its password (shown only this once): {generated}")
