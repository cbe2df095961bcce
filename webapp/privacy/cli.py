"""`flask retention run`: delete biometric data and proof photos past their retention period."""

from __future__ import annotations

import click
from flask.cli import AppGroup

retention = AppGroup("retention", help="Delete biometric data past its retention period.")


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
def retention_run(dry_run: bool) -> None:
    """Delete biometrics of long-deactivated employees and old proof photos (run it daily)."""
    from webapp.privacy.retention import run_retention

    plan, report = run_retention(dry_run=dry_run, actor="cli")
    prefix = "would delete" if dry_run else "deleted"
    for employee, photos, templates in plan.employees:
        click.echo(
            f"{prefix}: {employee.name} (id {employee.id}, deactivated "
            f"{employee.deactivated_at:%Y-%m-%d}): {photos} photo(s), {templates} template(s)"
        )
    if plan.proof_events:
        click.echo(
            f"{prefix}: {plan.proof_events} proof photo(s) older than "
            f"{plan.proof_cutoff:%Y-%m-%d %H:%M} UTC"
        )
    if plan.empty:
        click.echo("nothing to delete")
    elif not dry_run:
        click.echo(
            f"retention done: {report.employees} employee(s), {report.photos} photo(s), "
            f"{report.templates} template(s), {report.proof_photos} proof photo(s)"
        )
