"""Open-set operating point: genuine and impostor scores, per-person thresholds, strangers.

Used by bench/recognition.py. Genuine scores: each 5-celebrity val photo against its person's
centroid (all train photos enrolled), and each train photo left out in turn (its templates against
the centroid of the person's other photos). Impostors: each person left out in turn (their val
photos against the other four), the rendered gesture people, and sets of 240 generated faces of no
real person (ml.generator): the set the rule was tuned on and a held-out one. Scores are cosines,
centred on the generated population's mean where `center` is given (ml.population). Writes a
DET-style plot (false accepts vs false rejects over the threshold).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml.classifier import OpenSetClassifier, _group_scores, centred


@dataclass
class OpenSetData:
    """Enrollment templates and probes, as embeddings."""

    x: np.ndarray  # train templates
    y: np.ndarray  # person index per template
    groups: np.ndarray  # photo index per template
    photo_ok: dict[int, bool]  # photo index -> its face passed the quality gate
    val: np.ndarray
    val_y: np.ndarray
    rendered: np.ndarray  # gesture people (not enrolled)
    generated: dict[str, np.ndarray]  # generated strangers: set label -> embeddings
    names: list[str] = field(default_factory=list)
    center: np.ndarray | None = None  # population mean (ml.population), None: raw cosines


def _rows(matches) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(similarity, threshold, known) arrays of a predict() answer."""
    return (
        np.array([m.similarity for m in matches]),
        np.array([m.threshold for m in matches]),
        np.array([m.known for m in matches]),
    )


def evaluate(data: OpenSetData, floor: float, plot: Path | None = None) -> list[str]:
    """Markdown lines: thresholds, accuracy, stranger margins, score distributions."""
    out = []
    center = data.center
    clf = OpenSetClassifier.fit(data.x, data.y, floor, groups=data.groups, center=center)
    flat = OpenSetClassifier.fit(data.x, data.y, floor, min_margin=0.0)  # the old rule
    out.append(
        "Scores: cosine to the picked person's centroid, "
        + ("centred on the generated population's mean" if center is not None else "raw")
    )
    out.append(
        "Per-person thresholds (leave-one-photo-out calibrated, floor "
        f"{floor}): "
        + ", ".join(
            f"{name} {limit:.3f}" for name, limit in zip(data.names, clf.thresholds, strict=True)
        )
    )
    matches = clf.predict(data.val)
    sims, limits, _ = _rows(matches)
    correct = sum(m.label == t for m, t in zip(matches, data.val_y, strict=True))
    out.append(
        f"- val: {correct}/{len(data.val)} named correctly; lowest score above its threshold by "
        f"{(sims - limits).min():.3f} (old flat rule: "
        f"{sum(m.label == t for m, t in zip(flat.predict(data.val), data.val_y, strict=True))}"
        f"/{len(data.val)})"
    )

    stranger_rows = []
    sets = [(f"generated faces {label}", probes) for label, probes in data.generated.items()]
    for name, probes in (*sets, ("rendered people", data.rendered)):
        if len(probes) == 0:
            continue
        s, t, k = _rows(clf.predict(probes))
        old = _rows(flat.predict(probes))[2].sum()
        best = int(np.argmax(s - t))
        stranger_rows.append(s)
        out.append(
            f"- {name} ({len(probes)}): accepted {int(k.sum())} (old flat {floor}: {int(old)}); "
            f"best stranger {s[best]:.3f} against its threshold {t[best]:.3f}, "
            f"{t[best] - s[best]:.3f} below"
        )

    # Leave one person out: that person's val photos are strangers to the other four.
    loo_accepted = loo_total = known_ok = known_total = 0
    loo_scores, loo_gap = [], []
    for left in np.unique(data.y):
        keep = data.y != left
        c = OpenSetClassifier.fit(
            data.x[keep], data.y[keep], floor, groups=data.groups[keep], center=center
        )
        s, t, k = _rows(c.predict(data.val[data.val_y == left]))
        loo_accepted += int(k.sum())
        loo_total += len(s)
        loo_scores += list(s)
        loo_gap += list(t - s)
        for m, truth in zip(
            c.predict(data.val[data.val_y != left]), data.val_y[data.val_y != left], strict=True
        ):
            known_total += 1
            known_ok += m.label == truth
    out.append(
        f"- leave one person out: strangers accepted {loo_accepted}/{loo_total} (closest "
        f"{min(loo_gap):.3f} below its threshold); knowns named {known_ok}/{known_total}"
    )

    # Leave one train photo out: is each enrollment photo's face named from the other photos?
    named = refused = wrong = 0
    for photo in np.unique(data.groups):
        keep = data.groups != photo
        c = OpenSetClassifier.fit(
            data.x[keep], data.y[keep], floor, groups=data.groups[keep], center=center
        )
        rows = np.where(~keep)[0]
        match = c.predict(data.x[rows[:1]])[0]  # the photo's original (first) template
        if not data.photo_ok.get(int(photo), True):
            refused += 1
        elif match.label == data.y[rows[0]]:
            named += 1
        else:
            wrong += 1
    good = named + wrong
    out.append(
        f"- leave one train photo out: {named}/{good} faces that pass the quality gate named "
        f"({100 * named / max(good, 1):.1f}%); {refused} photos' faces refused by the quality "
        "gate (small or turned), which the kiosk answers with 'come closer / face the camera'"
    )

    x = centred(data.x, center)
    genuine = np.concatenate(
        [_group_scores(x[data.y == k], data.groups[data.y == k]) for k in np.unique(data.y)]
    )
    impostor = np.concatenate([np.asarray(loo_scores), *stranger_rows])
    out.append("")
    out.append(
        "| scores (cosine to the picked person's centroid) | n | min | p5 | p50 | p95 | max |"
    )
    out.append("|---|---|---|---|---|---|---|")
    for label, values in (
        ("genuine, val photos", sims),
        ("genuine, train photos left out in turn", genuine),
        ("impostor, people left out + rendered + generated", impostor),
    ):
        q = np.percentile(values, [5, 50, 95])
        out.append(
            f"| {label} | {len(values)} | {values.min():.3f} | {q[0]:.3f} | {q[1]:.3f} | "
            f"{q[2]:.3f} | {values.max():.3f} |"
        )
    if plot is not None:
        _plot(np.concatenate([sims, genuine]), impostor, clf.thresholds, floor, plot)
        out.append("")
        out.append(f"![genuine and impostor scores]({plot.name})")
    return out


def _plot(genuine, impostor, thresholds, floor, path: Path) -> None:
    """Histogram of both score sets with the thresholds, and the DET-style error curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    bins = np.linspace(-0.3, 1.0, 66)
    left.hist(impostor, bins=bins, alpha=0.6, label=f"impostor (n={len(impostor)})")
    left.hist(genuine, bins=bins, alpha=0.6, label=f"genuine (n={len(genuine)})")
    for limit in thresholds:
        left.axvline(limit, color="k", linestyle=":", linewidth=0.8)
    left.axvline(floor, color="r", linewidth=1, label=f"floor {floor}")
    left.set_xlabel("cosine to the picked person's centroid (centred if a population is set)")
    left.legend(fontsize=8)
    grid = np.linspace(0.0, 1.0, 201)
    far = [(impostor >= g).mean() for g in grid]
    frr = [(genuine < g).mean() for g in grid]
    right.plot(grid, far, label="false accept rate (impostors)")
    right.plot(grid, frr, label="false reject rate (genuine)")
    right.axvline(floor, color="r", linewidth=1)
    right.set_yscale("symlog", linthresh=0.01)
    right.set_ylim(0, 1.05)
    right.set_xlabel("threshold")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
