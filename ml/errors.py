"""Errors raised by the face pipeline; each carries a stable machine-readable ``code``."""

from __future__ import annotations


class CodedError(Exception):
    """An error with a stable machine-readable ``code`` and a message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FaceError(ValueError):
    """Base class for a photo that cannot be used as a face image."""

    code: str = "face_error"
    default_message: str = "The image cannot be used as a face image."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


class NoFaceError(FaceError):
    """No face was found in the image."""

    code = "no_face"
    default_message = "No face was found in the image."


class MultipleFacesError(FaceError):
    """Two or more faces of similar size were found, so none is clearly the subject."""

    code = "multiple_faces"
    default_message = "More than one face was found in the image."

    def __init__(self, message: str | None = None, count: int | None = None) -> None:
        super().__init__(message)
        self.count = count
