"""Domain errors mapped once to HTTP: JSON under /api/, a page elsewhere."""

from __future__ import annotations

from flask import jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from ml.errors import FaceError
from ml.images import ImageError
from webapp.messages import HTTP_MESSAGES, describe
from webapp.registry import ModelsNotReady


class AppError(Exception):
    """An error the user can act on; `code` is stable for API clients."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.status = status or self.status


class NotFound(AppError):
    """The thing asked for does not exist (or is not yours)."""

    status = 404
    code = "not_found"


class Unauthorized(AppError):
    """No valid credentials."""

    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    """Credentials are valid but not allowed here."""

    status = 403
    code = "forbidden"


def wants_json() -> bool:
    """True for API routes and clients that ask for JSON."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def translated(message: str) -> str:
    """The message in the reader's language when the catalogue has it, else unchanged."""
    return _(message) if message else message


def localize(code: str, message: str) -> str:
    """The reader's wording of an error: the message's translation, else the code's, else it."""
    text = translated(message)
    return text if text != message else describe(code, message)


def error_response(status: int, code: str, message: str):
    """Answer an error as JSON or as a page, in the reader's language where it is known."""
    if wants_json():
        return jsonify(error=code, message=translated(message)), status
    message = localize(code, message)
    return render_template("error.html", status=status, code=code, message=message), status


# Face errors are the photo's fault, not the request's shape: 422.
FACE_ERROR_STATUS = 422
IMAGE_ERROR_STATUS = {"image_too_large": 413}


def register_error_handlers(app) -> None:
    """Install one handler per exception type."""

    @app.errorhandler(AppError)
    def handle_app_error(exc: AppError):
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(ImageError)
    def handle_image_error(exc: ImageError):
        return error_response(IMAGE_ERROR_STATUS.get(exc.code, 400), exc.code, exc.message)

    @app.errorhandler(FaceError)
    def handle_face_error(exc: FaceError):
        return error_response(FACE_ERROR_STATUS, exc.code, str(exc))

    @app.errorhandler(ModelsNotReady)
    def handle_not_ready(exc: ModelsNotReady):
        response = error_response(503, "models_not_ready", _("The models are still loading."))
        return response[0], 503, {"Retry-After": "5"}

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        message = _("The upload is too large.") if exc.code == 413 else exc.description
        # Werkzeug's own descriptions are English: a page gets the status's wording instead.
        if type(exc).description == exc.description and code in HTTP_MESSAGES:
            message = str(HTTP_MESSAGES[code])
        return error_response(exc.code or 500, code, message)
