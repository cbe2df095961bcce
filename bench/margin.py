"""The open-set margin, variant by variant: crops, flip TTA, cohort shifts, quality limits.

Every face is detected once (MTCNN, photo preset) and the detections are kept on disk; each
variant of the embedding pipeline (how the 160-px crop FaceNet sees is cut, with or without the
mirror image averaged in) is embedded once and kept too, so every rule is scored in seconds on
the same data:

- enrolled: the 5-celebrity train photos, each with the 21 enrollment augmentations;
- genuine: the 25 val photos, and each train photo left out in turn (leave-one-photo-out);
- real impostors: each person left out in turn (their val photos against the other four), and the
  8 rendered gesture people;
- generated strangers (ml.generator, psi 0.7, 256 px): seeds 70000-70239 (tuned on),
  80000-80239 and 90000-90239 (held out; nothing is chosen on them), and with `--fresh`
  100000-100239 (made after the choice, scored once);
- a cohort for score normalisation: seeds 60000-60479 (ml.population's seeds, never a stranger).

The rule is ml.classifier's (per-person threshold = 10th percentile of leave-one-photo-out genuine
scores - 0.10, clipped to [floor, 0.60]; SVC margin >= 0.30; the quality gate on left-out train
photos). Per set the table gives the accepted count and the best stranger's distance below its
threshold (negative: accepted); the target is 0 accepted and >= 0.08 on every generated set,
val 25/25, leave-one-photo-out >= 99%.

Run: `.venv/bin/python bench/margin.py --variants box,m0.10 --fresh --oracle` (the served crop
and the tight one; first run detects every face and embeds each variant, ~3 min a variant on 2
busy cores, kept under ~/.cache/face-platform/margin; later runs ~30 s a row). `--variants`
picks crop variants (see CROPS), `--flip no|yes|both` the mirror-averaged rows, `--cohort` /
`--enrolled-cohort` the cohort-shift rows (`--ks`, `--ws`), `--quality` the minimum eye distance
rows, `--oracle` the best-possible per-person margins and the score distributions.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.recognition import GESTURES, MODEL_DIR, people_photos  # noqa: E402
from ml.augment import augment_face  # noqa: E402
from ml.classifier import MIN_MARGIN, OpenSetClassifier  # noqa: E402
from ml.detection import DetectedFace, dominant_face  # noqa: E402
from ml.errors import FaceError  # noqa: E402
from ml.images import decode_image  # noqa: E402

CACHE = Path(os.environ.get("MODEL_CACHE_DIR", Path.home() / ".cache" / "face-platform"))
FACES = CACHE / "strangers" / "faces-256"
HERE = CACHE / "margin"
FLOOR = 0.45  # RECOGNITION_THRESHOLD
TARGET = 0.08
SETS = {
    "70000": range(70_000, 70_240),
    "80000": range(80_000, 80_240),
    "90000": range(90_000, 90_240),
}
FRESH = ("100000", range(100_000, 100_240))  # scored only once the variant was chosen (--fresh)
COHORT_SEEDS = range(60_000, 60_480)
TUNED_ON = "70000"


def generated_images(seeds) -> list[np.ndarray]:
    """The generated faces of these seeds (made once, kept as PNG beside second_opinion's)."""
    import cv2

    FACES.mkdir(parents=True, exist_ok=True)
    missing = [s for s in seeds if not (FACES / f"{s}.png").is_file()]
    if missing:
        from ml.generator import load_generator

        generator = load_generator(MODEL_DIR, "cpu")
        for start in range(0, len(missing), 8):
            for face in generator.sample(missing[start : start + 8], size=256):
                cv2.imwrite(
                    str(FACES / f"{face.seed}.png"), cv2.cvtColor(face.image, cv2.COLOR_RGB2BGR)
                )
    return [cv2.cvtColor(cv2.imread(str(FACES / f"{s}.png")), cv2.COLOR_BGR2RGB) for s in seeds]


# --- detections ------------------------------------------------------------------------------


def _face_json(face: DetectedFace) -> dict:
    return {"box": list(face.box), "confidence": face.confidence, "keypoints": face.keypoints}


def _face(row: dict) -> DetectedFace:
    return DetectedFace(
        tuple(row["box"]), row["confidence"], {k: tuple(v) for k, v in row["keypoints"].items()}
    )


def sources() -> dict[str, list[tuple[str, object]]]:
    """Per set: (label, image loader) of every image, in a fixed order."""
    out: dict[str, list] = {}
    out["train"] = [(person, path) for person, path in people_photos("train")]
    out["val"] = [(person, path) for person, path in people_photos("val")]
    out["rendered"] = [(p.parent.name, p) for p in sorted((GESTURES / "enroll").rglob("*.jpg"))]
    for label, seeds in {**SETS, "cohort": COHORT_SEEDS}.items():
        out[label] = [(str(s), s) for s in seeds]
    return out


def load_image(item) -> np.ndarray:
    if isinstance(item, Path):
        return decode_image(item.read_bytes())
    return generated_images([item])[0]


def detections(detector) -> dict[str, list[dict]]:
    """Every set's faces, detected once (kept in detections.json)."""
    path = HERE / "detections.json"
    done = json.loads(path.read_text()) if path.is_file() else {}
    for name, items in sources().items():
        if name in done:
            continue
        if name in SETS or name == "cohort":
            generated_images([item for _, item in items])  # make the missing PNGs in batches
        rows = []
        for label, item in items:
            faces = detector.detect(load_image(item))
            try:
                face = dominant_face(faces) if name == "train" else faces[0]
            except (FaceError, IndexError):
                continue  # enrollment refuses it / nothing found: not part of the set
            rows.append({"label": label, "source": str(item), **_face_json(face)})
        done[name] = rows
        print(f"{name}: {len(rows)}/{len(items)} faces", flush=True)
        HERE.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(done))
    return done


def _image_of(row: dict) -> np.ndarray:
    source = row["source"]
    return load_image(Path(source) if not source.isdigit() else int(source))


# --- crops -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Crop:
    """How the 160-px crop is cut from the detected face."""

    name: str
    margin: float = 0.2  # grown by this fraction of the box's width and height
    square: bool = False  # widen the grown box to a square (else stretched to 160x160)
    level: bool = True  # rotate about the box centre by the eye angle
    shift: float = 0.0  # move the crop's centre down by this fraction of the box height
    landmarks: float = 0.0  # > 0: similarity onto canonical keypoints at this scale instead
    pad: float = 0.0  # > 0: grown by this fraction of the box width on every side pair instead
    border: str = "constant"  # what fills the parts outside the image: black, or "reflect"

    def cut(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
        if self.landmarks:
            from ml.alignment import align_to_landmarks

            return align_to_landmarks(rgb, face, scale=self.landmarks)
        return generic_crop(
            rgb, face, self.margin, self.square, self.level, self.shift, self.pad, self.border
        )


def generic_crop(
    rgb, face, margin, square, level, shift, pad=0.0, border="constant", size=160
) -> np.ndarray:
    """ml.alignment.align_face with the levelling and centre shift optional; `pad` grows both
    sides by the same length (a fraction of the width), as facenet's pixel margin does."""
    import cv2

    x, y, w, h = face.box
    crop_w, crop_h = w * (1.0 + margin), h * (1.0 + margin)
    if pad:
        crop_w, crop_h = w * (1.0 + pad), h + w * pad
    if square:
        crop_w = crop_h = max(crop_w, crop_h)
    out_w, out_h = max(1, round(crop_w)), max(1, round(crop_h))
    angle = math.radians(face.eye_angle) if level else 0.0
    cos, sin = math.cos(angle), math.sin(angle)
    cx, cy = x + (w - 1) / 2.0, y + (h - 1) / 2.0 + shift * h
    ox, oy = (out_w - 1) / 2.0, (out_h - 1) / 2.0
    matrix = np.array([[cos, -sin, cx - cos * ox + sin * oy], [sin, cos, cy - sin * ox - cos * oy]])
    crop = cv2.warpAffine(
        rgb,
        matrix,
        (out_w, out_h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT if border == "constant" else cv2.BORDER_REFLECT_101,
        borderValue=(0, 0, 0),
    )
    shrinking = out_w * out_h > size * size
    return cv2.resize(
        crop, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )


CROPS = {
    c.name: c
    for c in (
        Crop("box"),  # as served (ml.alignment.align_face)
        Crop("m0.10", margin=0.10),
        Crop("m0.05", margin=0.05),
        Crop("m0.15", margin=0.15),
        Crop("m0.30", margin=0.30),
        Crop("m0.40", margin=0.40),
        Crop("m0.55", margin=0.55),
        Crop("sq0.20", square=True),
        Crop("sq0.30", margin=0.30, square=True),
        Crop("nolevel", level=False),
        Crop("nolevel-m0.30", margin=0.30, level=False),
        Crop("pad0.25", pad=0.25),
        Crop("reflect", border="reflect"),
        Crop("reflect-m0.30", margin=0.30, border="reflect"),
        Crop("pad0.40", pad=0.40),
        Crop("pad0.15", pad=0.15),
        Crop("pad0.10", pad=0.10),
        Crop("m0.00", margin=0.0),
        Crop("pad0.20", pad=0.20),
        Crop("pad0.30", pad=0.30),
        Crop("pad0.25-nolevel", pad=0.25, level=False),
        Crop("pad0.25-reflect", pad=0.25, border="reflect"),
        Crop("lm0.90", landmarks=0.90),
        Crop("lm0.80", landmarks=0.80),
    )
}


def embed_variant(embedder_factory, dets: dict, crop: Crop) -> dict[str, np.ndarray]:
    """Embeddings of every set under one crop, plain and mirrored (kept in emb-<crop>.npz; sets
    added later are embedded and appended)."""
    path = HERE / f"emb-{crop.name}.npz"
    out: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path) as data:
            out = dict(data)
    missing = [name for name in dets if name not in out]
    if not missing:
        return out
    embedder = embedder_factory()
    started = time.perf_counter()
    for name in missing:
        crops = []
        for row in dets[name]:
            cut = crop.cut(_image_of(row), _face(row))
            crops += [c for _, c in augment_face(cut)] if name == "train" else [cut]
        crops = np.array(crops, dtype=np.uint8)
        out[name] = embedder.embed(crops)
        out[f"{name}_mirror"] = embedder.embed(crops[:, :, ::-1].copy())
    np.savez_compressed(path, **out)
    print(f"embedded {crop.name} ({', '.join(missing)}) in {time.perf_counter() - started:.0f} s")
    return out


# --- scoring ---------------------------------------------------------------------------------


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@dataclass
class Data:
    """One variant's embeddings with the labels."""

    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    photo_ok: np.ndarray
    val: np.ndarray
    val_y: np.ndarray
    probes: dict[str, np.ndarray]  # rendered + generated sets
    cohort: np.ndarray
    quality: dict[str, list]  # per set: FaceQuality of each probe


def build(dets: dict, emb: dict, flip: bool, quality: dict) -> Data:
    def get(name):
        return unit(emb[name] + emb[f"{name}_mirror"]) if flip else emb[name]

    people = sorted({row["label"] for row in dets["train"]})
    per_photo = len(augment_face(np.zeros((8, 8, 3), np.uint8)))
    y = np.repeat([people.index(r["label"]) for r in dets["train"]], per_photo)
    groups = np.repeat(np.arange(len(dets["train"])), per_photo)
    ok = np.array([q.ok for q in quality["train"]])
    return Data(
        get("train"),
        y,
        groups,
        ok,
        get("val"),
        np.array([people.index(r["label"]) for r in dets["val"]]),
        {name: get(name) for name in ("rendered", *SETS)},
        get("cohort"),
        quality,
    )


def qualities(dets: dict) -> dict[str, list]:
    """The quality verdict of every face, on the served box crop (kept in quality.json)."""
    from ml.alignment import align_face
    from ml.quality import FaceQuality, assess

    path = HERE / "quality.json"
    stored = json.loads(path.read_text()) if path.is_file() else {}
    missing = [name for name in dets if name not in stored]
    for name in missing:
        rows = [assess(_face(r), align_face(_image_of(r), _face(r))) for r in dets[name]]
        stored[name] = [[q.eye_distance, q.yaw, q.pitch, q.sharpness, q.verdict] for q in rows]
    if missing:
        path.write_text(json.dumps(stored))
    return {k: [FaceQuality(*row) for row in v] for k, v in stored.items()}


class Rule:
    """The served rule, optionally with a cohort shift: score = cos(probe, centroid) - shift."""

    def __init__(
        self, cohort: np.ndarray | None = None, k: int = 0, weight: float = 1.0, sym: bool = True
    ):
        self.cohort, self.k, self.weight, self.sym = cohort, k, weight, sym

    def _shift(self, x: np.ndarray) -> np.ndarray:
        """Mean cosine of each row to its top-k cohort faces (0 without a cohort)."""
        if self.cohort is None or self.k == 0:
            return np.zeros(len(x))
        sims = x @ self.cohort.T
        top = np.sort(sims, axis=1)[:, -self.k :]
        return top.mean(axis=1)

    def fit(self, x, y, groups):
        clf = OpenSetClassifier.fit(x, y, FLOOR, groups=groups)
        self.clf = clf
        self.centroid_shift = self._shift(clf.centroids)  # per person
        # Per-person threshold: the served calibration, on the shifted genuine scores.
        lows = []
        for label in clf.classes:
            inside = y == label
            xs, gs = x[inside], groups[inside]
            scores = []
            for g in np.unique(gs):
                rest = unit(xs[gs != g].mean(axis=0))
                rows = xs[gs == g]
                s = rows @ rest - self._pair_shift(rows, self._shift(rest[None])[0])
                scores.append(float(np.median(s)))
            lows.append(np.quantile(scores, 0.10) if len(scores) >= 3 else np.nan)
        calibrated = np.nan_to_num(np.array(lows) - 0.10, nan=-1.0)
        self.floor = FLOOR - (np.median(self.centroid_shift) if self.k else 0.0) * self.weight
        self.limits = np.maximum(
            self.floor,
            np.minimum(calibrated, 0.60 - (self.floor - FLOOR) * 0 if not self.k else calibrated),
        )
        if not self.k:
            self.limits = clf.thresholds
        return self

    def _pair_shift(self, rows, centroid_shift):
        probe = self._shift(rows)
        both = (probe + centroid_shift) / 2 if self.sym else probe
        return both * self.weight

    def score(self, probes):
        """(pick, score - threshold, svc margin ok) per probe."""
        pick, margin = self.clf._pick(probes)
        sims = np.einsum("nd,nd->n", probes, self.clf.centroids[pick])
        sims = sims - self._pair_shift(probes, self.centroid_shift[pick])
        return pick, sims - self.limits[pick], margin >= MIN_MARGIN


def measure(d: Data, rule_factory, gate: dict | None = None) -> dict:
    """Every figure of a row for one variant and rule."""
    row = {}
    rule = rule_factory().fit(d.x, d.y, d.groups)
    pick, gap, svc = rule.score(d.val)
    accepted = (gap >= 0) & svc
    row["val"] = (int(((pick == d.val_y) & accepted).sum()), len(d.val), float(gap.min()))
    row["limits"] = rule.limits
    for name, probes in d.probes.items():
        _, gap, svc = rule.score(probes)
        ok = (
            np.ones(len(probes), bool)
            if gate is None
            else np.array([gate(q) for q in d.quality[name]])
        )
        acc = (gap >= 0) & svc & ok
        considered = gap[ok] if ok.any() else np.array([-1.0])  # the SVC gate ignored here
        close = int(((gap >= -TARGET) & svc & ok).sum())  # accepted or within the target margin
        row[name] = (int(acc.sum()), float(-considered.max()), int((~ok).sum()), close)
    # Leave one person out: their val photos are strangers to the other four.
    gaps, knowns, total = [], 0, 0
    strangers = 0
    for left in np.unique(d.y):
        keep = d.y != left
        r = rule_factory().fit(d.x[keep], d.y[keep], d.groups[keep])
        _, gap, svc = r.score(d.val[d.val_y == left])
        strangers += int(((gap >= 0) & svc).sum())
        gaps += list(-gap)
        p, g2, s2 = r.score(d.val[d.val_y != left])
        truth = d.val_y[d.val_y != left]
        knowns += int(((r.clf.classes[p] == truth) & (g2 >= 0) & s2).sum())
        total += len(truth)
    row["people_out"] = (strangers, float(min(gaps)), knowns, total)
    # Leave one train photo out.
    named = good = 0
    for photo in np.unique(d.groups):
        keep = d.groups != photo
        r = rule_factory().fit(d.x[keep], d.y[keep], d.groups[keep])
        first = np.where(~keep)[0][0]
        if not d.photo_ok[photo]:
            continue
        if gate is not None and not gate(d.quality["train"][photo]):
            continue
        good += 1
        p, g, s = r.score(d.x[first : first + 1])
        named += int(r.clf.classes[p[0]] == d.y[first] and g[0] >= 0 and s[0])
    row["loo"] = (named, good)
    return row


def fmt(label: str, row: dict) -> str:
    v = row["val"]
    po = row["people_out"]
    cells = [
        label,
        f"{v[0]}/{v[1]} ({v[2]:+.3f})",
        f"{row['loo'][0]}/{row['loo'][1]} ({100 * row['loo'][0] / max(row['loo'][1], 1):.1f}%)",
        f"{po[0]}/25 ({po[1]:.3f}) / {po[2]}/{po[3]}",
        f"{row['rendered'][0]}, {row['rendered'][1]:.3f}",
    ]
    cells += [f"{row[s][0]}, {row[s][1]:+.3f}" for s in SETS]
    cells.append(str(sum(row[s][3] for s in SETS)))
    return "| " + " | ".join(cells) + " |"


def header() -> str:
    sets = " | ".join(
        f"{s}{' (tuned on)' if s == TUNED_ON else ' (held out)'}: accepted, best below"
        for s in SETS
    )
    return (
        "| variant | val named (lowest above threshold) | leave-one-photo-out named | people left "
        "out: accepted (closest below) / knowns | rendered: accepted, best below | "
        + sets
        + " | generated within 0.08 of acceptance (all sets) |\n|"
        + "---|" * (6 + len(SETS))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(CROPS))
    parser.add_argument("--flip", choices=("no", "yes", "both"), default="both")
    parser.add_argument("--cohort", action="store_true")
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--enrolled-cohort", action="store_true")
    parser.add_argument("--oracle", action="store_true", help="best-possible margins, scores")
    parser.add_argument("--ks", type=lambda v: [int(x) for x in v.split(",")], default=[10, 50])
    parser.add_argument("--ws", type=lambda v: [float(x) for x in v.split(",")], default=[0.5, 1.0])
    parser.add_argument("--fresh", action="store_true", help=f"add seeds {FRESH[0]}- (untouched)")
    args = parser.parse_args()
    if args.fresh:
        SETS[FRESH[0]] = FRESH[1]

    from ml.detection import FaceDetector
    from ml.facenet import FaceNetEmbedder

    dets = detections(FaceDetector.for_photos())
    quality = qualities(dets)
    embedders = []

    def embedder():
        if not embedders:
            embedders.append(FaceNetEmbedder(MODEL_DIR / "facenet_keras.h5"))
        return embedders[0]

    print(f"load {Path('/proc/loadavg').read_text().split()[:3]}")
    print(header())
    for name in args.variants.split(","):
        emb = embed_variant(embedder, dets, CROPS[name])
        flips = {"no": [False], "yes": [True], "both": [False, True]}[args.flip]
        for flip in flips:
            d = build(dets, emb, flip, quality)
            label = f"{name}{' + flip' if flip else ''}"
            print(fmt(label, measure(d, Rule)), flush=True)
            if args.cohort:
                for k in args.ks:
                    for w in args.ws:
                        factory = lambda k=k, w=w, d=d: Rule(d.cohort, k, w)  # noqa: E731
                        print(
                            fmt(f"{label}, cohort shift k={k} w={w}", measure(d, factory)),
                            flush=True,
                        )
            if args.oracle:
                names = sorted({row["label"] for row in dets["train"]})
                for eyes in (0.0, 18.0):
                    print(oracle(d, names, eyes), flush=True)
                print("\n".join(distributions(d, label)), flush=True)
            if args.quality:
                for eyes in (16.0, 18.0, 20.0):
                    gate = lambda q, eyes=eyes: q.ok and q.eye_distance >= eyes  # noqa: E731
                    row = measure(d, Rule, gate)
                    print(fmt(f"{label}, eyes >= {eyes:.0f} px", row), flush=True)
            if args.enrolled_cohort:
                for k in args.ks:
                    for w in args.ws:
                        factory = lambda k=k, w=w: EnrolledCohortRule(None, k, w)  # noqa: E731
                        row = measure(d, factory)
                        print(fmt(f"{label}, enrolled-cohort shift k={k} w={w}", row), flush=True)


def per_person(d: Data, names: list[str], rule_factory=None) -> list[str]:
    """Per person: threshold, lowest val score, 10th percentile of left-out train scores, and the
    highest stranger score per set (strangers the SVC gives to that person)."""
    rule = (rule_factory or Rule)().fit(d.x, d.y, d.groups)
    lines = ["| person | threshold | val min | " + " | ".join(f"{s} max" for s in SETS) + " |"]
    lines.append("|---|---|---|" + "---|" * len(SETS))
    _, val_gap, _ = rule.score(d.val)
    for i, name in enumerate(names):
        limit = rule.limits[i]
        cells = [name, f"{limit:.3f}", f"{limit + val_gap[d.val_y == i].min():.3f}"]
        for s in SETS:
            pick, gap, _ = rule.score(d.probes[s])
            mine = gap[pick == i]
            cells.append(f"{limit + mine.max():.3f}" if len(mine) else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def oracle(d: Data, names: list[str], min_eyes: float = 0.0) -> str:
    """The margin a per-person threshold placed knowing every stranger would leave: per person,
    the lowest genuine score (val photos, and left-out train photos passing the gate with their
    eyes >= `min_eyes` apart) minus the highest generated stranger the SVC gives that person."""
    clf = OpenSetClassifier.fit(d.x, d.y, FLOOR, groups=d.groups)
    cells, worst = [], np.inf
    for i, name in enumerate(names):
        genuine = list(d.val[d.val_y == i] @ clf.centroids[i])
        for photo in np.unique(d.groups[d.y == i]):
            q = d.quality["train"][photo]
            if not q.ok or q.eye_distance < min_eyes:
                continue
            rest = unit(d.x[(d.y == i) & (d.groups != photo)].mean(axis=0))
            genuine.append(float(d.x[np.where(d.groups == photo)[0][0]] @ rest))
        stranger = -1.0
        for s in SETS:
            pick, margin = clf._pick(d.probes[s])
            mine = (pick == i) & (margin >= MIN_MARGIN)
            if mine.any():
                stranger = max(stranger, float((d.probes[s][mine] @ clf.centroids[i]).max()))
        gap = min(genuine) - stranger
        worst = min(worst, gap)
        cells.append(f"{name} {min(genuine):.3f} vs {stranger:.3f} ({gap:+.3f})")
    return f"oracle margin {worst:+.3f} (eyes >= {min_eyes:.0f} px): " + ", ".join(cells)


def distributions(d: Data, label: str) -> list[str]:
    """Score distribution rows: genuine (val, left-out train) and impostors (real, generated)."""
    from ml.classifier import _group_scores

    clf = OpenSetClassifier.fit(d.x, d.y, FLOOR, groups=d.groups)

    def picked(c, probes):
        pick, _ = c._pick(probes)
        return np.einsum("nd,nd->n", probes, c.centroids[pick])

    people = np.unique(d.y)
    left_out = [_group_scores(d.x[d.y == k], d.groups[d.y == k]) for k in people]
    real = [picked(clf, d.probes["rendered"])]
    for left in people:
        keep = d.y != left
        c = OpenSetClassifier.fit(d.x[keep], d.y[keep], FLOOR, groups=d.groups[keep])
        real.append(picked(c, d.val[d.val_y == left]))
    rows = []
    for name, values in (
        ("genuine, val photos", picked(clf, d.val)),
        ("genuine, train photos left out in turn", np.concatenate(left_out)),
        ("impostor, real (people left out + rendered)", np.concatenate(real)),
        (
            f"impostor, generated ({len(SETS)} x 240)",
            np.concatenate([picked(clf, d.probes[s]) for s in SETS]),
        ),
    ):
        q = np.percentile(values, [5, 50, 95])
        rows.append(
            f"| {label} | {name} | {len(values)} | {values.min():.3f} | {q[0]:.3f} | {q[1]:.3f} "
            f"| {q[2]:.3f} | {values.max():.3f} |"
        )
    return rows


class EnrolledCohortRule(Rule):
    """The cohort shift with the other enrolled people's templates as the cohort (real photos):
    for candidate p, the probe's and p's centroid's mean top-k cosine to templates not of p."""

    def _shift_for(self, x: np.ndarray, others: np.ndarray) -> np.ndarray:
        top = np.sort(x @ others.T, axis=1)[:, -self.k :]
        return top.mean(axis=1)

    def fit(self, x, y, groups):
        self.x, self.y = x, y
        clf = OpenSetClassifier.fit(x, y, FLOOR, groups=groups)
        self.clf = clf
        self.centroid_shift = np.array(
            [
                self._shift_for(clf.centroids[i : i + 1], x[y != c])[0]
                for i, c in enumerate(clf.classes)
            ]
        )
        lows = []
        for label in clf.classes:
            inside = y == label
            xs, gs = x[inside], groups[inside]
            others = x[~inside]
            scores = []
            for g in np.unique(gs):
                rest = unit(xs[gs != g].mean(axis=0))
                rows = xs[gs == g]
                shift = (self._shift_for(rows, others) + self._shift_for(rest[None], others)[0]) / 2
                scores.append(float(np.median(rows @ rest - self.weight * shift)))
            lows.append(np.quantile(scores, 0.10) if len(scores) >= 3 else np.nan)
        calibrated = np.nan_to_num(np.array(lows) - 0.10, nan=-1.0)
        typical = float(np.median(self.centroid_shift)) * self.weight
        self.limits = np.clip(calibrated, FLOOR - typical, 0.60 - typical)
        return self

    def score(self, probes):
        pick, margin = self.clf._pick(probes)
        sims = np.einsum("nd,nd->n", probes, self.clf.centroids[pick])
        shift = np.empty(len(probes))
        for i, c in enumerate(self.clf.classes):
            rows = pick == i
            if rows.any():
                shift[rows] = self._shift_for(probes[rows], self.x[self.y != c])
        sims = sims - self.weight * (shift + self.centroid_shift[pick]) / 2
        return pick, sims - self.limits[pick], margin >= MIN_MARGIN


if __name__ == "__main__":
    main()
