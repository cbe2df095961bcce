"""Errors raised by the restoration pipeline; each carries a stable machine-readable ``code``."""

from __future__ import annotations


class RestoreError(ValueError):
    """A restoration request that cannot be carried out; `code` names the reason."""

    code: str = "restore_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class HintError(RestoreError):
    """Colour hints (strokes) that are malformed or out of bounds."""

    code = "bad_hints"


class ModelFileError(RestoreError):
    """An operator's model file that is missing or does not fit the slot's contract."""

    code = "bad_model_file"
