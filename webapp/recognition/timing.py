"""Per-request stage timings, sent back as a `Server-Timing` header (bench and profiling)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Response, g, has_request_context


def record(name: str, seconds: float) -> None:
    """Add a measured duration to this request's Server-Timing (a no-op outside requests)."""
    if has_request_context():
        timings = g.setdefault("server_timing", {})
        timings[name] = timings.get(name, 0.0) + seconds


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block and add it to this request's Server-Timing (a no-op outside requests)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        record(name, time.perf_counter() - started)


def start() -> None:
    """Before a request: remember when the app started on it."""
    g.request_started = time.perf_counter()


def add_header(response: Response) -> Response:
    """After a request that timed stages: `Server-Timing: decode;dur=3.1, ..., app;dur=41.0`.

    Durations in milliseconds; `app` is the whole view, from before_request to after_request.
    """
    timings = g.get("server_timing")
    if timings:
        parts = [f"{name};dur={seconds * 1000:.1f}" for name, seconds in timings.items()]
        if "request_started" in g:
            parts.append(f"app;dur={(time.perf_counter() - g.request_started) * 1000:.1f}")
        response.headers["Server-Timing"] = ", ".join(parts)
    return response
