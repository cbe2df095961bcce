"""A second opinion for open-set recognition: dlib's ResNet embedding beside FaceNet, and fusion.

Every face is detected once by MTCNN (photo preset). FaceNet embeds it as the served `box`
pipeline does (enrollment photos with their 21 augmentations); dlib's ResNet
(dlib_face_recognition_resnet_model_v1, 128-d) embeds a 150-px face chip made two ways:
`sp5` — dlib's 5-point shape predictor run on the MTCNN box, then dlib.get_face_chip; `mtcnn5` —
MTCNN's own five keypoints mapped by a similarity transform onto their mean positions in the
`sp5` chips of the enrollment photos (no shape predictor). Per-person dlib thresholds follow
the FaceNet rule (10th percentile of leave-one-photo-out genuine scores - slack, clipped).

Fusion rules, each with val named, leave-one-photo-out named, leave-one-person-out, and per
stranger set the accepted count and the best stranger's margin:
  (a) AND: both models must accept the same person;
  (b) z-mean: mean of each model's (score - its person's threshold) / its impostor spread;
  (c) veto: FaceNet decides, dlib refuses only when FaceNet's score is within a band of its
      threshold and dlib's score is below dlib's threshold.
Rules are tuned on seeds 70000-70239 only; 80000-80239 and 90000-90239 are held out.

dlib's model files are an optional models.lock group: `.venv/bin/python -m ml.fetch --optional dlib`
fetches them once (`make` does not).
Run: `.venv/bin/python bench/second_opinion.py` (first run: generates 720 faces and embeds
everything, ~14 min on 2 busy cores, nice 10;
later runs (~30 s) read ~/.cache/face-platform/second_opinion).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.recognition import GESTURES, MODEL_DIR, people_photos  # noqa: E402
from ml.alignment import align_face  # noqa: E402
from ml.classifier import (  # noqa: E402
    GENUINE_SLACK,
    MIN_MARGIN,
    THRESHOLD_CAP,
    OpenSetClassifier,
    _group_scores,
    centred,
)
from ml.dlib_embedding import KEYPOINTS, DlibEmbedder, chip_from_keypoints  # noqa: E402
from ml.images import decode_image  # noqa: E402
from ml.quality import assess  # noqa: E402
from ml.recognition import FaceAnalyzer  # noqa: E402

SETS = {
    "70000 (tuned on)": range(70_000, 70_240),
    "80000 (held out)": range(80_000, 80_240),
    "90000 (held out)": range(90_000, 90_240),
}
STRANGER_SIZE = 256
CACHE = Path(os.environ.get("MODEL_CACHE_DIR", Path.home() / ".cache" / "face-platform"))
FACES = CACHE / "strangers" / f"faces-{STRANGER_SIZE}"
DATA = CACHE / "second_opinion" / "embeddings.npz"


def stranger_images(seeds) -> list[tuple[int, np.ndarray]]:
    """The generated faces of these seeds (made once, kept as PNG)."""
    import cv2

    FACES.mkdir(parents=True, exist_ok=True)
    missing = [s for s in seeds if not (FACES / f"{s}.png").is_file()]
    if missing:
        from ml.generator import load_generator

        generator = load_generator(MODEL_DIR, "cpu")
        for start in range(0, len(missing), 8):
            for face in generator.sample(missing[start : start + 8], size=STRANGER_SIZE):
                bgr = cv2.cvtColor(face.image, cv2.COLOR_RGB2BGR)
                cv2.imwrite(str(FACES / f"{face.seed}.png"), bgr)
    out = []
    for s in seeds:
        bgr = cv2.imread(str(FACES / f"{s}.png"))
        out.append((s, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    return out


def keypoints_in_chip(dl: DlibEmbedder, rgb: np.ndarray, face) -> np.ndarray:
    """Where MTCNN's five keypoints fall in the face's sp5 chip (5x2)."""
    matrix = dl.chip_to_image(rgb, face.box)
    points = np.array([face.keypoints[k] for k in KEYPOINTS], np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def collect() -> dict[str, np.ndarray]:
    """Detect every face once and embed it with FaceNet and with dlib (both chips)."""
    analyzer = FaceAnalyzer.from_model_dir(MODEL_DIR)
    dl = DlibEmbedder(MODEL_DIR)
    data: dict[str, list] = {}

    def add(key, value):
        data.setdefault(key, []).append(value)

    names: list[str] = []
    photo = 0
    train_faces = []
    for person, path in people_photos("train"):
        rgb = decode_image(path.read_bytes())
        try:
            face, templates = analyzer.enrollment_templates(rgb)
        except ValueError:
            continue
        if person not in names:
            names.append(person)
        ok = assess(face, align_face(rgb, face)).ok
        for _, emb in templates:
            add("x_fn", emb)
            add("y_fn", names.index(person))
            add("g_fn", photo)
        add("photo_ok", ok)
        add("photo_y", names.index(person))
        train_faces.append((rgb, face))
        photo += 1
    print(f"train: {photo} photos, {len(data['x_fn'])} FaceNet templates", flush=True)

    # The canonical keypoint positions for the mtcnn5 chip: their mean in the sp5 chips.
    canon = np.mean([keypoints_in_chip(dl, rgb, f) for rgb, f in train_faces], axis=0)
    data["canon"] = [canon]

    def dlib_both(items):
        sp5 = dl.embed_chips([dl.chip(rgb, f.box) for rgb, f in items])
        mt5 = dl.embed_chips([chip_from_keypoints(rgb, f.keypoints, canon) for rgb, f in items])
        return sp5, mt5

    sp5, mt5 = dlib_both(train_faces)
    data["train_sp5"], data["train_mt5"] = list(sp5), list(mt5)

    def embed_probes(label, images):
        fn, faces = [], []
        for rgb in images:
            found = analyzer.analyze(rgb, "photo")
            if found:
                fn.append(found[0].embedding)
                faces.append((rgb, found[0].face))
        sp5, mt5 = dlib_both(faces)
        data[f"{label}_fn"], data[f"{label}_sp5"], data[f"{label}_mt5"] = fn, list(sp5), list(mt5)
        print(f"{label}: {len(fn)}/{len(images)} faces found", flush=True)

    val = people_photos("val")
    embed_probes("val", [decode_image(p.read_bytes()) for _, p in val])
    data["val_y"] = [names.index(person) for person, _ in val]
    rendered = sorted((GESTURES / "enroll").rglob("*.jpg"))
    embed_probes("rendered", [decode_image(p.read_bytes()) for p in rendered])
    for label, seeds in SETS.items():
        started = time.perf_counter()
        images = [rgb for _, rgb in stranger_images(seeds)]
        print(f"{label}: {len(images)} faces made in {time.perf_counter() - started:.0f} s")
        embed_probes(label.split()[0], images)
    out = {k: np.asarray(v) for k, v in data.items()}
    out["canon"] = canon
    out["names"] = np.array(names)
    return out


FN_FLOOR = 0.45  # RECOGNITION_THRESHOLD; FaceNet's rule as served (ml.classifier)


@dataclass
class Side:
    """One model's view of a set of probes, against classifiers fitted on the enrolled people."""

    pick: np.ndarray  # SVC pick (index into the enrolled people)
    svc: np.ndarray  # SVC margin of the pick
    sims: np.ndarray  # (N, people) cosine to each person's centroid
    limits: np.ndarray  # (people,) per-person thresholds


@dataclass
class Calibration:
    """A per-person threshold rule: p10 of leave-one-photo-out genuine scores - slack, clipped."""

    slack: float
    floor: float
    cap: float
    at_least: np.ndarray | None = None  # per person label: a threshold raised to at least this

    def fit(self, x: np.ndarray, y: np.ndarray, g: np.ndarray):
        """(classifier, thresholds) on these templates."""
        clf = OpenSetClassifier.fit(x, y, self.floor, groups=g)
        low = np.nan_to_num(clf.genuine_low - self.slack, nan=-1.0)
        limits = np.maximum(self.floor, np.minimum(low, self.cap))
        if self.at_least is not None:
            limits = np.maximum(limits, self.at_least[clf.classes])
        return clf, limits


def side(fitted, probes: np.ndarray) -> Side:
    """Score probes against a fitted (classifier, thresholds)."""
    clf, limits = fitted
    x = centred(probes, None)
    pick, svc = clf._pick(x)
    return Side(pick, svc, x @ clf.centroids.T, limits)


@dataclass
class Probes:
    """Per probe: each model's distance above its threshold for FaceNet's pick, and more."""

    gf: np.ndarray  # FaceNet score - its threshold (FaceNet's pick)
    svc_ok: np.ndarray  # FaceNet's SVC margin >= MIN_MARGIN
    gd: np.ndarray  # dlib score - dlib's threshold, for FaceNet's pick
    pick: np.ndarray  # FaceNet's pick
    gd_own: np.ndarray  # dlib alone: its own pick's score - threshold
    pick_d: np.ndarray  # dlib's own pick


def combine(fn: Side, dl: Side) -> Probes:
    """Both models' sides of the same probes."""
    rows = np.arange(len(fn.pick))
    gf = fn.sims[rows, fn.pick] - fn.limits[fn.pick]
    gd = dl.sims[rows, fn.pick] - dl.limits[fn.pick]
    gd_own = dl.sims[rows, dl.pick] - dl.limits[dl.pick]
    return Probes(gf, fn.svc >= MIN_MARGIN, gd, fn.pick, gd_own, dl.pick)


def rule_scores(rule: str, p: Probes, k: float, band: float, tau: float) -> tuple:
    """(accepted, pick, score in FaceNet units: >= 0 accepted, else minus the distance to it).

    k converts dlib's score scale to FaceNet's (sigma_fn / sigma_dlib)."""
    gd = p.gd * k
    if rule == "facenet":
        return (p.gf >= 0) & p.svc_ok, p.pick, p.gf
    if rule == "dlib":
        return p.gd_own >= 0, p.pick_d, p.gd_own * k
    if rule == "and":
        score = np.minimum(p.gf, gd)
        return (score >= 0) & p.svc_ok, p.pick, score
    if rule == "zmean":
        score = (p.gf + gd) / 2 - tau
        return (score >= 0) & p.svc_ok, p.pick, score
    if rule == "veto":  # FaceNet decides; within `band` above its threshold dlib must agree
        both = np.minimum(p.gf, gd)
        score = np.where(p.gf >= band, p.gf, np.maximum(both, p.gf - band))
        return (score >= 0) & p.svc_ok, p.pick, score
    raise ValueError(rule)


RULES = ("facenet", "dlib", "and", "zmean", "veto")


def report(data: dict, chip: str = "sp5", dl_cal: Calibration | None = None) -> list[str]:
    """Markdown lines for one dlib chip: every rule on every probe set."""
    if dl_cal is None:  # dlib's own scale: its LOO genuine spread, same slack relative to it
        dl_cal = calibration_for_dlib(data, chip)
    out = _report(data, chip, dl_cal, f"### dlib chip `{chip}`, dlib thresholds calibrated")
    # Tuned on the 70000 set: each person's dlib threshold raised just above the highest dlib
    # score a 70000 stranger reached for that person (FaceNet's pick).
    tune = data[f"{next(iter(SETS)).split()[0]}_{chip}"]
    fn_pick = (
        Calibration(GENUINE_SLACK, FN_FLOOR, THRESHOLD_CAP)
        .fit(data["x_fn"], data["y_fn"], data["g_fn"])[0]
        ._pick(centred(data[f"{next(iter(SETS)).split()[0]}_fn"], None))[0]
    )
    xd = centred(data[f"train_{chip}"], None)
    cents = np.stack([xd[data["photo_y"] == k].mean(0) for k in range(len(data["names"]))])
    cents /= np.linalg.norm(cents, axis=1, keepdims=True)
    sims = centred(tune, None) @ cents.T
    raise_to = np.array(
        [
            sims[fn_pick == k, k].max() + 0.001 if np.any(fn_pick == k) else -1.0
            for k in range(len(cents))
        ]
    )
    tuned = Calibration(dl_cal.slack, dl_cal.floor, dl_cal.cap, raise_to)
    out.append("")
    out += _report(
        data, chip, tuned, f"### dlib chip `{chip}`, dlib thresholds raised above the 70000 set"
    )
    return out


def _report(data: dict, chip: str, dl_cal: Calibration, title: str) -> list[str]:
    """Markdown lines for one dlib chip and calibration: every rule on every probe set."""
    names = list(data["names"])
    x, y, g = data["x_fn"], data["y_fn"], data["g_fn"]
    xd, yd = data[f"train_{chip}"], data["photo_y"]
    gdl = np.arange(len(xd))
    fn_cal = Calibration(GENUINE_SLACK, FN_FLOOR, THRESHOLD_CAP)
    fn_fit = fn_cal.fit(x, y, g)
    out = [title]
    dl_fit = dl_cal.fit(xd, yd, gdl)
    out.append(f"FaceNet thresholds: {_per_person(names, fn_fit[1])}")
    out.append(
        f"dlib thresholds (slack {dl_cal.slack:.3f}, floor {dl_cal.floor:.3f}, cap "
        f"{dl_cal.cap:.3f}): {_per_person(names, dl_fit[1])}"
    )
    sets = {"val": ("val", True)}
    for label in SETS:
        sets[label] = (label.split()[0], False)
    sets["rendered people"] = ("rendered", False)
    probes = {
        label: combine(side(fn_fit, data[f"{key}_fn"]), side(dl_fit, data[f"{key}_{chip}"]))
        for label, (key, _) in sets.items()
    }
    # Scale: the spread of each model's scores for FaceNet's pick over the tuning strangers.
    tune = probes[next(iter(SETS))]
    k = float(np.std(tune.gf) / np.std(tune.gd))
    out.append(f"scale: dlib score x {k:.3f} = FaceNet units (std ratio on the 70000 set)")

    loo_photo = leave_one_photo_out(data, chip, fn_cal, dl_cal)
    loo_person = leave_one_person_out(data, chip, fn_cal, dl_cal)
    band_note: list[str] = []
    # Tune band (veto) and tau (zmean) on the 70000 set + val + LOO only.
    out.append("")
    out.append(
        "| rule | val named (min score) | LOO photo named | people left out: accepted / knowns "
        "| " + " | ".join(f"{s}: accepted, best margin" for s in [*list(SETS), "rendered"]) + " |"
    )
    out.append("|---" * (5 + len(SETS)) + "|")
    for rule, band, tau in (
        ("facenet", 0, 0),
        ("dlib", 0, 0),
        ("and", 0, 0),
        ("zmean", 0, 0),
        ("zmean", 0, 0.02),
        ("zmean", 0, 0.04),
        ("veto", 0.04, 0),
        ("veto", 0.08, 0),
        ("veto", 0.12, 0),
        ("veto", 0.20, 0),
    ):
        cells = []
        acc, pick, score = rule_scores(rule, probes["val"], k, band, tau)
        named = int(np.sum(acc & (pick == data["val_y"])))
        cells.append(f"{named}/{len(acc)} ({score.min():+.3f})")
        acc, pick, score = rule_scores(rule, loo_photo[0], k, band, tau)
        ok = loo_photo[1]
        named = int(np.sum(acc & (pick == loo_photo[2]) & ok))
        cells.append(f"{named}/{int(ok.sum())} ({100 * named / ok.sum():.1f}%)")
        stranger, known, truth = loo_person
        s_acc, _, s_score = rule_scores(rule, stranger, k, band, tau)
        k_acc, k_pick, _ = rule_scores(rule, known, k, band, tau)
        cells.append(
            f"{int(s_acc.sum())}/{len(s_acc)} ({-s_score.max():.3f}) / "
            f"{int(np.sum(k_acc & (k_pick == truth)))}/{len(k_acc)}"
        )
        for label in [*list(SETS), "rendered people"]:
            acc, _, score = rule_scores(rule, probes[label], k, band, tau)
            cells.append(f"{int(acc.sum())}, {-score.max():+.3f}")
        name = (
            rule
            + (f" band {band}" if rule == "veto" else "")
            + (f" tau {tau}" if rule == "zmean" else "")
        )
        if rule == "veto":
            gv = probes["val"].gf
            gl = loo_photo[0].gf[loo_photo[1]]
            band_note.append(
                f"veto band {band}: dlib runs for {int(np.sum((gv >= 0) & (gv < band)))}/25 val "
                f"faces and {int(np.sum((gl >= 0) & (gl < band)))}/{len(gl)} left-out train faces "
                "(FaceNet accepts them within the band)"
            )
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out.append("")
    out += [f"- {line}" for line in band_note]
    out.append(
        "(best margin: the best stranger's distance below acceptance in FaceNet cosine units; "
        "negative = accepted. dlib row: dlib alone, its own SVC pick, its margin x scale.)"
    )
    for label in SETS:
        p = probes[label]
        best_f, best_d = int(np.argmax(p.gf)), int(np.argmax(p.gd_own))
        out.append(
            f"- {label}: FaceNet's own best stranger {-p.gf[best_f]:+.3f} below (dlib gives it "
            f"{-p.gd[best_f]:+.3f} below, own units); dlib's own best {-p.gd_own[best_d]:+.3f} "
            f"below (FaceNet gives it {-p.gf[best_d]:+.3f})"
        )
    return out


def _per_person(names, values) -> str:
    return ", ".join(f"{n} {t:.3f}" for n, t in zip(names, values, strict=True))


def calibration_for_dlib(data: dict, chip: str) -> Calibration:
    """dlib thresholds the FaceNet way, on dlib's scale: slack scaled by the two models'
    genuine spreads; the floor is dlib's own 0.6 distance (cosine 0.82), no cap."""
    fn_gen = _group_scores_all(data["x_fn"], data["y_fn"], data["g_fn"])
    xd = data[f"train_{chip}"]
    dl_gen = _group_scores_all(xd, data["photo_y"], np.arange(len(xd)))
    ratio = float(np.std(dl_gen) / np.std(fn_gen))
    return Calibration(GENUINE_SLACK * ratio, DLIB_FLOOR, 1.0)


DLIB_FLOOR = 1 - 0.6**2 / 2  # dlib's documented same-person distance 0.6 on unit vectors


def _group_scores_all(x, y, g) -> np.ndarray:
    xn = centred(x, None)
    return np.concatenate([_group_scores(xn[y == k], g[y == k]) for k in np.unique(y)])


def leave_one_photo_out(data, chip, fn_cal, dl_cal):
    """(Probes, passes-quality, truth) for each train photo named from the others."""
    x, y, g = data["x_fn"], data["y_fn"], data["g_fn"]
    xd, yd = data[f"train_{chip}"], data["photo_y"]
    rows = []
    for photo in range(len(xd)):
        keep = g != photo
        keep_d = np.arange(len(xd)) != photo
        first = np.where(~keep)[0][:1]
        fn = side(fn_cal.fit(x[keep], y[keep], g[keep]), x[first])
        dl = side(
            dl_cal.fit(xd[keep_d], yd[keep_d], np.arange(len(xd))[keep_d]), xd[photo : photo + 1]
        )
        rows.append(combine(fn, dl))
    merged = Probes(
        *(np.concatenate([getattr(r, f) for r in rows]) for f in Probes.__dataclass_fields__)
    )
    return merged, data["photo_ok"].astype(bool), yd


def leave_one_person_out(data, chip, fn_cal, dl_cal):
    """(strangers' Probes, knowns' Probes, knowns' truth): each person left out in turn."""
    x, y, g = data["x_fn"], data["y_fn"], data["g_fn"]
    xd, yd = data[f"train_{chip}"], data["photo_y"]
    vf, vd, vy = data["val_fn"], data[f"val_{chip}"], data["val_y"]
    strangers, knowns, truth = [], [], []
    for left in np.unique(y):
        keep, keep_d = y != left, yd != left
        fn_fit = fn_cal.fit(x[keep], y[keep], g[keep])
        dl_fit = dl_cal.fit(xd[keep_d], yd[keep_d], np.arange(len(xd))[keep_d])
        out = vy == left
        strangers.append(combine(side(fn_fit, vf[out]), side(dl_fit, vd[out])))
        knowns.append(combine(side(fn_fit, vf[~out]), side(dl_fit, vd[~out])))
        labels = fn_fit[0].classes
        truth.append(np.searchsorted(labels, vy[~out]))
    fields = Probes.__dataclass_fields__
    join = lambda rows: Probes(*(np.concatenate([getattr(r, f) for r in rows]) for f in fields))  # noqa: E731
    return join(strangers), join(knowns), np.concatenate(truth)


def nearest_template_table(data: dict, chip: str) -> list[str]:
    """dlib's native reading, nearest template: per person, genuine vs the strangers' best."""
    names, py = list(data["names"]), data["photo_y"]
    x = centred(data[f"train_{chip}"], None)
    out = [
        f"dlib `{chip}`, nearest enrollment photo's cosine (no SVC, every stranger against every "
        "person):",
        "",
        "| person | left-out photos p10 / min | val min | "
        + " | ".join(f"{label} max" for label in SETS)
        + " | other people's val max |",
        "|---" * (4 + len(SETS)) + "|",
    ]
    for k, name in enumerate(names):
        own = x[py == k]
        inner = own @ own.T
        np.fill_diagonal(inner, -1.0)
        loo = inner.max(axis=1)

        def nearest(probes, own=own):
            return (centred(probes, None) @ own.T).max(axis=1)

        val = nearest(data[f"val_{chip}"][data["val_y"] == k])
        strangers = [nearest(data[f"{label.split()[0]}_{chip}"]).max() for label in SETS]
        others = nearest(data[f"val_{chip}"][data["val_y"] != k]).max()
        out.append(
            f"| {name} | {np.quantile(loo, 0.1):.3f} / {loo.min():.3f} | {val.min():.3f} | "
            + " | ".join(f"{v:.3f}" for v in strangers)
            + f" | {others:.3f} |"
        )
    return out


def time_models(rounds: int = 3) -> list[str]:
    """Per face, interleaved on the val photos: FaceNet's embed vs dlib's (shape + chip + net)."""
    analyzer = FaceAnalyzer.from_model_dir(MODEL_DIR)
    dl = DlibEmbedder(MODEL_DIR)
    faces = []
    for _, path in people_photos("val"):
        rgb = decode_image(path.read_bytes())
        faces.append((rgb, analyzer.detect(rgb, "photo")[0]))
    times: dict[str, list[float]] = {
        "FaceNet (align + embed)": [],
        "dlib sp5 (shape + chip + net)": [],
    }
    dl.embed(faces[0][0], [faces[0][1].box])  # warm
    for _ in range(rounds):
        for rgb, face in faces:
            started = time.perf_counter()
            analyzer.embed_views(np.array([analyzer.views(rgb, face)], dtype=np.uint8))
            middle = time.perf_counter()
            dl.embed(rgb, [face.box])
            ended = time.perf_counter()
            times["FaceNet (align + embed)"].append(1000 * (middle - started))
            times["dlib sp5 (shape + chip + net)"].append(1000 * (ended - middle))
    out = ["| per face, val photos, interleaved | p50 ms | p90 ms | min ms |", "|---|---|---|---|"]
    for name, values in times.items():
        p50, p90 = np.percentile(values, [50, 90])
        out.append(f"| {name} | {p50:.1f} | {p90:.1f} | {min(values):.1f} |")
    return out


def main() -> None:
    """Collect (or read) the embeddings, then print every rule's figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", action="store_true", help="also time FaceNet vs dlib per face")
    parser.add_argument("--recollect", action="store_true", help="ignore the cached embeddings")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    if args.recollect or not DATA.is_file():
        data = collect()
        DATA.parent.mkdir(parents=True, exist_ok=True)
        np.savez(DATA, **data)
    with np.load(DATA) as stored:
        data = {k: stored[k] for k in stored.files}
    for chip in ("sp5", "mt5"):
        print("\n".join(report(data, chip)))
        print()
        print("\n".join(nearest_template_table(data, chip)))
        print()
    if args.time:
        print(f"load average {os.getloadavg()[0]:.1f} before timing")
        print("\n".join(time_models()))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
