"""Generated people for face swap: candidates of a gender and age band from the face bank, their
thumbnails, and more of them made by a worker when the bank is short.

The web process only reads the bank's index (cheap) and its crops; making faces takes the
generator and the tagger, so a short band is filled by a worker (`generate_people`, queued like
face detection) while the page polls. Real (consented) donors are offered only when the operator
allows it (STUDIO_SWAP_CONSENTED_DONORS).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import cv2
from flask import current_app, url_for

from ml.age_gender import BAND_NAMES, GENDERS
from ml.face_bank import KIND_GENERATED, Donor, FaceBank
from ml.generator.donors import DEFAULT_BANK_SIZE
from ml.generator.people import Person, UnknownPerson, candidates, find_person
from webapp.errors import AppError, NotFound
from webapp.studio import queue
from webapp.studio.facebank import BankBusy, bank_dir, fill_running

log = logging.getLogger(__name__)

DEFAULT_COUNT = 4  # candidates in one batch
MAX_COUNT = 12
MAX_BATCH = 1000
MAX_GENERATE = 8  # faces one request for more may have a worker make
ASK_AGAIN = 20.0  # s before the same request for more people is queued again
THUMBNAIL_SIZE = 160
THUMBNAIL_CACHE = "private, max-age=604800, immutable"  # an id's face never changes


def _bank(config: Mapping[str, Any]) -> FaceBank:
    """The face bank, one reader per app (it re-reads its index when the file changes)."""
    app = current_app._get_current_object()
    folder = bank_dir(config)
    bank = app.extensions.get("studio_people_bank")
    if bank is None or bank.root != folder:
        bank = app.extensions["studio_people_bank"] = FaceBank(folder)
    return bank


def allow_consented(config: Mapping[str, Any]) -> bool:
    """Whether the operator lets studio users swap onto consented real donors."""
    return bool(config.get("STUDIO_SWAP_CONSENTED_DONORS", False))


def _int_arg(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
        raise AppError(f"{name} must be a whole number from {low} to {high}.", f"bad_{name}")
    return int(value)


def list_candidates(
    config: Mapping[str, Any],
    gender: str | None,
    band: str | None,
    count: str | None = None,
    batch: str | None = None,
) -> tuple[dict, bool]:
    """One batch of candidates and whether it is complete; when the bank is short of the band,
    a worker is asked for more (the caller answers 202 and the page asks again)."""
    if gender not in GENDERS:
        raise AppError(f"gender must be one of {', '.join(GENDERS)}.", "bad_gender")
    if band not in BAND_NAMES:
        raise AppError(f"age_band must be one of {', '.join(BAND_NAMES)}.", "bad_age_band")
    count_n = _int_arg(count, "count", DEFAULT_COUNT, 1, MAX_COUNT)
    batch_n = _int_arg(batch, "batch", 0, 0, MAX_BATCH)
    bank = _bank(config)
    people = candidates(bank, gender, band, allow_consented(config))
    start = batch_n * count_n
    chosen = people[start : start + count_n]
    complete = len(chosen) == count_n
    generated = sum(1 for d in bank.donors if d.kind == KIND_GENERATED)
    body = {
        "gender": gender,
        "age_band": band,
        "batch": batch_n,
        "count": count_n,
        "status": "ready",
        "candidates": [candidate_dict(donor) for donor in chosen],
        "bank": {"generated": generated, "default_size": DEFAULT_BANK_SIZE},
        "next_url": url_for(
            "studio_api.people_candidates",
            gender=gender,
            age_band=band,
            count=count_n,
            batch=batch_n + 1,
        ),
    }
    if not complete:
        wanted = min(start + count_n, sum(1 for d in people if d.kind == KIND_GENERATED)
                     + MAX_GENERATE)  # fmt: skip
        _ask_for_more(gender, band, wanted)
        filling = generated < DEFAULT_BANK_SIZE and fill_running(bank_dir(config))
        body["status"] = "filling" if filling else "generating"
        body["message"] = (
            f"The face bank is still being filled ({generated} of {DEFAULT_BANK_SIZE} generated "
            "faces so far); people of this gender and age come when a studio worker has made "
            "them. Ask again in a few seconds."
            if filling
            else "A studio worker is making more people of this gender and age; ask again in a "
            "few seconds."
        )
    return body, complete


def candidate_dict(donor: Donor) -> dict:
    """The API's JSON shape of one candidate."""
    return {
        "id": donor.id,
        "kind": donor.kind,
        "seed": donor.seed,
        "gender": donor.gender,
        "age_band": donor.band,
        "age": round(donor.age),
        "yaw": donor.yaw,
        "thumbnail_url": url_for("studio_api.person_thumbnail", person_id=donor.id),
    }


def _ask_for_more(gender: str, band: str, at_least: int) -> None:
    """Queue a worker task to bring the band to `at_least` people (it does nothing if it has);
    the page asks every 2 s while it waits, so the same request is queued once per ASK_AGAIN."""
    asked = current_app.extensions.setdefault("studio_people_asked", {})
    now = time.monotonic()
    last = asked.get((gender, band, at_least))
    if last is not None and now - last < ASK_AGAIN:
        return
    try:
        queue.enqueue_people(gender, band, at_least)
        asked[(gender, band, at_least)] = now
    except Exception as exc:
        log.exception("could not queue more generated people")
        raise AppError(
            "The job queue cannot be reached; try again later.", "queue_unavailable", 503
        ) from exc


def thumbnail_etag(config: Mapping[str, Any], person_id: str) -> tuple[Person, str]:
    """The candidate a thumbnail shows and its ETag; 404 for nobody this user may see."""
    try:
        person = find_person(_bank(config), person_id, allow_consented(config))
    except UnknownPerson as exc:
        raise NotFound("There is no such person.") from exc
    if person.donor is None:
        raise NotFound("Only people in the face bank have thumbnails.")
    return person, f"{person.donor.sha256[:20]}-{THUMBNAIL_SIZE}"


def thumbnail(config: Mapping[str, Any], person: Person) -> bytes:
    """A candidate's face as a small JPEG."""
    rgb = _bank(config).crop(person.donor)
    small = cv2.resize(rgb, (THUMBNAIL_SIZE, THUMBNAIL_SIZE), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 88])  # fmt: skip
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise AppError("The thumbnail could not be made.", "thumbnail_failed", 500)
    return data.tobytes()


def check_person(config: Mapping[str, Any], person_id: str) -> None:
    """Refuse a job's person that names nobody (400), or any bank person while the bank is
    empty (409, with what to do)."""
    bank = _bank(config)
    try:
        find_person(bank, person_id, allow_consented(config))
    except UnknownPerson as exc:
        if not person_id.startswith("seed:") and not any(
            d.kind == KIND_GENERATED for d in bank.donors
        ):
            raise AppError(
                "The face bank has no generated people yet; a studio worker fills it (a few "
                "minutes after its first start), or `flask studio facebank generate` adds some. "
                'A generator seed (params.person = "seed:N") works meanwhile.',
                "face_bank_empty",
                409,
            ) from exc
        raise AppError(
            f"params.person: {exc} (ask GET /people/candidates for people).", "unknown_person"
        ) from exc


# -- run by a worker ------------------------------------------------------------------------------


def generate_people(gender: str, band: str, at_least: int) -> None:
    """Add generated people of `gender` and `band` until the bank has `at_least` of them."""
    from webapp.studio import facebank

    config = current_app.config
    have = len(candidates(FaceBank(bank_dir(config)), gender, band))
    missing = min(at_least - have, MAX_GENERATE)
    if missing <= 0:
        return
    log.info("generating %d people of %s/%s for face swap", missing, gender, band)
    try:
        report = facebank.generate(config, missing, gender, band)
    except BankBusy:  # the default fill (or another task) is adding faces; the page asks again
        log.info("face bank busy; %s/%s gets its people after the current fill", gender, band)
        return
    log.info("face bank: %s", report.summary())
