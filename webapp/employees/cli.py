"""`flask employees ...`: bulk enrollment from folders."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.employees.models import Employee
from webapp.employees.services import (
    MAX_PHOTOS_PER_UPLOAD,
    Upload,
    create_employee,
    enroll_photos,
)
from webapp.extensions import db
from webapp.registry import current_models
from webapp.signals import templates_changed

employees = AppGroup("employees", help="Manage employees and their enrollment.")

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


@employees.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--consent-given",
    is_flag=True,
    help="Record that each person agreed to the current consent text (keep the signed forms).",
)
@click.option(
    "--names-as-is",
    is_flag=True,
    help="Use the folder names verbatim (default: ben_afflek becomes Ben Afflek).",
)
def import_folder(folder: Path, consent_given: bool, names_as_is: bool) -> None:
    """Enroll one employee per sub-folder of FOLDER (named after it), then train once."""
    from webapp.employees.consent import record_consent
    from webapp.employees.names import display_name

    click.echo("loading models ...")
    current_models().load()
    enrolled = rejected = 0
    for person_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        photos = sorted(p for p in person_dir.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
        if not photos:
            click.echo(f"{person_dir.name}: no photos, skipped", err=True)
            continue
        name = person_dir.name if names_as_is else display_name(person_dir.name)
        # A person imported before under the verbatim folder name is found again, not doubled.
        employee = db.session.scalar(
            select(Employee).where(Employee.name.in_({name, person_dir.name})).order_by(Employee.id)
        )
        if employee is None:
            employee = create_employee(name, actor="cli")
        if consent_given:
            record_consent(employee, actor="cli")
        elif employee.consent is None:
            click.echo(f"{person_dir.name}: no consent recorded (see --consent-given)", err=True)
        count = 0
        for start in range(0, len(photos), MAX_PHOTOS_PER_UPLOAD):
            batch = [
                Upload(p.name, p.read_bytes())
                for p in photos[start : start + MAX_PHOTOS_PER_UPLOAD]
            ]
            report = enroll_photos(employee, batch, actor="cli", retrain=False)
            count += len(report.enrolled)
            for bad in report.rejected:
                click.echo(f"{person_dir.name}/{bad.filename}: skipped: {bad.message}", err=True)
            rejected += len(report.rejected)
        enrolled += count
        click.echo(f"{employee.name}: {count} photo(s) enrolled")
    version = templates_changed("cli")
    click.echo(
        f"enrolled {enrolled} photo(s), skipped {rejected}; classifier v{version.id} "
        f"({version.employee_count} people, {version.template_count} templates)"
    )


@employees.command("reembed")
@click.option(
    "--all", "everything", is_flag=True, help="Re-embed every photo, not only stale ones."
)
def reembed(everything: bool) -> None:
    """Re-make face templates from the stored enrollment photos with the loaded pipeline.

    Run after changing RECOGNITION_VIEWS or the embedder: the classifier only trains on
    templates of the loaded pipeline, so until then those people are not recognized.
    """
    from webapp.employees.services import reembed_photos

    click.echo("loading models ...")
    current_models().load()
    report = reembed_photos("cli", everything)
    for photo_id, reason in report.failed:
        click.echo(f"photo {photo_id}: kept its old templates: {reason}", err=True)
    version = report.classifier
    trained = f"; classifier v{version.id} ({version.template_count} templates)" if version else ""
    pipeline = current_models().get("faces").version
    click.echo(f"re-embedded {report.reembedded} photo(s) with {pipeline}{trained}")


@employees.command("list")
def list_employees() -> None:
    """List employees with their number of enrolled photos."""
    for employee in db.session.scalars(select(Employee).order_by(Employee.name)):
        state = "" if employee.active else " (inactive)"
        click.echo(f"{employee.id:5d}  {employee.name}{state}  photos={len(employee.photos)}")
