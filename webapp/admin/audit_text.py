"""The audit log in words: who did what to whom, in the reader's language, details apart."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from webapp.audit import AuditEntry

# What each action is called when there is nothing more specific to say.
ACTION_LABELS = {
    "employee.create": _l("Employee added"),
    "employee.update": _l("Employee details changed"),
    "employee.enroll": _l("Face photos enrolled"),
    "employee.photo_remove": _l("Face photo removed"),
    "employee.consent_give": _l("Consent recorded"),
    "employee.consent_withdraw": _l("Consent withdrawn, face data deleted"),
    "employee.deactivate": _l("Employee deactivated"),
    "employee.reactivate": _l("Employee reactivated"),
    "retention.biometrics_delete": _l("Face data deleted by the retention rule"),
    "retention.proof_photos_delete": _l("Check-in proof photos deleted by the retention rule"),
    "kiosk.create": _l("Kiosk registered"),
    "kiosk.rename": _l("Kiosk renamed"),
    "kiosk.revoke": _l("Kiosk revoked"),
    "kiosk.gesture_model": _l("Kiosk gesture reading changed"),
    "user.create": _l("User account created"),
    "user.update": _l("User account changed"),
    "department.save": _l("Department saved"),
    "api_token.create": _l("API token created"),
    "api_token.revoke": _l("API token revoked"),
}

# Names of the fields the details show.
FIELD_LABELS = {
    "photos": _l("photos"),
    "photo": _l("photo"),
    "templates": _l("face templates"),
    "text_version": _l("consent text version"),
    "consent_id": _l("consent"),
    "active": _l("active"),
    "name": _l("name"),
    "events": _l("check-ins"),
    "first_id": _l("first record"),
    "last_id": _l("last record"),
    "proof_photos": _l("proof photos"),
    "older_than": _l("older than"),
    "gesture_model_id": _l("gesture model"),
    "role": _l("role"),
    "email": _l("e-mail"),
    "department": _l("department"),
}


@dataclass
class AuditLine:
    """One log entry as a sentence, the actor in words, and the changed fields."""

    entry: AuditEntry
    summary: str
    actor: str
    # (field, value before or None when only one value was recorded, value after)
    details: list[tuple[str, str | None, str]] = field(default_factory=list)


def actor_text(label: str) -> str:
    """Who did it: an e-mail stays, the command line and automatic jobs are said in words."""
    if label == "cli":
        return _("the command line")
    if label == "system":
        return _("automatic (retention)")
    return label


def _value(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        shown = ", ".join(str(item) for item in value[:5])
        more = len(value) - 5
        return shown + (" " + _("and %(n)d more", n=more) if more > 0 else "")
    return str(value)


def _summary(entry: AuditEntry, name: str) -> str:
    after, before = entry.after or {}, entry.before or {}
    action = entry.action
    if action == "employee.enroll":
        count = len(after.get("photos") or [])
        return ngettext(
            "%(num)d face photo of %(name)s enrolled",
            "%(num)d face photos of %(name)s enrolled",
            count,
            name=name,
        )
    if action == "employee.photo_remove":
        return _("A face photo of %(name)s removed", name=name)
    if action == "employee.consent_give":
        return _(
            "%(name)s gave consent (text version %(v)s)", name=name, v=after.get("text_version")
        )
    counts = {"photos": before.get("photos", 0), "templates": before.get("templates", 0)}
    if action == "employee.consent_withdraw":
        return _(
            "%(name)s withdrew consent: %(photos)s photo(s), %(templates)s template(s) deleted",
            name=name,
            **counts,
        )
    if action == "retention.biometrics_delete":
        return _(
            "Retention deleted %(photos)s photo(s) and %(templates)s template(s) of %(name)s",
            name=name,
            **counts,
        )
    if action == "employee.deactivate":
        return _("%(name)s deactivated", name=name)
    if action == "employee.reactivate":
        return _("%(name)s reactivated", name=name)
    if action == "retention.proof_photos_delete":
        return _(
            "Retention deleted the proof photos of %(n)s check-in(s) older than %(day)s",
            n=before.get("events", 0),
            day=str(after.get("older_than", ""))[:10],
        )
    label = ACTION_LABELS.get(action)
    text = str(label) if label is not None else action
    return f"{text}: {name}" if name else text


def describe_entry(entry: AuditEntry, names: dict[int, str]) -> AuditLine:
    """The entry in words; `names` maps employee ids to names."""
    name = ""
    if entry.target_type == "employee" and entry.target_id is not None:
        name = names.get(entry.target_id) or _("employee #%(id)d", id=entry.target_id)
    elif entry.target_type == "kiosk":
        name = str((entry.after or {}).get("name") or (entry.before or {}).get("name") or "")
    before, after = entry.before or {}, entry.after or {}
    details = [
        (
            str(FIELD_LABELS.get(key, key)),
            _value(before[key]) if key in before and key in after else None,
            _value(after[key] if key in after else before[key]),
        )
        for key in dict.fromkeys([*before, *after])
    ]
    return AuditLine(entry, _summary(entry, name), actor_text(entry.actor_label), details)
