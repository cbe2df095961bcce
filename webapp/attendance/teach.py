"""Teach mode: labelled gesture samples, trained gesture models, and switching kiosks to them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from flask import current_app
from sqlalchemy import func, select

from ml.gestures import GESTURES, GestureModel, pose_features
from ml.images import ImageError, decode_image
from webapp import audit
from webapp.attendance.kiosk_models import GestureModelVersion, GestureSample
from webapp.attendance.models import Kiosk
from webapp.errors import AppError, NotFound
from webapp.extensions import db
from webapp.registry import current_models

MIN_SAMPLES_PER_GESTURE = 5


@dataclass
class SampleReport:
    """What an upload of labelled photos added and what it refused."""

    added: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason code)


def _check_label(label: str) -> str:
    if label not in GESTURES:
        raise AppError(f"label must be one of {', '.join(GESTURES)}.", "bad_label")
    return label


def add_sample(label: str, data: bytes, source: str, actor=None) -> GestureSample:
    """Read the pose in one photo or camera frame and keep it as a labelled sample."""
    _check_label(label)
    rgb = decode_image(data, current_app.config["MAX_IMAGE_PIXELS"])
    pose = current_models().get("pose").estimate(rgb)
    if pose is None:
        raise AppError("No body pose was found in the picture.", "no_pose", 422)
    sample = GestureSample(
        label=label,
        features=[float(v) for v in pose_features(pose.landmarks)],
        landmarks=np.asarray(pose.landmarks, dtype=float).round(3).tolist(),
        source=source,
        created_by_id=getattr(actor, "id", None),
    )
    db.session.add(sample)
    db.session.commit()
    return sample


def add_samples(label: str, files: list[tuple[str, bytes]], actor=None) -> SampleReport:
    """Add labelled samples from uploaded photos, naming the ones without a usable pose."""
    _check_label(label)
    report = SampleReport()
    for name, data in files:
        try:
            add_sample(label, data, "upload", actor)
        except (ImageError, AppError) as exc:
            report.rejected.append((name, exc.code))
            continue
        report.added += 1
    if report.added:
        audit.record(
            "gesture.samples_add",
            "gesture_samples",
            None,
            actor,
            after={"label": label, "count": report.added},
        )
        db.session.commit()
    return report


def delete_sample(sample_id: int, actor=None) -> None:
    """Remove one sample."""
    sample = db.session.get(GestureSample, sample_id)
    if sample is None:
        raise NotFound("No such sample.")
    audit.record(
        "gesture.sample_delete", "gesture_sample", sample.id, actor, before={"label": sample.label}
    )
    db.session.delete(sample)
    db.session.commit()


def sample_counts() -> dict[str, int]:
    """How many samples each gesture has."""
    rows = db.session.execute(
        select(GestureSample.label, func.count(GestureSample.id)).group_by(GestureSample.label)
    )
    counts = dict.fromkeys(GESTURES, 0)
    counts.update({label: count for label, count in rows})
    return counts


def train_gesture_model(actor=None) -> GestureModelVersion:
    """Train a gesture model on every sample, with its cross-validated accuracy."""
    samples = db.session.scalars(select(GestureSample)).all()
    counts = Counter(s.label for s in samples)
    short = [g for g in GESTURES if counts[g] < MIN_SAMPLES_PER_GESTURE]
    if short:
        raise AppError(
            f"Each gesture needs at least {MIN_SAMPLES_PER_GESTURE} samples; "
            f"add more of: {', '.join(short)}.",
            "not_enough_samples",
        )
    features = np.array([s.features for s in samples], dtype=np.float32)
    labels = [s.label for s in samples]
    model, accuracy = GestureModel.fit(features, labels)
    version = GestureModelVersion(
        created_by_id=getattr(actor, "id", None),
        sample_count=len(samples),
        accuracy=float(accuracy),
        stats={"counts": dict(counts)},
        payload=model.to_bytes(),
    )
    db.session.add(version)
    db.session.flush()
    audit.record(
        "gesture.train",
        "gesture_model",
        version.id,
        actor,
        after={"samples": len(samples), "accuracy": round(float(accuracy), 4)},
    )
    db.session.commit()
    return version


def assign_model(kiosk_id: int, version_id: int | None, actor=None) -> Kiosk:
    """Switch a kiosk to a trained gesture model, or back to the built-in rules (None)."""
    kiosk = db.session.get(Kiosk, kiosk_id)
    if kiosk is None:
        raise NotFound("No such kiosk.")
    if version_id is not None and db.session.get(GestureModelVersion, version_id) is None:
        raise NotFound("No such gesture model.")
    before = kiosk.gesture_model_id
    kiosk.gesture_model_id = version_id
    audit.record(
        "kiosk.gesture_model",
        "kiosk",
        kiosk.id,
        actor,
        before={"gesture_model_id": before},
        after={"gesture_model_id": version_id},
    )
    db.session.commit()
    return kiosk
