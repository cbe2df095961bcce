"""Train and use the open-set classifier; every worker follows the newest version in the DB."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from ml.classifier import OpenSetClassifier
from ml.population import population_mean
from ml.quality import BLURRED, TOO_SMALL, TURNED
from webapp import audit
from webapp.employees.models import Employee, FaceTemplate
from webapp.extensions import db
from webapp.recognition.models import ClassifierVersion
from webapp.recognition.timing import record, stage
from webapp.registry import current_models


@dataclass(frozen=True)
class RecognizedFace:
    """One face in an image and who it is (or None for unknown)."""

    box: tuple[int, int, int, int]
    employee_id: int | None
    name: str | None
    similarity: float
    quality: str = "ok"  # ml.quality verdict: ok, too_small, turned, blurred (then not named)

    def as_dict(self) -> dict:
        """The API's JSON shape (`quality` and `advice` were added; the rest is unchanged)."""
        return {
            "box": list(self.box),
            "employee_id": self.employee_id,
            "name": self.name,
            "similarity": round(self.similarity, 4),
            "known": self.employee_id is not None,
            "quality": self.quality,
            "advice": quality_advice(self.quality),
        }


def quality_advice(verdict: str) -> str | None:
    """What to tell the person when their face was too poor to name (None when it was fine)."""
    advice = {
        TOO_SMALL: _("Please come closer to the camera."),
        TURNED: _("Please face the camera."),
        BLURRED: _("Please hold still; the picture is blurred."),
    }
    return str(advice[verdict]) if verdict in advice else None


def embedder_version() -> str | None:
    """The embedder whose templates train the classifier: the loaded one, else the last used.

    The fallback lets the command line (retention) and a worker that is still loading retrain
    without TensorFlow; None means nobody was ever trained and no model is loaded.
    """
    registry = current_models()
    if registry.ready:
        return registry.get("faces").version
    return db.session.scalar(
        select(ClassifierVersion.model_version).order_by(ClassifierVersion.id.desc()).limit(1)
    )


def build_classifier_version(actor=None, analyzer_version: str | None = None) -> ClassifierVersion:
    """Train a classifier on active employees' templates and add it to the session (no commit)."""
    analyzer_version = analyzer_version or current_models().get("faces").version
    rows = db.session.execute(
        select(FaceTemplate.employee_id, FaceTemplate.photo_id, FaceTemplate.embedding)
        .join(Employee)
        .where(Employee.active.is_(True), FaceTemplate.model_version == analyzer_version)
    ).all()
    threshold = current_app.config["RECOGNITION_THRESHOLD"]
    payload = None
    stats: dict = {}
    labels = np.array([row.employee_id for row in rows], dtype=np.int64)
    if rows:
        embeddings = np.stack([np.frombuffer(row.embedding, dtype="<f4") for row in rows])
        photos = np.array([row.photo_id for row in rows], dtype=np.int64)
        # Cosines are centred on the generated population's mean where one is stored for
        # this embedder (ml.population); otherwise they stay raw.
        center = population_mean(analyzer_version)
        classifier = OpenSetClassifier.fit(
            embeddings, labels, threshold, groups=photos, center=center
        )
        stats["centred"] = center is not None
        payload = classifier.to_bytes()
        # Each person's calibrated threshold (leave-one-photo-out), shown to admins.
        stats["thresholds"] = {
            str(int(label)): round(float(limit), 4)
            for label, limit in zip(classifier.classes, classifier.thresholds, strict=True)
        }
    version = ClassifierVersion(
        created_by_id=getattr(actor, "id", None),
        model_version=analyzer_version,
        employee_count=len(set(labels.tolist())),
        template_count=len(rows),
        threshold=threshold,
        stats=stats,
        payload=payload,
    )
    db.session.add(version)
    db.session.flush()
    audit.record(
        "classifier.train",
        "classifier_version",
        version.id,
        actor,
        after={"employees": version.employee_count, "templates": version.template_count},
    )
    return version


def train_classifier(actor=None) -> ClassifierVersion:
    """Train a new classifier version on the templates of active employees and store it."""
    version = build_classifier_version(actor)
    db.session.commit()
    return version


def on_templates_changed(_sender, actor=None, in_session: bool = False):
    """The receiver of webapp.signals.TEMPLATES_CHANGED: retrain, now or in the session."""
    return retrain_in_session(actor) if in_session else train_classifier(actor)


def retrain_in_session(actor=None) -> ClassifierVersion | None:
    """After templates were deleted or people (de)activated: add a fresh classifier version and
    clear the stored payloads of the older ones, which may hold removed people's centroids (no
    commit). None when nothing was ever trained and no model is loaded (nobody to forget).
    """
    analyzer_version = embedder_version()
    if analyzer_version is None:
        return None
    version = build_classifier_version(actor, analyzer_version)
    db.session.execute(
        update(ClassifierVersion)
        .where(ClassifierVersion.id < version.id, ClassifierVersion.payload.is_not(None))
        .values(payload=None)
    )
    return version


class ClassifierCache:
    """This process's copy of the newest classifier, reloaded when a newer version appears."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version_id: int | None = None
        self._classifier: OpenSetClassifier | None = None
        self._names: dict[int, str] = {}

    def current(self) -> tuple[int | None, OpenSetClassifier | None, dict[int, str]]:
        """Return (version id, classifier or None, employee names) for the newest version."""
        newest = db.session.scalar(select(func.max(ClassifierVersion.id)))
        with self._lock:
            if newest != self._version_id:
                self._load(newest)
            return self._version_id, self._classifier, self._names

    def _load(self, version_id: int | None) -> None:
        classifier = None
        names: dict[int, str] = {}
        if version_id is not None:
            version = db.session.get(ClassifierVersion, version_id)
            if version.payload:
                classifier = OpenSetClassifier.from_bytes(
                    version.payload, threshold=current_app.config["RECOGNITION_THRESHOLD"]
                )
                ids = [int(label) for label in classifier.classes]
                rows = db.session.execute(
                    select(Employee.id, Employee.name).where(Employee.id.in_(ids))
                )
                names = {employee_id: name for employee_id, name in rows}
        self._version_id, self._classifier, self._names = version_id, classifier, names


def classifier_cache() -> ClassifierCache:
    """The app's classifier cache."""
    return current_app.extensions["classifier_cache"]


def model_version_label(version_id: int | None) -> str:
    """The model_version string the API reports."""
    faces = current_models().get("faces").version
    return f"{faces}+classifier-v{version_id or 0}"


def recognize(rgb: np.ndarray, preset: str = "photo") -> tuple[list[RecognizedFace], str]:
    """Name every face in an image; returns the faces (largest first) and the model version."""
    timings: dict[str, float] = {}
    embedded = current_models().get("faces").analyze(rgb, preset, timings)
    for name, seconds in timings.items():
        record(name, seconds)
    with stage("classify"):
        version_id, classifier, names = classifier_cache().current()
        matches = (
            classifier.predict(np.stack([f.embedding for f in embedded]))
            if (classifier and embedded)
            else [None] * len(embedded)
        )
    results = []
    for face, match in zip(embedded, matches, strict=True):
        verdict = face.quality.verdict if face.quality else "ok"
        # A poor face is never named: a guess on it is how strangers slip through.
        employee_id = match.label if (match and verdict == "ok") else None
        results.append(
            RecognizedFace(
                box=face.face.box,
                employee_id=employee_id,
                name=names.get(employee_id) if employee_id is not None else None,
                similarity=match.similarity if match else 0.0,
                quality=verdict,
            )
        )
    return results, model_version_label(version_id)
