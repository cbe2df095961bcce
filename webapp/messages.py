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
}


def describe(code: str, fallback: str) -> str:
    """Return the translated wording for `code`, or `fallback` when there is none."""
    message = MESSAGES.get(code)
    return str(message) if message is not None else fallback
