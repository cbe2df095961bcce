"""The mean FaceNet embedding of a population of faces of no real person, for centred cosines.

FaceNet's embeddings of all faces share a common component: the cosine between two strangers'
embeddings is not centred on 0. Subtracting the population's mean embedding before the cosine
(the classifier's `center`) removes it, which spreads people apart: on the 5-celebrity data the
genuine scores rose and the generated strangers' fell (bench/RESULTS.md, issue 15). The mean is
estimated on faces made by the generator (`POPULATION_SEEDS`, disjoint from the strangers the
tests and benches measure with), so no real person's face is involved, and stored in
`population_mean.json` next to this module for the embedder version that made it. Caveat: the
generated faces share a direction of their own (median cosine 0.44 to this mean; real photos
0.05), so centring favours real-vs-real scores over generated-vs-real ones (bench/RESULTS.md).
Rebuild it
after changing the embedding pipeline with `python -m ml.population` (a few minutes).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

POPULATION_SEEDS = range(60_000, 60_480)  # never used as strangers (those are 70000-, 80000-)
POPULATION_FILE = Path(__file__).with_name("population_mean.json")


@lru_cache(maxsize=4)
def _stored(path: str) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def population_mean(embedder_version: str, path: Path = POPULATION_FILE) -> np.ndarray | None:
    """The stored population mean for this embedder version, or None (then cosines stay raw)."""
    data = _stored(str(path))
    if data is None or data.get("embedder_version") != embedder_version:
        return None
    return np.asarray(data["mean"], dtype=np.float32)


def compute_population_mean(analyzer, generator, seeds=POPULATION_SEEDS, cache=None) -> dict:
    """Embed the generated faces of `seeds` and return the file's content (mean and provenance)."""
    from ml.strangers import STRANGER_SIZE, generated_stranger_embeddings

    embeddings = generated_stranger_embeddings(analyzer, generator, seeds, cache=cache)
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    return {
        "embedder_version": analyzer.version,
        "generator": generator.cache_key(),
        "seeds": [int(seeds[0]), int(seeds[-1])],
        "faces": len(unit),
        "size": STRANGER_SIZE,
        "mean": [round(float(v), 6) for v in unit.mean(axis=0)],
    }


def main() -> None:
    """Rebuild population_mean.json for the current models (MODEL_DIR or instance/models) and
    the pipeline RECOGNITION_VIEWS names (default box+landmarks, the one that is centred)."""
    import os

    from ml.generator import load_generator
    from ml.recognition import TWO_VIEWS, FaceAnalyzer
    from ml.strangers import stranger_cache

    model_dir = Path(os.environ.get("MODEL_DIR", Path(__file__).parent.parent / "instance/models"))
    views = os.environ.get("RECOGNITION_VIEWS", TWO_VIEWS)
    analyzer = FaceAnalyzer.from_model_dir(model_dir, views=views)
    generator = load_generator(model_dir, "cpu")
    cache = stranger_cache(analyzer, generator, POPULATION_SEEDS)
    data = compute_population_mean(analyzer, generator, POPULATION_SEEDS, cache)
    POPULATION_FILE.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {POPULATION_FILE} ({data['faces']} faces, {data['embedder_version']})")


if __name__ == "__main__":
    main()
