"""Open-set face classifier: a linear SVC picks a person, a centroid check rejects strangers.

SVC probabilities alone let strangers through (an SVC always picks one of the enrolled people), so
a face counts as known only when its cosine similarity to the predicted person's centroid reaches
the threshold. The model is stored as plain arrays (no pickle).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from sklearn.svm import LinearSVC


@dataclass(frozen=True)
class Match:
    """The classifier's answer for one embedding."""

    label: int | None
    candidate: int
    similarity: float

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
    ) -> None:
        self.classes = np.asarray(classes, dtype=np.int64)
        self.centroids = _normalize(centroids)
        self.coef = None if coef is None else np.asarray(coef, dtype=np.float32)
        self.intercept = None if intercept is None else np.asarray(intercept, dtype=np.float32)
        self.threshold = float(threshold)

    @classmethod
    def fit(
        cls, embeddings: np.ndarray, labels: np.ndarray, threshold: float, c: float = 1.0
    ) -> OpenSetClassifier:
        """Train on L2-normalized embeddings with integer labels (one person is enough)."""
        x = _normalize(embeddings)
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
        return cls(classes, centroids, coef, intercept, threshold)

    def candidates(self, embeddings: np.ndarray) -> np.ndarray:
        """Return the index (into `classes`) the SVC picks for each embedding."""
        x = _normalize(embeddings)
        if self.coef is None:
            return np.zeros(len(x), dtype=np.int64)
        scores = x @ self.coef.T + self.intercept
        if scores.shape[1] == 1:  # binary LinearSVC: positive means classes[1]
            return (scores[:, 0] > 0).astype(np.int64)
        return scores.argmax(axis=1)

    def predict(self, embeddings: np.ndarray) -> list[Match]:
        """Name each embedding, or leave it unknown when it is far from the picked centroid."""
        x = _normalize(embeddings)
        picked = self.candidates(x)
        sims = np.einsum("nd,nd->n", x, self.centroids[picked])
        matches = []
        for index, sim in zip(picked, sims, strict=True):
            candidate = int(self.classes[index])
            label = candidate if sim >= self.threshold else None
            matches.append(Match(label=label, candidate=candidate, similarity=float(sim)))
        return matches

    def to_bytes(self) -> bytes:
        """Serialize to an .npz blob (arrays only, no pickle)."""
        buffer = io.BytesIO()
        arrays = {
            "classes": self.classes,
            "centroids": self.centroids,
            "threshold": np.array(self.threshold, dtype=np.float64),
        }
        if self.coef is not None:
            arrays.update(coef=self.coef, intercept=self.intercept)
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes, threshold: float | None = None) -> OpenSetClassifier:
        """Load a blob made by `to_bytes`, optionally with a new threshold."""
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            coef, intercept = data.get("coef"), data.get("intercept")
            stored = float(data["threshold"])
            return cls(
                data["classes"],
                data["centroids"],
                coef,
                intercept,
                stored if threshold is None else threshold,
            )
