"""`flask kiosks ...`: register and revoke kiosks."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.attendance.models import Kiosk
from webapp.attendance.services import create_kiosk, revoke_kiosk
from webapp.errors import AppError
from webapp.extensions import db

kiosks = AppGroup("kiosks", help="Register and revoke check-in kiosks.")


@kiosks.command("create")
@click.argument("name")
def create(name: str) -> None:
    """Register kiosk NAME and print its token once."""
    try:
        kiosk, token = create_kiosk(name, actor="cli")
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"kiosk {kiosk.name} (id {kiosk.id}) created; its token, shown only now:")
    click.echo(token)


@kiosks.command("revoke")
@click.argument("name")
def revoke(name: str) -> None:
    """Revoke kiosk NAME's token."""
    try:
        revoke_kiosk(name, actor="cli")
    except AppError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"kiosk {name} revoked")


@kiosks.command("list")
def list_kiosks() -> None:
    """List kiosks and when each was last seen."""
    for kiosk in db.session.scalars(select(Kiosk).order_by(Kiosk.name)):
        state = "active" if kiosk.active else "revoked"
        click.echo(f"{kiosk.id:4d}  {kiosk.name}  {state}  last seen {kiosk.last_seen_at or '-'}")
