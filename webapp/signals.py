"""Signals between packages that must not import each other: the employees package says "face
templates changed", the recognition package (above it) retrains. Keeps the import graph acyclic."""

from __future__ import annotations

from typing import Any

from blinker import Namespace

_signals = Namespace()
# Sent with actor= and in_session= (True: add the new version in the caller's transaction,
# False: train and commit); the receiver returns the new classifier version (or None).
TEMPLATES_CHANGED = _signals.signal("templates-changed")


def templates_changed(actor=None, in_session: bool = False) -> Any:
    """Ask for a retrain after templates changed; returns the new classifier version, if any."""
    results = TEMPLATES_CHANGED.send(None, actor=actor, in_session=in_session)
    if not results:
        raise RuntimeError("no receiver for templates-changed: was webapp.recognition set up?")
    return next((value for _receiver, value in results if value is not None), None)
