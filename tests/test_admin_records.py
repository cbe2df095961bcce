"""Records: filters, search, sorting, paging, proofs; corrections audited; the review queue."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.admin_helpers import (
    add_employee,
    admin_client_for,
    client_as,
    csv_rows,
    html_table,
    local,
    make_app,
    punch,
    xlsx_rows,
)

SEOUL = "Asia/Seoul"


@pytest.fixture
def staffed(tmp_path, migrated_db):
    """Two departments, a kiosk, and a few events of each kind and status."""
    from webapp.attendance.services import create_kiosk

    app = make_app(tmp_path, migrated_db)
    with app.app_context():
        kiosk_id = create_kiosk("lobby")[0].id
    people = {
        "kim": add_employee(app, "Kim Minji", "Sales", employee_no="S-001"),
        "lee": add_employee(app, "Lee Joon", "Sales", employee_no="S-002"),
        "park": add_employee(app, "Park Film", "Film", employee_no="F-001"),
    }
    events = {
        "kim_in": punch(
            app, people["kim"], "check_in", local(SEOUL, "2025-03-03 08:55"),
            kiosk_id=kiosk_id, similarity=0.81, proof_photo=_proof(app, "kim"),
        ),
        "kim_out": punch(
            app, people["kim"], "check_out", local(SEOUL, "2025-03-03 18:05"),
            kiosk_id=kiosk_id, similarity=0.77,
        ),
        "lee_weak": punch(
            app, people["lee"], "check_in", local(SEOUL, "2025-03-04 09:02"),
            kiosk_id=kiosk_id, similarity=0.52, status="needs_review",
            proof_photo=_proof(app, "lee"),
        ),
        "lee_flagged": punch(
            app, people["lee"], "check_out", local(SEOUL, "2025-03-04 18:00"),
            kiosk_id=kiosk_id, similarity=0.9, status="needs_review", flag_reason="gesture_unsure",
        ),
        "park_in": punch(
            app, people["park"], "check_in", local(SEOUL, "2025-03-05 00:30"),
            kiosk_id=kiosk_id, similarity=0.66, proof_photo=_proof(app, "park"),
        ),
    }  # fmt: skip
    return app, people, events


def _proof(app, name: str) -> str:
    from webapp import media

    with app.app_context():
        return media.save("proofs", f"JPEG-of-{name}".encode(), ".jpg")


def _listed(client, query: str = "") -> list[str]:
    """The employee names in the records table, in order."""
    page = client.get(f"/admin/records{query}").get_data(as_text=True)
    table = re.search(r'<table class="table records">.*?</table>', page, re.S).group(0)
    return [row[1] for row in html_table(f'<table id="t">{table[6:]}', "t")[1:] if len(row) > 1]


def test_records_list_filters_by_everything(staffed):
    app, people, _events = staffed
    client = admin_client_for(app)
    assert _listed(client) == ["Park Film", "Lee Joon", "Lee Joon", "Kim Minji", "Kim Minji"]
    # Days are site-local: 00:30 on the 5th in Seoul is still the 4th in UTC.
    assert _listed(client, "?from=2025-03-05&to=2025-03-05") == ["Park Film"]
    assert _listed(client, "?from=2025-03-03&to=2025-03-04") == ["Lee Joon"] * 2 + ["Kim Minji"] * 2
    assert _listed(client, f"?employee={people['kim']}") == ["Kim Minji"] * 2
    assert _listed(client, "?department=Film") == ["Park Film"]
    assert _listed(client, "?kind=check_out") == ["Lee Joon", "Kim Minji"]
    assert _listed(client, "?review=1") == ["Lee Joon", "Lee Joon"]
    assert _listed(client, "?status=ok&kind=check_in") == ["Park Film", "Kim Minji"]
    assert _listed(client, "?kiosk=manual") == []
    # Search by part of a name, any case, or by employee number; % is not a wildcard.
    assert _listed(client, "?q=minj") == ["Kim Minji"] * 2
    assert _listed(client, "?q=f-0") == ["Park Film"]
    assert _listed(client, "?q=%25") == []
    # Unknown choices are ignored; malformed dates and numbers are a 400 naming the parameter.
    assert client.get("/admin/records?kind=walk&sort=drop").status_code == 200
    assert client.get("/admin/records?from=yesterday").status_code == 400
    assert client.get("/admin/records?page=x").status_code == 400


def test_records_sort_by_column_both_ways(staffed):
    app, _people, _events = staffed
    client = admin_client_for(app)
    assert _listed(client, "?sort=employee&dir=asc") == [
        "Kim Minji", "Kim Minji", "Lee Joon", "Lee Joon", "Park Film",
    ]  # fmt: skip
    assert _listed(client, "?sort=similarity&dir=desc")[0] == "Lee Joon"  # 0.90
    assert _listed(client, "?sort=time&dir=asc")[0] == "Kim Minji"
    page = client.get("/admin/records?sort=employee&dir=asc").get_data(as_text=True)
    assert 'aria-sort="ascending"' in page


def test_records_are_paged_fifty_at_a_time(tmp_path, migrated_db):
    app = make_app(tmp_path, migrated_db)
    person = add_employee(app, "Busy Bee", "Sales")
    start = datetime(2025, 3, 3, tzinfo=UTC)
    for i in range(61):
        punch(app, person, "check_in", start + timedelta(hours=i))
    client = admin_client_for(app)
    first = client.get("/admin/records").get_data(as_text=True)
    assert "61 record(s)" in first and "Page 1 of 2" in first and 'rel="next"' in first
    assert len(_listed(client)) == 50
    assert len(_listed(client, "?page=2")) == 11
    assert len(_listed(client, "?page=99")) == 11  # past the end: the last page


def test_each_row_links_to_its_proof_photo_for_admins_and_the_manager(staffed):
    app, _people, events = staffed
    admin = admin_client_for(app)
    page = admin.get("/admin/records").get_data(as_text=True)
    assert f"/admin/records/{events['kim_in']}/proof" in page
    proof = admin.get(f"/admin/records/{events['kim_in']}/proof")
    assert proof.status_code == 200 and proof.data == b"JPEG-of-kim"
    assert proof.headers["Cache-Control"] == "private, no-store"
    assert admin.get(f"/admin/records/{events['kim_out']}/proof").status_code == 404

    sales = client_as(app, "manager", "Sales")
    assert sales.get(f"/admin/records/{events['kim_in']}/proof").status_code == 200
    assert sales.get(f"/admin/records/{events['park_in']}/proof").status_code == 404
    assert sales.get(f"/admin/records/{events['park_in']}").status_code == 404
    assert "Park Film" not in _listed(sales)
    assert _listed(sales, "?department=Film") == _listed(sales)  # cannot widen the view
    studio = client_as(app, "studio")
    assert studio.get(f"/admin/records/{events['kim_in']}/proof").status_code == 403


def test_records_export_equals_the_list(staffed):
    app, _people, _events = staffed
    client = admin_client_for(app)
    rows = csv_rows(client.get("/admin/records/export.csv?department=Sales&sort=time&dir=asc").data)
    assert rows[0][:6] == ["Time", "Employee", "Employee number", "Department", "Type", "Status"]
    assert [r[0] for r in rows[1:]] == [
        "2025-03-03 08:55:00", "2025-03-03 18:05:00", "2025-03-04 09:02:00", "2025-03-04 18:00:00",
    ]  # fmt: skip
    assert rows[3][5] == "Needs review" and rows[3][6] == "0.520" and rows[1][7] == "lobby"
    sheet = xlsx_rows(
        client.get("/admin/records/export.xlsx?department=Sales&sort=time&dir=asc").data
    )
    assert [str(r[1]) for r in sheet[1:]] == [r[1] for r in rows[1:]]
    assert sheet[1][0] == datetime(2025, 3, 3, 8, 55)  # a real date-time cell, site-local


# --- corrections ---------------------------------------------------------------------------------


def _audit(app, event_id: int):
    from webapp.audit import AuditEntry
    from webapp.extensions import db

    with app.app_context():
        return [
            (e.action, e.actor_label, e.before, e.after)
            for e in db.session.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.target_type == "attendance_event", AuditEntry.target_id == event_id
                )
                .order_by(AuditEntry.id)
            )
        ]


def _event(app, event_id: int):
    from webapp.attendance.models import AttendanceEvent
    from webapp.extensions import db

    with app.app_context():
        event = db.session.get(AttendanceEvent, event_id)
        db.session.expunge(event)
        return event


def _count_events(app) -> int:
    from webapp.attendance.models import AttendanceEvent
    from webapp.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count(AttendanceEvent.id)))


def test_add_a_missed_punch_in_site_time_with_a_reason(staffed):
    app, people, _events = staffed
    client = admin_client_for(app)
    form = client.get(f"/admin/records/new?employee={people['kim']}").get_data(as_text=True)
    assert f'<option selected value="{people["kim"]}">' in form
    response = client.post(
        "/admin/records/new",
        data={
            "employee_id": people["kim"],
            "kind": "check_out",
            "day": "2025-03-05",
            "clock": "18:10",
            "reason": "Forgot to check out; confirmed by team lead",
        },
    )
    assert response.status_code == 302
    event_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    event = _event(app, event_id)
    assert event.occurred_at == datetime(2025, 3, 5, 9, 10, tzinfo=UTC)  # 18:10 KST
    assert (event.kiosk_id, event.status.value, event.created_by_id) == (None, "ok", 1)
    [(action, actor, before, after)] = _audit(app, event_id)
    assert (action, actor, before) == ("attendance.add", "admin@example.com", None)
    assert after["reason"] == "Forgot to check out; confirmed by team lead"
    assert after["occurred_at"] == "2025-03-05T09:10:00+00:00" and after["kind"] == "check_out"
    page = client.get(f"/admin/records/{event_id}").get_data(as_text=True)
    assert "Added by hand" in page and "confirmed by team lead" in page
    assert _listed(client, "?kiosk=manual") == ["Kim Minji"]


def test_a_missed_punch_needs_a_reason_and_a_real_time(staffed):
    app, people, _events = staffed
    client = admin_client_for(app)
    before = _count_events(app)
    base = {"employee_id": people["kim"], "kind": "check_in", "day": "2025-03-05", "clock": "09:00"}
    no_reason = client.post("/admin/records/new", data={**base, "reason": ""})
    assert no_reason.status_code == 200 and "This field is required." in no_reason.get_data(True)
    future = client.post(
        "/admin/records/new", data={**base, "day": "2099-01-01", "reason": "typo"}
    ).get_data(as_text=True)
    assert "cannot be in the future" in future
    assert _count_events(app) == before


def test_a_time_the_clocks_skipped_is_refused(tmp_path, migrated_db):
    app = make_app(tmp_path, migrated_db, SITE_TIMEZONE="America/New_York")
    person = add_employee(app, "Skip")
    client = admin_client_for(app)
    page = client.post(
        "/admin/records/new",
        data={
            "employee_id": person,
            "kind": "check_in",
            "day": "2025-03-09",
            "clock": "02:30",
            "reason": "forgot",
        },
    ).get_data(as_text=True)
    assert "does not exist in America/New_York" in page
    assert _count_events(app) == 0


def test_void_confirm_and_restore_are_audited_and_nothing_is_deleted(staffed):
    app, _people, events = staffed
    client = admin_client_for(app)
    total = _count_events(app)
    kim_in = events["kim_in"]

    refused = client.post(f"/admin/records/{kim_in}/void", data={"reason": "  "})
    assert refused.status_code == 302
    assert _event(app, kim_in).status.value == "ok" and _audit(app, kim_in) == []

    client.post(f"/admin/records/{kim_in}/void", data={"reason": "Wrong person: twin brother"})
    assert _event(app, kim_in).status.value == "voided"
    client.post(f"/admin/records/{kim_in}/restore", data={"reason": "It was her after all"})
    assert _event(app, kim_in).status.value == "ok"
    client.post(f"/admin/records/{events['lee_weak']}/confirm", data={"reason": ""})
    assert _event(app, events["lee_weak"]).status.value == "ok"
    # Confirming twice or restoring what is not voided is refused and changes nothing.
    again = client.post(
        f"/admin/records/{events['lee_weak']}/confirm", follow_redirects=True
    ).get_data(as_text=True)
    assert "cannot be changed so" in again

    history = _audit(app, kim_in)
    assert [(a, actor) for a, actor, _b, _a in history] == [
        ("attendance.void", "admin@example.com"),
        ("attendance.restore", "admin@example.com"),
    ]
    assert history[0][2]["status"] == "ok" and history[0][3]["status"] == "voided"
    assert history[0][3]["reason"] == "Wrong person: twin brother"
    assert history[1][2]["status"] == "voided" and history[1][3]["status"] == "ok"
    confirm = _audit(app, events["lee_weak"])
    assert [(a, b["status"], c["status"]) for a, _actor, b, c in confirm] == [
        ("attendance.confirm", "needs_review", "ok")
    ]
    assert _count_events(app) == total

    page = client.get(f"/admin/records/{kim_in}").get_data(as_text=True)
    assert "Wrong person: twin brother" in page and "It was her after all" in page
    assert page.count("admin@example.com") >= 3  # two history rows and the header


def test_voided_records_stop_counting_in_reports(staffed):
    app, _people, events = staffed
    client = admin_client_for(app)
    before = html_table(client.get("/admin/reports/daily?day=2025-03-03").get_data(as_text=True))
    assert before[1][:6] == ["Kim Minji", "S-001", "Sales", "09:00–18:00", "08:55", "18:05"]
    client.post(f"/admin/records/{events['kim_out']}/void", data={"reason": "kiosk test"})
    after = html_table(client.get("/admin/reports/daily?day=2025-03-03").get_data(as_text=True))
    assert after[1][4:7] == ["08:55", "", "0.00"] and after[1][-1] == "No check-out"


def test_the_review_queue_lists_weak_and_flagged_events_until_decided(staffed):
    app, _people, events = staffed
    client = admin_client_for(app)
    page = client.get("/admin/review").get_data(as_text=True)
    assert f'id="review-{events["lee_weak"]}"' in page
    assert f'id="review-{events["lee_flagged"]}"' in page
    assert "Weak match (similarity 0.520)" in page
    assert "Flagged by the kiosk: gesture_unsure" in page
    assert 'title="Waiting for review">2</span>' in page  # the count in the menu

    response = client.post(
        f"/admin/records/{events['lee_weak']}/confirm", data={"next": "/admin/review"}
    )
    assert response.headers["Location"] == "/admin/review"
    client.post(
        f"/admin/records/{events['lee_flagged']}/void",
        data={"reason": "Not him", "next": "https://evil.example/"},
    )
    page = client.get("/admin/review").get_data(as_text=True)
    assert "Nothing is waiting for review." in page
    rows = html_table(client.get("/admin/reports/daily?day=2025-03-04").get_data(as_text=True))
    lee = next(r for r in rows if r[0] == "Lee Joon")
    assert lee[4:6] == ["09:02", ""]  # the confirmed check-in counts, the voided check-out not


@pytest.mark.parametrize(
    ("similarity", "flagged", "expected"),
    [
        (0.95, False, "ok"),
        (0.60, False, "ok"),
        (0.5999, False, "needs_review"),
        (0.45, False, "needs_review"),
        (0.4499, False, "voided"),
        (None, False, "needs_review"),
        (0.99, True, "needs_review"),
    ],
)
def test_initial_status_follows_the_review_thresholds(app, similarity, flagged, expected):
    from webapp.attendance.records import initial_status

    with app.app_context():
        assert initial_status(similarity, flagged).value == expected


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({"REVIEW_ACCEPT_THRESHOLD": "1.2"}, "REVIEW_ACCEPT_THRESHOLD"),
        ({"REVIEW_REJECT_THRESHOLD": "0.7"}, "REVIEW_REJECT_THRESHOLD must not be above"),
        ({"DUPLICATE_WINDOW_SECONDS": "-1"}, "DUPLICATE_WINDOW_SECONDS"),
        ({"WORK_DAY_START": "9am"}, "WORK_DAY_START"),
        ({"WORK_DAY_START": "09:00", "WORK_DAY_END": "09:00"}, "must differ"),
        ({"WORK_DAYS": "8"}, "WORK_DAYS"),
        ({"RETENTION_PROOF_PHOTO_DAYS": "-3"}, "RETENTION_PROOF_PHOTO_DAYS"),
        ({"MAX_SHIFT_HOURS": "0"}, "MAX_SHIFT_HOURS"),
    ],
)
def test_bad_attendance_settings_stop_the_app(tmp_path, environ, fragment):
    from webapp.settings import ConfigError, load_settings

    with pytest.raises(ConfigError, match=fragment):
        load_settings(tmp_path, environ={"SECRET_KEY": "x", **environ})


def test_attendance_settings_are_read_from_the_environment(tmp_path):
    from datetime import time

    from webapp.settings import load_settings

    config = load_settings(
        tmp_path,
        environ={
            "SECRET_KEY": "x",
            "REVIEW_ACCEPT_THRESHOLD": "0.7",
            "REVIEW_REJECT_THRESHOLD": "0.5",
            "DUPLICATE_WINDOW_SECONDS": "60",
            "WORK_DAY_START": "08:30",
            "WORK_DAY_END": "17:30",
            "WORK_DAYS": "1,2,3,4,5,6",
        },
    )
    assert (config["REVIEW_ACCEPT_THRESHOLD"], config["REVIEW_REJECT_THRESHOLD"]) == (0.7, 0.5)
    assert config["DUPLICATE_WINDOW_SECONDS"] == 60
    assert (config["WORK_DAY_START"], config["WORK_DAY_END"]) == (time(8, 30), time(17, 30))
    assert config["WORK_DAYS"] == "123456"
    defaults = load_settings(tmp_path, environ={"SECRET_KEY": "x"})
    assert defaults["DUPLICATE_WINDOW_SECONDS"] == 120
    assert defaults["REVIEW_REJECT_THRESHOLD"] <= defaults["REVIEW_ACCEPT_THRESHOLD"]


def test_migration_0002_downgrades_and_upgrades_again(tmp_path):
    """The admin migration is reversible on SQLite (batch mode) and keeps existing rows."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect, text

    from tests.support import make_config
    from webapp import create_app
    from webapp.extensions import db

    app = create_app(make_config(tmp_path))
    with app.app_context():
        upgrade(revision="0001")
        db.session.execute(
            text(
                "INSERT INTO employees (name, active, created_at) "
                "VALUES ('Old Timer', 0, '2024-01-01 00:00:00')"
            )
        )
        db.session.commit()
        upgrade(revision="0002")
        columns = {c["name"] for c in inspect(db.engine).get_columns("attendance_events")}
        assert {"flag_reason", "created_by_id", "reviewed_at", "proof_deleted_at"} <= columns
        deactivated = db.session.execute(text("SELECT deactivated_at FROM employees")).scalar()
        assert deactivated is not None  # retention's clock starts at the upgrade
        downgrade(revision="0001")
        tables = set(inspect(db.engine).get_table_names())
        assert "biometric_consents" not in tables and "departments" not in tables
        assert db.session.execute(text("SELECT name FROM employees")).scalar() == "Old Timer"
        upgrade()
        version = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version is not None and version >= "0002"
        db.engine.dispose()
