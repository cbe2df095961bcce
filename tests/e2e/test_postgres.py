"""The app on a real PostgreSQL: migrations, models, services, CLI and an enrollment round trip."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from tests.support import ROOT, make_config

pytestmark = pytest.mark.slow

PERSON = "ben_afflek"


@pytest.fixture(scope="module")
def pg_url():
    """One throwaway PostgreSQL server for this module; its DATABASE_URL."""
    from scripts.pg_test_server import PostgresError, TemporaryPostgres

    try:
        server = TemporaryPostgres("face_platform")
        server.start()
    except PostgresError as exc:
        pytest.fail(f"{exc}\n(run `make system-test-deps` to install PostgreSQL)")
    yield server.url
    server.stop()


def flask_cli(url: str, media: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `flask --app wsgi ARGS` in a subprocess against `url`, as users run it."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "test-secret",
        "MEDIA_DIR": str(media),
        "LOAD_MODELS": "0",
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def migrated_pg(pg_url, tmp_path_factory) -> str:
    """The server's database upgraded by `flask db upgrade`."""
    result = flask_cli(pg_url, tmp_path_factory.mktemp("pg-media"), "db", "upgrade")
    assert result.returncode == 0, result.stdout + result.stderr
    return pg_url


@pytest.fixture(scope="module")
def pg_app(migrated_pg, tmp_path_factory):
    """An app on the migrated PostgreSQL database."""
    from webapp import create_app
    from webapp.extensions import db

    app = create_app(make_config(tmp_path_factory.mktemp("pg-app"), DATABASE_URL=migrated_pg))
    yield app
    with app.app_context():
        db.engine.dispose()


def test_migrated_schema_matches_the_models(migrated_pg, tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from webapp import create_app
    from webapp.extensions import db

    result = flask_cli(migrated_pg, tmp_path, "db", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No new upgrade operations detected" in result.stdout + result.stderr

    app = create_app(make_config(tmp_path, DATABASE_URL=migrated_pg))
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == ScriptDirectory(str(ROOT / "migrations")).get_current_head()
    with app.app_context():
        db.engine.dispose()


def test_services_store_utc_times_enum_values_and_audit_json(pg_app):
    from webapp.attendance.models import AttendanceEvent, EventKind, Kiosk
    from webapp.attendance.services import create_kiosk
    from webapp.audit import AuditEntry
    from webapp.auth.models import Role, User
    from webapp.auth.services import create_user
    from webapp.db import utcnow
    from webapp.employees.models import Employee
    from webapp.employees.services import create_employee
    from webapp.extensions import db

    started = utcnow()
    with pg_app.app_context():
        user_id = create_user("pg-admin@example.com", "correct-horse-battery", Role.ADMIN).id
        employee_id = create_employee("Ada Lovelace", "R&D", "PG-1").id
        kiosk_id = create_kiosk("pg-lobby")[0].id

    with pg_app.app_context():
        # A session in another zone: values still come back as aware UTC.
        db.session.execute(text("SET TIME ZONE 'Asia/Seoul'"))
        for row in (
            db.session.get(User, user_id),
            db.session.get(Employee, employee_id),
            db.session.get(Kiosk, kiosk_id),
        ):
            assert row.created_at.tzinfo is UTC
            assert started - timedelta(seconds=5) <= row.created_at <= utcnow()
        column_type = db.session.execute(
            text(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'users' AND column_name = 'created_at'"
            )
        ).scalar()
        assert column_type == "timestamp with time zone"
        role = db.session.execute(text("SELECT role FROM users WHERE id = :id"), {"id": user_id})
        assert role.scalar() == "admin"

        occurred = utcnow()
        db.session.add(
            AttendanceEvent(
                employee_id=employee_id,
                kiosk_id=kiosk_id,
                kind=EventKind.CHECK_IN,
                occurred_at=occurred,
                idempotency_key="pg-key-1",
            )
        )
        db.session.commit()
        kind, status = db.session.execute(
            text("SELECT kind, status FROM attendance_events WHERE idempotency_key = 'pg-key-1'")
        ).one()
        assert (kind, status) == ("check_in", "ok")
        event = db.session.scalar(
            select(AttendanceEvent).where(AttendanceEvent.idempotency_key == "pg-key-1")
        )
        assert event.kind is EventKind.CHECK_IN
        assert event.occurred_at == occurred and event.occurred_at.tzinfo is UTC

        db.session.add(
            AttendanceEvent(
                employee_id=employee_id,
                kind=EventKind.CHECK_OUT,
                occurred_at=utcnow(),
                idempotency_key="pg-key-1",
            )
        )
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()

        entries = {
            entry.action: entry
            for entry in db.session.scalars(
                select(AuditEntry).where(
                    AuditEntry.target_id.in_([user_id, employee_id, kiosk_id]),
                    AuditEntry.action.in_(["user.create", "employee.create", "kiosk.create"]),
                )
            )
        }
        assert entries["user.create"].after == {"email": "pg-admin@example.com", "role": "admin"}
        assert entries["employee.create"].after == {"name": "Ada Lovelace", "department": "R&D"}
        assert entries["kiosk.create"].after == {"name": "pg-lobby"}
        assert entries["user.create"].before is None
        assert entries["user.create"].at.tzinfo is UTC
        stored = db.session.execute(
            text(
                "SELECT json_typeof(after), after->>'role', "
                "coalesce(json_typeof(before), 'null') "
                "FROM audit_log WHERE id = :id"
            ),
            {"id": entries["user.create"].id},
        ).one()
        assert tuple(stored) == ("object", "admin", "null")


def test_kiosks_create_cli(pg_app):
    from webapp.attendance.models import Kiosk
    from webapp.attendance.services import hash_token
    from webapp.extensions import db

    runner = pg_app.test_cli_runner()
    result = runner.invoke(args=["kiosks", "create", "pg-gate"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("kiosk_")
    again = runner.invoke(args=["kiosks", "create", "pg-gate"])
    assert again.exit_code != 0 and "already exists" in again.output
    with pg_app.app_context():
        kiosk = db.session.scalar(select(Kiosk).where(Kiosk.name == "pg-gate"))
        assert kiosk.token_hash == hash_token(token) and kiosk.active
    listed = runner.invoke(args=["kiosks", "list"])
    assert listed.exit_code == 0 and "pg-gate  active" in listed.output


def test_enroll_and_recognize_on_postgres(pg_app, loaded_models, dataset):
    from ml.images import decode_image
    from webapp.employees.models import FaceTemplate
    from webapp.employees.services import Upload, create_employee, enroll_photos
    from webapp.extensions import db
    from webapp.recognition.models import ClassifierVersion
    from webapp.recognition.services import recognize

    train = sorted((dataset / "train" / PERSON).iterdir())[:2]
    val = sorted((dataset / "val" / PERSON).iterdir())[0]
    with pg_app.app_context():
        employee = create_employee("Ben Affleck", employee_no="PG-BEN")
        employee_id = employee.id
        report = enroll_photos(employee, [Upload(p.name, p.read_bytes()) for p in train])
        assert not report.rejected, report.rejected
        assert len(report.enrolled) == 2 and report.classifier is not None

    with pg_app.app_context():
        count = db.session.scalar(
            select(func.count()).where(FaceTemplate.employee_id == employee_id)
        )
        assert count == 42
        template = db.session.scalar(
            select(FaceTemplate).where(FaceTemplate.employee_id == employee_id).limit(1)
        )
        assert isinstance(template.embedding, bytes) and len(template.embedding) == 128 * 4
        assert np.linalg.norm(template.vector) == pytest.approx(1.0, abs=1e-3)
        version = db.session.scalar(select(ClassifierVersion).order_by(ClassifierVersion.id.desc()))
        assert isinstance(version.payload, bytes) and version.payload
        assert (version.employee_count, version.template_count) == (1, 42)

        faces, model_version = recognize(decode_image(val.read_bytes()))
        assert faces, "no face found in the val photo"
        assert (faces[0].employee_id, faces[0].name) == (employee_id, "Ben Affleck")
        assert model_version.endswith(f"classifier-v{version.id}")
