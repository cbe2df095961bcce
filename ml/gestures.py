"""Kiosk arm gestures from pose landmarks: built-in rules, a teachable classifier, a hold counter.

Everything works on MediaPipe's 33 pose landmarks (x, y, z, visibility; x, y in any one unit,
usually pixels) in a body frame: origin at the middle of the shoulders, x along the shoulder line
towards the person's left, y up (towards the head), unit the shoulder width. That frame removes
the person's position, size and a small camera roll; mirroring the image gives the same frame with
the arms exchanged, and both the rules and the features treat the two arms alike.

The gestures: **O** - hands meet over the head, arms forming a ring; **X** - forearms crossed in
front of the chest; **capture** - both arms raised, hands apart; **standby** - arms down.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GESTURES = ("O", "X", "capture", "standby")

_NOSE, _LEFT_EYE, _RIGHT_EYE, _MOUTH_LEFT, _MOUTH_RIGHT = 0, 2, 5, 9, 10
_SHOULDER = {"left": 11, "right": 12}
_ELBOW = {"left": 13, "right": 14}
_WRIST = {"left": 15, "right": 16}
_FACE = tuple(range(11))
_NUM_LANDMARKS = 33

# Shoulder width is ~4.7 eye-to-mouth distances facing the camera (4.0-5.5 on the rendered
# people). A body turned sideways shortens the shoulder line, not the face, so the unit is never
# taken below 3.5 eye-to-mouth distances.
_MIN_SHOULDER_IN_FACE_UNITS = 3.5

# Rule thresholds, in shoulder widths (measured on ../shared/gestures: nose 0.42-0.69 above the
# shoulder line; O wrists 0.52-0.72 apart and 1.05-1.39 up; capture wrists 1.55-1.81 apart;
# X wrists crossed by 0.60-0.77, 0.25-0.44 below the shoulder line, 0.4-0.6 above the elbows;
# standby wrists 1.17-1.64 below).
RAISED_ABOVE_NOSE = 0.3  # a raised wrist is at least this far above the nose
O_MAX_GAP = 1.0  # O: wrists at most this far apart
O_MIN_INWARD = 0.25  # O: each wrist at least this far inside its elbow (the ring)
O_MAX_OFF_CENTRE = 0.6  # O: the hands meet over the head, not off to one side
CAPTURE_MIN_GAP = 1.2  # capture: wrists at least this far apart ...
CAPTURE_STRAIGHT_MIN_GAP = 0.8  # ... or this far apart with straight, vertical arms
CAPTURE_MAX_INWARD = 0.2  # "straight, vertical": wrist at most this far inside its elbow
X_MIN_CROSS = 0.2  # X: each wrist at least this far past the other one
X_MIN_ELBOW_SPREAD = 0.0  # X: elbows still on their own sides (only the forearms cross)
X_MIN_FOREARM_RISE = 0.15  # X: wrists above elbows (forearms rise; folded arms are flat)
X_LOWEST_WRIST = -1.0  # X: wrists no lower than this (chest, not belly)
REST_BELOW_SHOULDER = 0.35  # standby: a visible wrist at least this far below the shoulders
REST_MAX_ACROSS = 0.1  # standby: a visible wrist at most this far across the body midline

FEATURE_VERSION = 1
SPREAD_FLOOR = 0.1  # GestureModel: the least spread a feature is given per gesture
_ARM_FEATURES = (
    "elbow_out",
    "elbow_up",
    "wrist_out",
    "wrist_up",
    "wrist_inward",
    "elbow_bend",
    "elbow_visibility",
    "wrist_visibility",
)
FEATURE_NAMES = (
    *(f"{name}_min" for name in _ARM_FEATURES),
    *(f"{name}_max" for name in _ARM_FEATURES),
    "nose_up",
    "wrist_gap",
    "wrist_order",
    "elbow_order",
    "wrist_mid_off_centre",
    "wrist_mid_up",
)


@dataclass(frozen=True)
class Arm:
    """One arm in the body frame: "out" is away from the body midline, "up" towards the head."""

    shoulder: tuple[float, float]  # (out, up)
    elbow: tuple[float, float]
    wrist: tuple[float, float]
    elbow_visibility: float
    wrist_visibility: float

    @property
    def wrist_inward(self) -> float:
        """How far the wrist is inside (towards the midline of) the elbow."""
        return self.elbow[0] - self.wrist[0]

    @property
    def elbow_bend(self) -> float:
        """Cosine between upper arm and forearm: 1 straight, 0 at a right angle, < 0 folded."""
        upper = np.asarray(self.elbow) - np.asarray(self.shoulder)
        fore = np.asarray(self.wrist) - np.asarray(self.elbow)
        norms = float(np.linalg.norm(upper) * np.linalg.norm(fore))
        return float(upper @ fore / norms) if norms > 1e-9 else 1.0


@dataclass(frozen=True)
class BodyFrame:
    """Landmarks measured in the body frame (unit: shoulder width)."""

    points: np.ndarray  # (33, 2): x towards the person's left, y up
    visibility: np.ndarray  # (33,)
    unit: float  # the shoulder width in input units

    def arm(self, side: str) -> Arm:
        """The "left" or "right" arm, with x turned so that "out" is positive on both sides."""
        sign = 1.0 if side == "left" else -1.0
        shoulder, elbow = self.points[_SHOULDER[side]], self.points[_ELBOW[side]]
        wrist = self.points[_WRIST[side]]
        return Arm(
            shoulder=(sign * float(shoulder[0]), float(shoulder[1])),
            elbow=(sign * float(elbow[0]), float(elbow[1])),
            wrist=(sign * float(wrist[0]), float(wrist[1])),
            elbow_visibility=float(self.visibility[_ELBOW[side]]),
            wrist_visibility=float(self.visibility[_WRIST[side]]),
        )

    @property
    def nose_up(self) -> float:
        """Height of the nose above the shoulder line."""
        return float(self.points[_NOSE, 1])

    @property
    def wrist_gap(self) -> float:
        """Distance between the two wrists."""
        return float(np.linalg.norm(self.points[_WRIST["left"]] - self.points[_WRIST["right"]]))

    @property
    def wrist_order(self) -> float:
        """Left wrist x minus right wrist x: positive as usual, negative when crossed."""
        return float(self.points[_WRIST["left"], 0] - self.points[_WRIST["right"], 0])

    @property
    def elbow_order(self) -> float:
        """Left elbow x minus right elbow x: positive as usual, negative when crossed."""
        return float(self.points[_ELBOW["left"], 0] - self.points[_ELBOW["right"], 0])

    @property
    def wrist_mid(self) -> tuple[float, float]:
        """Midpoint of the two wrists (x, y)."""
        mid = (self.points[_WRIST["left"]] + self.points[_WRIST["right"]]) / 2.0
        return float(mid[0]), float(mid[1])


def body_frame(landmarks: np.ndarray) -> BodyFrame:
    """Express (33, 2-4) landmarks in the body frame; visibility is 1 when not given."""
    array = np.asarray(landmarks, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] != _NUM_LANDMARKS or array.shape[1] < 2:
        raise ValueError(f"expected (33, 2..4) landmarks, got shape {array.shape}")
    if not np.isfinite(array[:, :2]).all():
        raise ValueError("landmarks must be finite")
    points = array[:, :2]
    visibility = array[:, 3] if array.shape[1] >= 4 else np.ones(_NUM_LANDMARKS)
    left, right = points[_SHOULDER["left"]], points[_SHOULDER["right"]]
    centre = (left + right) / 2.0
    across = left - right
    shoulder_width = float(np.linalg.norm(across))
    eyes = (points[_LEFT_EYE] + points[_RIGHT_EYE]) / 2.0
    mouth = (points[_MOUTH_LEFT] + points[_MOUTH_RIGHT]) / 2.0
    face = float(np.linalg.norm(eyes - mouth))
    unit = max(shoulder_width, _MIN_SHOULDER_IN_FACE_UNITS * face)
    if unit <= 1e-9:
        raise ValueError("degenerate landmarks: shoulders and face collapse to a point")
    x_axis = across / shoulder_width if shoulder_width > 1e-9 else np.array([1.0, 0.0])
    # Perpendicular to the shoulder line, turned towards the head (image y grows downwards).
    y_axis = np.array([x_axis[1], -x_axis[0]])
    if (points[list(_FACE)].mean(axis=0) - centre) @ y_axis < 0:
        y_axis = -y_axis
    local = (points - centre) @ np.stack([x_axis, y_axis]).T / unit
    return BodyFrame(local, np.clip(visibility, 0.0, 1.0), unit)


def pose_features(landmarks: np.ndarray) -> np.ndarray:
    """Scale-, position- and mirror-invariant features (float32, FEATURE_NAMES) of one pose."""
    body = body_frame(landmarks)
    arms = [body.arm("left"), body.arm("right")]
    per_arm = np.array(
        [
            [
                arm.elbow[0],
                arm.elbow[1],
                arm.wrist[0],
                arm.wrist[1],
                arm.wrist_inward,
                arm.elbow_bend,
                arm.elbow_visibility,
                arm.wrist_visibility,
            ]
            for arm in arms
        ]
    )
    # min and max over the two arms: the same for a pose and its mirror image, and continuous.
    mid_x, mid_y = body.wrist_mid
    overall = [
        body.nose_up,
        body.wrist_gap,
        body.wrist_order,
        body.elbow_order,
        abs(mid_x),
        mid_y,
    ]
    return np.concatenate([per_arm.min(axis=0), per_arm.max(axis=0), overall]).astype(np.float32)


@dataclass(frozen=True)
class Reading:
    """What the rules read in one pose: a gesture (None = unclear), a confidence and why."""

    gesture: str | None
    confidence: float
    reason: str


def _margin(value: float, threshold: float, tolerance: float) -> float:
    """0.5 at the threshold, 1 when `value` is `tolerance` past it (on the passing side)."""
    return float(np.clip(0.5 + 0.5 * (value - threshold) / tolerance, 0.0, 1.0))


def _at_rest(arm: Arm, min_visibility: float) -> bool:
    """An arm making no gesture: wrist out of sight, or visibly low and on its own side."""
    if arm.wrist_visibility < min_visibility:
        # MediaPipe extrapolates a wrist it cannot see (below the frame in close waist-up
        # framing, or anywhere in a head shot); no gesture is made with a hand out of sight.
        return True
    return arm.wrist[1] <= -REST_BELOW_SHOULDER and arm.wrist[0] >= -REST_MAX_ACROSS


def _read_x(body: BodyFrame, arms: Sequence[Arm]) -> Reading | None:
    """X when the forearms visibly cross in front of the chest, else None."""
    if body.wrist_order > -X_MIN_CROSS or body.elbow_order < X_MIN_ELBOW_SPREAD:
        return None
    rises = [arm.wrist[1] - arm.elbow[1] for arm in arms]
    lowest = min(arm.wrist[1] for arm in arms)
    highest = max(arm.wrist[1] for arm in arms)
    top = body.nose_up + RAISED_ABOVE_NOSE
    if min(rises) < X_MIN_FOREARM_RISE or lowest < X_LOWEST_WRIST or highest > top:
        return None
    confidence = min(
        _margin(-body.wrist_order, X_MIN_CROSS, 0.3),
        _margin(body.elbow_order, X_MIN_ELBOW_SPREAD, 0.3),
        _margin(min(rises), X_MIN_FOREARM_RISE, 0.2),
        _margin(lowest, X_LOWEST_WRIST, 0.3),
        _margin(-highest, -top, 0.3),
    )
    return Reading("X", confidence, "forearms crossed in front of the chest")


def _read_raised(body: BodyFrame, arms: Sequence[Arm]) -> Reading:
    """O, capture or unclear, for a pose with both hands visibly over the head."""
    gap = body.wrist_gap
    inward = [arm.wrist_inward for arm in arms]
    raised = min(arm.wrist[1] for arm in arms) - body.nose_up
    height = _margin(raised, RAISED_ABOVE_NOSE, 0.3)
    if body.wrist_order <= -X_MIN_CROSS:
        return Reading(None, 0.0, "wrists crossed over the head")
    if gap <= O_MAX_GAP and min(inward) >= O_MIN_INWARD:
        off_centre = abs(body.wrist_mid[0])
        if off_centre > O_MAX_OFF_CENTRE:
            return Reading(None, 0.0, "hands meet to one side of the head")
        confidence = min(
            height,
            _margin(-gap, -O_MAX_GAP, 0.3),
            _margin(min(inward), O_MIN_INWARD, 0.25),
            _margin(-off_centre, -O_MAX_OFF_CENTRE, 0.3),
        )
        return Reading("O", confidence, "hands meet over the head")
    if gap >= CAPTURE_MIN_GAP:
        return Reading(
            "capture", min(height, _margin(gap, CAPTURE_MIN_GAP, 0.3)), "both arms raised"
        )
    if gap >= CAPTURE_STRAIGHT_MIN_GAP and max(inward) <= CAPTURE_MAX_INWARD:
        confidence = min(
            height,
            _margin(gap, CAPTURE_STRAIGHT_MIN_GAP, 0.3),
            _margin(-max(inward), -CAPTURE_MAX_INWARD, 0.2),
        )
        return Reading("capture", confidence, "both arms raised straight up")
    return Reading(None, 0.0, "hands over the head, neither together nor clearly apart")


def classify_rules(landmarks: np.ndarray, min_visibility: float = 0.5) -> Reading:
    """Read the gesture in one pose with the built-in rules; gesture None when unclear."""
    body = body_frame(landmarks)
    arms = (body.arm("left"), body.arm("right"))
    seen = [
        arm.wrist_visibility >= min_visibility and arm.elbow_visibility >= min_visibility
        for arm in arms
    ]
    if all(seen):
        crossed = _read_x(body, arms)
        if crossed is not None:
            return crossed
    top = body.nose_up + RAISED_ABOVE_NOSE
    raised = [ok and arm.wrist[1] >= top for ok, arm in zip(seen, arms, strict=True)]
    if all(raised):
        return _read_raised(body, arms)
    if any(raised):
        return Reading(None, 0.0, "only one arm raised")
    if all(_at_rest(arm, min_visibility) for arm in arms):
        confidence = min(
            1.0
            if arm.wrist_visibility < min_visibility
            else min(
                _margin(-arm.wrist[1], REST_BELOW_SHOULDER, 0.3),
                _margin(arm.wrist[0], -REST_MAX_ACROSS, 0.3),
            )
            for arm in arms
        )
        return Reading("standby", confidence, "arms down")
    return Reading(None, 0.0, "hands between chest and head, not a gesture")


class GestureModel:
    """Logistic regression over pose_features, taught from samples; None below a probability.

    A linear model alone assigns any pose, however unlike the samples, to some gesture with high
    probability (hands at the chin came out as O at 0.96). So a pose also reads None when one of
    its features lies more than `max_z` spreads from the predicted gesture's taught mean; spreads
    are the samples' standard deviations, at least SPREAD_FLOOR (features are in shoulder widths,
    cosines or visibilities, so 0.1 is ordinary person-to-person variation).
    Stored as plain arrays (no pickle).
    """

    def __init__(
        self, min_probability: float = 0.6, max_z: float = 4.5, c: float = 1.0, seed: int = 0
    ) -> None:
        """An untrained model; make taught ones with `fit` or `from_bytes`."""
        if not 0.0 <= min_probability <= 1.0:
            raise ValueError("min_probability must be in [0, 1]")
        if max_z <= 0:
            raise ValueError("max_z must be positive")
        self.min_probability = float(min_probability)
        self.max_z = float(max_z)
        self.c = float(c)
        self.seed = int(seed)
        self.classes: tuple[str, ...] = ()
        self.cv_accuracy = float("nan")
        self._arrays: dict[str, np.ndarray] = {}

    @property
    def trained(self) -> bool:
        """Whether the model has been taught (or loaded)."""
        return bool(self._arrays)

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        labels: Sequence[str],
        min_probability: float = 0.6,
        max_z: float = 4.5,
        c: float = 1.0,
        seed: int = 0,
    ) -> tuple[GestureModel, float]:
        """Train on (n, len(FEATURE_NAMES)) features; return the model and its CV accuracy.

        Stratified k-fold, k = min(5, smallest class count): every gesture taught needs at least
        2 samples, and at least 2 gestures are needed.
        """
        model = cls(min_probability=min_probability, max_z=max_z, c=c, seed=seed)
        return model, model._train(features, labels)

    def _train(self, features: np.ndarray, labels: Sequence[str]) -> float:
        """Fit the scaler, the regression and the per-gesture spreads; return the CV accuracy."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_score
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        x = np.asarray(features, dtype=np.float64)
        y = np.asarray([str(label) for label in labels])
        if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES) or len(x) != len(y):
            raise ValueError(f"need (n, {len(FEATURE_NAMES)}) features and n labels")
        if not np.isfinite(x).all():
            raise ValueError("features must be finite")
        if unknown := set(y.tolist()) - set(GESTURES):
            raise ValueError(f"unknown gestures: {sorted(unknown)}")
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2:
            raise ValueError("teach at least two gestures")
        if counts.min() < 2:
            raise ValueError("each gesture needs at least 2 samples")

        def pipeline():
            return make_pipeline(
                StandardScaler(),
                LogisticRegression(C=self.c, max_iter=2000, random_state=self.seed),
            )

        folds = StratifiedKFold(
            n_splits=min(5, int(counts.min())), shuffle=True, random_state=self.seed
        )
        accuracy = float(cross_val_score(pipeline(), x, y, cv=folds).mean())
        trained = pipeline().fit(x, y)
        scaler, logistic = trained[0], trained[1]
        coef, intercept = logistic.coef_, logistic.intercept_
        if len(logistic.classes_) == 2:
            # Binary: p(classes[1]) = sigmoid(w.x + b) = softmax over the rows (0, w.x + b).
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([[0.0], intercept])
        centroids = np.stack([x[y == name].mean(axis=0) for name in classes])
        spreads = np.maximum(
            np.stack([x[y == name].std(axis=0, ddof=1) for name in classes]), SPREAD_FLOOR
        )
        self._set(
            tuple(classes.tolist()),
            accuracy,
            mean=scaler.mean_,
            scale=scaler.scale_,
            coef=coef,
            intercept=intercept,
            centroids=centroids,
            spreads=spreads,
        )
        return accuracy

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities (n, len(classes)) from the logistic regression alone."""
        x = (self._rows(features) - self._arrays["mean"]) / self._arrays["scale"]
        scores = x @ self._arrays["coef"].T + self._arrays["intercept"]
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, features: np.ndarray) -> list[tuple[str | None, float]]:
        """(gesture, probability) per row; gesture None when unsure or unlike every gesture."""
        x = self._rows(features)
        probabilities = self.probabilities(x)
        centroids, spreads = self._arrays["centroids"], self._arrays["spreads"]
        answers: list[tuple[str | None, float]] = []
        for row, probs in zip(x, probabilities, strict=True):
            best = int(probs.argmax())
            z = float(np.abs((row - centroids[best]) / spreads[best]).max())
            known = probs[best] >= self.min_probability and z <= self.max_z
            answers.append((self.classes[best] if known else None, float(probs[best])))
        return answers

    def to_bytes(self) -> bytes:
        """Serialize to an .npz blob (arrays only, no pickle)."""
        self._require_trained()
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            feature_version=np.array(FEATURE_VERSION),
            classes=np.array(self.classes, dtype=str),
            min_probability=np.array(self.min_probability),
            max_z=np.array(self.max_z),
            cv_accuracy=np.array(self.cv_accuracy),
            **self._arrays,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> GestureModel:
        """Load a blob made by `to_bytes`; refuse one made for other features."""
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            version = int(data["feature_version"])
            if version != FEATURE_VERSION:
                raise ValueError(f"model made for features v{version}, not v{FEATURE_VERSION}")
            model = cls(min_probability=float(data["min_probability"]), max_z=float(data["max_z"]))
            model._set(
                tuple(data["classes"].tolist()),
                float(data["cv_accuracy"]),
                **{name: data[name] for name in _MODEL_ARRAYS},
            )
        return model

    def _set(self, classes: tuple[str, ...], cv_accuracy: float, **arrays: np.ndarray) -> None:
        """Install trained arrays after checking their names and shapes."""
        if unknown := set(classes) - set(GESTURES):
            raise ValueError(f"unknown gestures: {sorted(unknown)}")
        dim, count = len(FEATURE_NAMES), len(classes)
        expected = {
            "mean": (dim,),
            "scale": (dim,),
            "coef": (count, dim),
            "intercept": (count,),
            "centroids": (count, dim),
            "spreads": (count, dim),
        }
        if set(arrays) != set(expected):
            raise ValueError(f"expected arrays {sorted(expected)}, got {sorted(arrays)}")
        checked = {}
        for name, shape in expected.items():
            array = np.asarray(arrays[name], dtype=np.float64)
            if array.shape != shape:
                raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
            checked[name] = array
        self.classes = classes
        self.cv_accuracy = float(cv_accuracy)
        self._arrays = checked

    def _require_trained(self) -> None:
        """Raise if the model has not been taught or loaded."""
        if not self.trained:
            raise RuntimeError("the gesture model has not been trained")

    def _rows(self, features: np.ndarray) -> np.ndarray:
        """Features as (n, len(FEATURE_NAMES)) float64 rows."""
        self._require_trained()
        x = np.asarray(features, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"expected (n, {len(FEATURE_NAMES)}) features, got {x.shape}")
        return x


_MODEL_ARRAYS = ("mean", "scale", "coef", "intercept", "centroids", "spreads")


class HoldCounter:
    """Counts a gesture once it has been read in `frames` consecutive frames."""

    def __init__(self, frames: int = 3) -> None:
        """Set how many consecutive frames make a hold."""
        if frames < 1:
            raise ValueError("frames must be at least 1")
        self.frames = int(frames)
        self.current: str | None = None
        self.count = 0
        self._emitted = False

    def update(self, gesture: str | None) -> str | None:
        """Feed one frame's reading; return the gesture when its hold completes, else None."""
        if gesture is None or gesture != self.current:
            self.current, self.count, self._emitted = gesture, 0, False
        if gesture is None:
            return None
        self.count += 1
        if self.count >= self.frames and not self._emitted:
            self._emitted = True
            return gesture
        return None

    def reset(self) -> None:
        """Forget the current hold."""
        self.current, self.count, self._emitted = None, 0, False
