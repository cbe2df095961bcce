"""The face bank's service layer: generated donors on demand, and the default bank at first start.

`flask studio facebank generate` and the studio worker's start call these; the building itself
is in `ml.generator.donors` (no Flask there). Filling takes a few minutes, so the default bank is
filled in a background thread of the worker, never in a web request, and two processes never
fill the same bank at once (a lock file in the bank's folder).
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from flask import Flask

from ml.generator.donors import DEFAULT_BANK_SIZE, DEFAULT_PER_CELL, FillReport

log = logging.getLogger(__name__)
LOCK_FILE = ".filling.lock"


class BankBusy(RuntimeError):
    """Another process is filling this face bank right now."""


def bank_dir(config) -> Path:
    """Where the face bank lives: FACEBANK_DIR, else MODEL_DIR/facebank."""
    return Path(config.get("FACEBANK_DIR") or Path(config["MODEL_DIR"]) / "facebank")


@contextmanager
def filling_lock(folder: Path):
    """Hold the bank's fill lock, or raise BankBusy if another process holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise BankBusy(f"another process is filling the face bank in {folder}") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fill_running(folder: Path) -> bool:
    """Whether a process is adding faces to the bank in `folder` now (it holds the fill lock)."""
    path = Path(folder) / LOCK_FILE
    if not path.is_file():
        return False
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _donor_generator(config, folder: Path):
    """Load the generator and the donor tools, and open the bank for writing."""
    from ml.face_bank import FaceBank
    from ml.generator import load_generator
    from ml.generator.donors import DonorGenerator, generated_donor_tools

    model_dir = Path(config["MODEL_DIR"])
    generator = load_generator(model_dir, config.get("DEVICE", "auto"), cache_dir=folder)
    tools = generated_donor_tools(model_dir)
    bank = FaceBank(folder, tools)
    return DonorGenerator(bank, generator, tools, psi=config.get("GENERATOR_PSI", 0.7))


def generate(
    config,
    count: int,
    gender: str | None = None,
    band: str | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> FillReport:
    """Add `count` generated donors (of `gender` / `band` when given) to the face bank."""
    from ml.generator.donors import plan_generate

    plan = plan_generate(count, gender, band)  # checks the arguments before anything loads
    folder = bank_dir(config)
    with filling_lock(folder):
        return _donor_generator(config, folder).fill(plan, progress=progress)


def fill_default_bank(
    config,
    size: int = DEFAULT_BANK_SIZE,
    echo: Callable[[str], None] = log.info,
    per_cell: int = DEFAULT_PER_CELL,
) -> FillReport | None:
    """Fill the default bank up to `size` generated faces, every band with its minimum."""
    from ml.face_bank import FaceBank
    from ml.generator.donors import plan_default_bank

    folder = bank_dir(config)
    if plan_default_bank(FaceBank(folder), size, per_cell) is None:
        return None
    with filling_lock(folder):
        donors = _donor_generator(config, folder)
        plan = plan_default_bank(donors.bank, size, per_cell)  # another worker may have filled
        if plan is None:
            return None
        echo(f"face bank: generating {plan.total} faces of no real person into {folder} ...")
        started, last = time.monotonic(), [0.0]

        def progress(added: int, total: int, attempts: int) -> None:
            now = time.monotonic()
            if added == total or now - last[0] >= 10:
                last[0] = now
                echo(
                    f"face bank: {added}/{total} generated faces ({attempts} tried, "
                    f"{now - started:.0f} s)"
                )

        report = donors.fill(plan, progress=progress)
        echo("face bank: " + report.summary())
        return report


def start_default_fill(
    app: Flask, echo: Callable[[str], None] = log.info, **sizes: int
) -> threading.Thread:
    """Fill the default bank in a daemon thread (the worker takes jobs meanwhile)."""
    config = dict(app.config)

    def run() -> None:
        try:
            fill_default_bank(config, echo=echo, **sizes)
        except BankBusy as exc:
            echo(f"face bank: {exc}; not filling it here")
        except Exception:  # a failed fill must not take the worker down; it says why
            log.exception("face bank: filling the default bank failed")
            echo("face bank: filling the default bank failed (see the log)")

    thread = threading.Thread(target=run, name="facebank-fill", daemon=True)
    thread.start()
    return thread
