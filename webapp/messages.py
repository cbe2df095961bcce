"""User-facing wording for error codes, so pages can show them in the reader's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

MESSAGES = {
    "empty_file": _l("The file is empty."),
    "not_an_image": _l("The file is not an image we can read."),
    "unsupported_image": _l("This image type is not accepted; use JPEG, PNG or WebP."),
    "corrupt_image": _l("The image is damaged or truncated."),
    "image_too_large": _l("The image has too many pixels."),
    "no_face": _l("No face was found in the photo."),
    "multiple_faces": _l(
        "More than one face of similar size: the photo must show one person clearly."
    ),
    "duplicate_photo": _l("This photo is already enrolled for this employee."),
    "no_pose": _l("No body pose was found in the picture."),
    "forbidden": _l("You do not have access to this page."),
    "name_required": _l("A kiosk needs a name."),
    "name_too_long": _l("A kiosk name has at most 80 characters."),
    "kiosk_name_taken": _l("A kiosk with this name already exists."),
    "kiosk_not_found": _l("There is no such kiosk."),
}

# The wording of HTTP errors Werkzeug raises with its own English descriptions.
HTTP_MESSAGES = {
    "bad_request": _l("The request could not be understood."),
    "unauthorized": _l("Please log in first."),
    "forbidden": _l("You do not have access to this page."),
    "not_found": _l("There is no such page. Check the address, or go back and follow a link."),
    "method_not_allowed": _l("This address does not accept that kind of request."),
    "request_entity_too_large": _l("The upload is too large."),
    "too_many_requests": _l("Too many requests; wait a moment and try again."),
    "internal_server_error": _l("Something went wrong on the server. Please try again."),
    "service_unavailable": _l("The service is starting or busy; try again in a moment."),
}


def describe(code: str, fallback: str) -> str:
    """Return the translated wording for `code`, or `fallback` when there is none."""
    message = MESSAGES.get(code)
    return str(message) if message is not None else fallback
