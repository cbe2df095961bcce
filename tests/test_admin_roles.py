"""Every admin route, found in the URL map, walked as anonymous, studio, manager and admin.

A new route is covered without touching this file: it must send anonymous users to the login page
and refuse studio users; managers are refused unless the route is listed in MANAGER_READS below.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.admin_helpers import add_employee, client_as, make_app, punch

# What a manager may do: read records and reports (of their department), nothing else.
MANAGER_READS = {
    "admin.index",
    "admin.dashboard",
    "admin.records_list",
    "admin.records_export",
    "admin.record",
    "admin.proof_photo",
    "admin.reports_index",
    "admin.report_daily",
    "admin.report_daily_export",
    "admin.report_monthly",
    "admin.report_monthly_export",
}


@pytest.fixture(scope="module")
def walk(tmp_path_factory, migrated_db):
    """One app with a sample of everything a route may point at, and a client per role."""
    from webapp import media
    from webapp.attendance.services import create_kiosk
    from webapp.employees.models import EnrollmentPhoto
    from webapp.extensions import db

    app = make_app(tmp_path_factory.mktemp("walk"), migrated_db)
    employee = add_employee(app, "Walker", "Sales")
    with app.app_context():
        kiosk = create_kiosk("walk-lobby")[0].id
        proof = media.save("proofs", b"proof", ".jpg")
        photo = EnrollmentPhoto(
            employee_id=employee,
            path=media.save(f"employees/{employee}", b"photo", ".jpg"),
            original_name="walker.jpg",
            sha256="0" * 64,
            face_box=[0, 0, 1, 1],
        )
        db.session.add(photo)
        db.session.commit()
        photo_id = photo.id
    event = punch(
        app, employee, "check_in", datetime(2025, 3, 3, 0, 0, tzinfo=UTC), proof_photo=proof
    )
    clients = {
        "anonymous": app.test_client(),
        "studio": client_as(app, "studio"),
        "manager": client_as(app, "manager", "Sales"),
        "admin": client_as(app, "admin"),
    }
    with app.app_context():
        from webapp.auth.models import User

        studio_user = db.session.scalar(
            db.select(User.id).where(User.email == "studio-x@example.com")
        )
    values = {
        "employee_id": employee,
        "event_id": event,
        "photo_id": photo_id,
        "kiosk_id": kiosk,
        "user_id": studio_user,
        "fmt": "csv",
    }
    return app, clients, values


def _admin_routes(app):
    """(endpoint, method, rule) for every admin route, straight from the URL map."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                routes.append((rule.endpoint, method, rule))
    return sorted(routes, key=lambda r: (r[2].rule, r[1]))


def _url(rule, values) -> str:
    missing = set(rule.arguments) - set(values)
    assert not missing, f"{rule.rule}: add a sample value for {missing} to the walk fixture"
    return rule.build({name: values[name] for name in rule.arguments}, append_unknown=False)[1]


def test_the_walk_covers_the_routes_this_issue_added(walk):
    app, _clients, _values = walk
    endpoints = {endpoint for endpoint, _method, _rule in _admin_routes(app)}
    assert endpoints >= MANAGER_READS
    assert {
        "admin.review",
        "admin.void_record",
        "admin.confirm_record",
        "admin.restore_record",
        "admin.new_record",
        "admin.withdraw_employee_consent",
        "admin.users",
        "admin.privacy",
        "admin.departments",
        "admin.edit_employee",
    } <= endpoints
    assert len(endpoints) >= 30


@pytest.mark.parametrize("role", ["anonymous", "studio", "manager", "admin"])
def test_every_admin_route_checks_the_role(walk, role):
    app, clients, values = walk
    client = clients[role]
    problems = []
    for endpoint, method, rule in _admin_routes(app):
        url = _url(rule, values)
        response = client.open(url, method=method, data={})
        status = response.status_code
        manager_refused = endpoint not in MANAGER_READS or method != "GET"
        if role == "anonymous":
            ok = status == 302 and "/login" in response.headers["Location"]
        elif role == "studio" or (role == "manager" and manager_refused):
            ok = status == 403
        elif role == "manager":
            ok = status in (200, 302)
        else:  # admin: allowed everywhere; a POST without its form data may only be refused
            ok = status not in (401, 403) and (status < 500 or status == 503)  # 503: no models
        if not ok:
            problems.append(f"{method} {url} as {role}: {status}")
    assert problems == []


def test_a_manager_sees_only_their_department(walk):
    app, clients, values = walk
    manager = clients["manager"]
    other = add_employee(app, "Outsider", "Film")
    event = punch(app, other, "check_in", datetime(2025, 3, 3, 1, 0, tzinfo=UTC))
    assert manager.get(f"/admin/records/{values['event_id']}").status_code == 200
    assert manager.get(f"/admin/records/{event}").status_code == 404
    assert "Outsider" not in manager.get("/admin/records").get_data(as_text=True)
    assert "Outsider" not in manager.get("/admin/dashboard").get_data(as_text=True)
    page = manager.get("/admin/records").get_data(as_text=True)
    # No correction buttons and no admin menu for a manager.
    assert "Add missed punch" not in page and "/admin/users" not in page
    assert "/admin/records" in page and "/admin/reports/daily" in page


def test_logins_land_where_each_role_works(walk):
    app, _clients, _values = walk
    for email, home in [
        ("admin-x@example.com", "/admin/dashboard"),
        ("manager-sales@example.com", "/admin/dashboard"),
        ("studio-x@example.com", "/studio/"),
    ]:
        client = app.test_client()
        response = client.post("/login", data={"email": email, "password": "long-enough-pw"})
        assert response.headers["Location"] == home
