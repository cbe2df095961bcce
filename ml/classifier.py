"""Open-set face classifier: a linear SVC picks a person, a centroid check rejects strangers.

SVC probabilities alone let strangers through (an SVC always picks one of the enrolled people), so
a face counts as known only when

- its cosine similarity to the predicted person's centroid reaches that person's threshold, and
- the SVC's margin (the picked person's score minus the runner-up's) reaches `min_margin`.

Each person's threshold is calibrated at training from leave-one-photo-out genuine scores (each
enrollment photo's templates against the centroid of that person's other photos): a low quantile
of those genuine scores (one poor enrollment photo does not drag it down) less `GENUINE_SLACK`,
never below the configured threshold (the floor) and never above `THRESHOLD_CAP`. People whose
photos agree closely get a higher bar, which strangers must clear too; a person enrolled from
fewer than three photos keeps the floor. Nearest-template cosine was measured as a third signal
and left out: it separated strangers worse than the centroid (bench/RESULTS.md).
The model is stored as plain arrays (no pickle).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from sklearn.svm import LinearSVC

GENUINE_QUANTILE = 0.10  # robust "lowest" genuine score: one poor enrollment photo is ignored
GENUINE_SLACK = 0.10  # below that genuine score
THRESHOLD_CAP = 0.60  # a calibrated threshold never exceeds this (REVIEW_ACCEPT_THRESHOLD)
MIN_MARGIN = 0.30  # SVC score of the pick minus the runner-up's; genuine faces measured >= 1.6


@dataclass(frozen=True)
class Match:
    """The classifier's answer for one embedding."""

    label: int | None
    candidate: int
    similarity: float
    threshold: float = 0.0  # the candidate's calibrated threshold
    margin: float = float("inf")  # the SVC margin (inf with one enrolled person)

    @property
    def known(self) -> bool:
        """True when the face was accepted as `candidate`."""
        return self.label is not None


def _normalize(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim == 1:
        rows = rows[None, :]
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


class OpenSetClassifier:
    """Linear SVC over enrolled embeddings with centroid-cosine open-set rejection."""

    def __init__(
        self,
        classes: np.ndarray,
        centroids: np.ndarray,
        coef: np.ndarray | None,
        intercept: np.ndarray | None,
        threshold: float,
        genuine_low: np.ndarray | None = None,
        min_margin: float = MIN_MARGIN,
        center: np.ndarray | None = None,
    ) -> None:
        # The population mean subtracted from every embedding before the cosine (None: raw).
        self.center = None if center is None else np.asarray(center, dtype=np.float32).ravel()
        self.classes = np.asarray(classes, dtype=np.int64)
        self.centroids = _normalize(centroids)  # in the centred space when `center` is set
        self.coef = None if coef is None else np.asarray(coef, dtype=np.float32)
        self.intercept = None if intercept is None else np.asarray(intercept, dtype=np.float32)
        self.threshold = float(threshold)
        # Per person: the lowest leave-one-photo-out genuine score (NaN: not calibrated).
        self.genuine_low = (
            np.full(len(self.classes), np.nan)
            if genuine_low is None
            else np.asarray(genuine_low, dtype=np.float64)
        )
        self.min_margin = float(min_margin)

    @property
    def thresholds(self) -> np.ndarray:
        """Each person's threshold: calibrated, between the floor and the cap."""
        calibrated = np.nan_to_num(self.genuine_low - GENUINE_SLACK, nan=-1.0)
        return np.maximum(self.threshold, np.minimum(calibrated, THRESHOLD_CAP))

    @classmethod
    def fit(
        cls,
        embeddings: np.ndarray,
        labels: np.ndarray,
        threshold: float,
        c: float = 1.0,
        groups: np.ndarray | None = None,
        min_margin: float = MIN_MARGIN,
        center: np.ndarray | None = None,
    ) -> OpenSetClassifier:
        """Train on L2-normalized embeddings with integer labels (one person is enough).

        `groups` (one id per embedding, e.g. the enrollment photo) enables the per-person
        calibration; without it every person keeps the floor `threshold`. `center` (the
        population mean embedding, see ml.population) is subtracted from every embedding before
        anything else, here and in `predict`.
        """
        x = centred(embeddings, center)
        y = np.asarray(labels, dtype=np.int64)
        if len(x) == 0:
            raise ValueError("no embeddings to train on")
        classes = np.unique(y)
        centroids = np.stack([x[y == label].mean(axis=0) for label in classes])
        coef = intercept = None
        if len(classes) > 1:
            svc = LinearSVC(C=c, class_weight="balanced", max_iter=10_000)
            svc.fit(x, y)
            coef, intercept = svc.coef_, svc.intercept_
        genuine_low = None
        if groups is not None:
            genuine_low = np.array(
                [
                    _lowest_genuine(x[y == label], np.asarray(groups)[y == label])
                    for label in classes
                ]
            )
        return cls(classes, centroids, coef, intercept, threshold, genuine_low, min_margin, center)

    def genuine_scores(self, embeddings: np.ndarray, labels: np.ndarray, groups: np.ndarray):
        """Leave-one-group-out genuine scores (median per group) of every person, for reports."""
        x, y, g = centred(embeddings, self.center), np.asarray(labels), np.asarray(groups)
        return {int(label): _group_scores(x[y == label], g[y == label]) for label in self.classes}

    def candidates(self, embeddings: np.ndarray) -> np.ndarray:
        """Return the index (into `classes`) the SVC picks for each embedding."""
        return self._pick(centred(embeddings, self.center))[0]

    def _pick(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(picked index, SVC margin) per row; the margin is inf with one person."""
        if self.coef is None:
            return np.zeros(len(x), dtype=np.int64), np.full(len(x), np.inf)
        scores = x @ self.coef.T + self.intercept
        if scores.shape[1] == 1:  # binary LinearSVC: positive means classes[1]
            return (scores[:, 0] > 0).astype(np.int64), 2.0 * np.abs(scores[:, 0])
        ordered = np.sort(scores, axis=1)
        return scores.argmax(axis=1), ordered[:, -1] - ordered[:, -2]

    def predict(self, embeddings: np.ndarray) -> list[Match]:
        """Name each embedding, or leave it unknown when it fails the person's threshold or the
        SVC margin."""
        x = centred(embeddings, self.center)
        picked, margins = self._pick(x)
        sims = np.einsum("nd,nd->n", x, self.centroids[picked])
        thresholds = self.thresholds[picked]
        matches = []
        for index, sim, limit, margin in zip(picked, sims, thresholds, margins, strict=True):
            candidate = int(self.classes[index])
            accepted = sim >= limit and margin >= self.min_margin
            matches.append(
                Match(
                    label=candidate if accepted else None,
                    candidate=candidate,
                    similarity=float(sim),
                    threshold=float(limit),
                    margin=float(margin),
                )
            )
        return matches

    def to_bytes(self) -> bytes:
        """Serialize to an .npz blob (arrays only, no pickle)."""
        buffer = io.BytesIO()
        arrays = {
            "classes": self.classes,
            "centroids": self.centroids,
            "threshold": np.array(self.threshold, dtype=np.float64),
            "genuine_low": self.genuine_low,
            "min_margin": np.array(self.min_margin, dtype=np.float64),
        }
        if self.coef is not None:
            arrays.update(coef=self.coef, intercept=self.intercept)
        if self.center is not None:
            arrays.update(center=self.center)
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes, threshold: float | None = None) -> OpenSetClassifier:
        """Load a blob made by `to_bytes`, optionally with a new threshold."""
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            coef, intercept = data.get("coef"), data.get("intercept")
            stored = float(data["threshold"])
            margin = data.get("min_margin")  # older blobs: no calibration, no margin gate
            return cls(
                data["classes"],
                data["centroids"],
                coef,
                intercept,
                stored if threshold is None else threshold,
                data.get("genuine_low"),
                float(margin) if margin is not None else 0.0,
                data.get("center"),  # older blobs: raw cosine
            )


def centred(embeddings: np.ndarray, center: np.ndarray | None) -> np.ndarray:
    """Unit rows of `embeddings` after subtracting the population mean `center` (if any)."""
    x = _normalize(embeddings)
    return x if center is None else _normalize(x - np.asarray(center, dtype=np.float32))


def _group_scores(x: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per group: median cosine of its rows to the centroid of the person's other groups."""
    scores = []
    for group in np.unique(groups):
        inside = groups == group
        if inside.all():
            continue
        rest = x[~inside].mean(axis=0)
        rest /= max(float(np.linalg.norm(rest)), 1e-12)
        scores.append(float(np.median(x[inside] @ rest)))
    return np.array(scores)


def _lowest_genuine(x: np.ndarray, groups: np.ndarray) -> float:
    """The low (GENUINE_QUANTILE) leave-one-group-out genuine score; NaN under 3 groups."""
    if len(np.unique(groups)) < 3:
        return float("nan")
    return float(np.quantile(_group_scores(x, groups), GENUINE_QUANTILE))
