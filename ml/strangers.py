"""Strangers for measuring open-set rejection: faces of no real person, made by the generator."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ml.recognition import FaceAnalyzer

STRANGER_SEEDS = range(70_000, 70_240)  # fixed: every run meets the same 240 strangers
# A second, disjoint set no rule was tuned on (issue 15): a rule that only fits the first set's
# lookalikes shows here. ml.population's seeds (60000-60479) are disjoint from both.
HELD_OUT_SEEDS = range(80_000, 80_240)
STRANGER_SIZE = 256  # px; a face of ~130 px, as an enrollment photo or a close kiosk frame


def stranger_cache(analyzer: FaceAnalyzer, generator, seeds: Sequence[int]) -> Path:
    """Where the embeddings of these seeds' faces are kept, keyed by both models' versions."""
    from ml.openvino_runtime import cache_root

    seeds = list(seeds)
    key = hashlib.sha256(
        f"{generator.cache_key()}|{analyzer.version}|{STRANGER_SIZE}|{seeds}".encode()
    ).hexdigest()[:16]
    return cache_root() / "strangers" / f"{len(seeds)}-{key}.npy"


def generated_stranger_embeddings(
    analyzer: FaceAnalyzer,
    generator,
    seeds: Sequence[int] = STRANGER_SEEDS,
    batch: int = 8,
    cache: Path | None = None,
) -> np.ndarray:
    """Embeddings (N, 128) of the generated faces the photo detector finds, one per seed.

    With `cache` (see `stranger_cache`), the embeddings are kept in that .npy file and read back
    next time: making 240 faces takes minutes on two cores.
    """
    if cache is not None and cache.is_file():
        return np.load(cache)
    seeds = list(seeds)
    embeddings = []
    for start in range(0, len(seeds), batch):
        for face in generator.sample(seeds[start : start + batch], size=STRANGER_SIZE):
            found = analyzer.analyze(face.image, "photo")
            if found:
                embeddings.append(found[0].embedding)
    result = np.stack(embeddings).astype(np.float32)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache.with_suffix(".tmp.npy")
        np.save(temporary, result)
        temporary.replace(cache)
    return result
