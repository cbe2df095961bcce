"""`flask studio ...`: run a studio worker, reap lost jobs, fill the anonymizer's face bank
(with consented photos or generated faces)."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

studio = AppGroup("studio", help="Studio worker and face bank.")
log = logging.getLogger(__name__)


@studio.command("worker")
@click.option(
    "--threads",
    type=int,
    default=None,
    help="Jobs this worker runs at once (default STUDIO_WORKER_THREADS).",
)
def worker(threads: int | None) -> None:
    """Run a studio worker: load the studio models once, then take jobs until stopped."""
    from huey import signals

    from webapp.studio import tasks
    from webapp.studio.queue import get_queue
    from webapp.studio.registry import StudioRegistry

    app = current_app._get_current_object()
    queue = get_queue()
    reaped = tasks.reap_lost_jobs(at_start=True)
    if reaped:
        click.echo(f"re-queued or failed {len(reaped)} job(s) left by a stopped worker: {reaped}")
    registry = StudioRegistry()
    registry.init_app(app)
    click.echo(f"studio worker {tasks.worker_id()}: loading the studio models ...")
    registry.load()
    click.echo(f"models ready in {registry.load_seconds:.1f} s on {registry.device}")
    if app.config["FACEBANK_AUTOFILL"]:
        from webapp.studio.facebank import start_default_fill

        start_default_fill(app, echo=lambda line: click.echo(line, err=False))

    @queue.signal(signals.SIGNAL_INTERRUPTED)
    def requeue(signal, task, *args, **kwargs) -> None:
        if task.name == "studio_run_job":
            with app.app_context():
                tasks.requeue_interrupted(task.args[0])

    consumer = queue.create_consumer(
        workers=threads or app.config["STUDIO_WORKER_THREADS"],
        worker_type="thread",
        periodic=True,
        initial_delay=0.1,
        max_delay=1.0,
        backoff=1.15,
    )
    click.echo(f"taking jobs from {_describe(queue)}")
    consumer.run()


def _describe(queue) -> str:
    """Where the queue lives, for the start-up line."""
    storage = queue.storage
    return getattr(storage, "filename", None) or type(storage).__name__


@studio.command("reap")
def reap() -> None:
    """Re-queue or fail jobs whose worker stopped (a worker also does this at start)."""
    from webapp.studio.tasks import reap_lost_jobs

    reaped = reap_lost_jobs()
    click.echo(f"reaped {len(reaped)} job(s)" + (f": {reaped}" if reaped else ""))


@studio.group("facebank")
def facebank() -> None:
    """The donor faces the anonymizer averages into synthetic faces."""


@facebank.command("add")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
def facebank_add(folder: Path) -> None:
    """Add the face photos in FOLDER (FOLDER/<person>/... names people) to the face bank,
    each auto-tagged with gender and age band."""
    from ml.anonymize import Anonymizer
    from ml.recognition import FaceAnalyzer
    from webapp.studio.facebank import bank_dir

    model_dir = Path(current_app.config["MODEL_DIR"])
    click.echo("loading the models ...")
    anonymizer = Anonymizer.from_model_dir(
        model_dir,
        analyzer=FaceAnalyzer.from_model_dir(model_dir),
        bank_dir=bank_dir(current_app.config),
        threshold=current_app.config["RECOGNITION_THRESHOLD"],
    )

    def progress(done: int, total: int) -> None:
        if done == total or done % 25 == 0:
            click.echo(f"{done}/{total} photos")

    report = anonymizer.bank.add_folder(folder, progress=progress)
    for line in report.lines():
        click.echo(line)
    counts = anonymizer.bank.counts()
    click.echo(
        f"added {len(report.added)}, skipped {len(report.skipped)}; the bank now holds "
        + ", ".join(f"{gender} {band}: {n}" for (gender, band), n in sorted(counts.items()))
    )


@facebank.command("generate")
@click.option("--count", type=click.IntRange(1, 5000), required=True, help="Faces to add.")
@click.option("--gender", type=click.Choice(["female", "male"]), default=None)
@click.option(
    "--age-band",
    "band",
    type=click.Choice(["child", "teen", "young", "adult", "senior"]),
    default=None,
)
def facebank_generate(count: int, gender: str | None, band: str | None) -> None:
    """Add COUNT generated faces (of no real person) to the face bank, tagged with gender, age
    band and head pose; half spread evenly over the matching bands, the rest as they come."""
    from webapp.studio.facebank import BankBusy, generate

    click.echo("loading the generator and the taggers ...")
    last = [0]

    def progress(added: int, total: int, attempts: int) -> None:
        if added == total or attempts - last[0] >= 10:
            last[0] = attempts
            click.echo(f"{added}/{total} faces ({attempts} generated)")

    try:
        report = generate(current_app.config, count, gender, band, progress=progress)
    except BankBusy as exc:
        raise click.ClickException(str(exc)) from exc
    for seed, code, message in report.dropped:
        if code != "band_full":
            click.echo(f"dropped seed {seed}: {code}: {message}")
    click.echo(report.summary())
    if report.missing:
        raise click.ClickException(f"{report.missing} faces short; run the command again")
