"""`flask users ...`: create accounts from the command line."""

from __future__ import annotations

import os

import click
from flask.cli import AppGroup

from webapp.auth.models import Role
from webapp.auth.services import change_password, create_user, ensure_admin, find_user
from webapp.auth.tokens import create_token
from webapp.errors import AppError

users = AppGroup("users", help="Manage user accounts.")


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.STUDIO.value)
@click.option("--department", default=None, help="The department a manager reads.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create(email: str, role: str, department: str | None, password: str) -> None:
    """Create a user with a role (a manager with the department they read)."""
    try:
        user = create_user(email, password, Role(role), actor="cli", department=department)
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


@users.command("set-password")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def set_password(email: str, password: str) -> None:
    """Change a password; every session of the account is logged out."""
    user = find_user(email)
    if user is None:
        raise click.ClickException(f"{email} has no account.")
    try:
        change_password(user, password, actor="cli")
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"changed the password of {user.email}; its sessions were logged out")


@users.command("token")
@click.argument("email")
@click.option("--name", default="command line", help="What the token is for.")
def token(email: str, name: str) -> None:
    """Make a personal API token (`Authorization: Bearer ...`); it is printed only once."""
    user = find_user(email)
    if user is None or not user.active:
        raise click.ClickException(f"{email} has no active account.")
    _, secret = create_token(user, name, actor="cli")
    click.echo(secret)
