"""VideoAnonymizer: the same faces replaced in every frame, followed by the tracker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ml.anonymize.anonymizer import (
    IDENTITY_RETRIES,
    MODES,
    SYNTHETIC_MODES,
    AnonymizeError,
    Anonymizer,
    NoSyntheticFace,
    SyntheticIdentity,
)
from ml.anonymize.detection import FaceBox
from ml.face_bank import (
    FaceBankError,
)
from ml.face_mesh import face_size
from ml.face_swap import SwapState
from ml.images import as_rgb
from ml.tracking import OneEuroFilter


class VideoAnonymizer:
    """Per-frame anonymizer for `ml.video.transform_video`: faces kept on frame 0 stay kept.

    Faces are followed with `ml.tracking.FaceTracker`; a track the detector lost coasts for a few
    frames and is still covered. Every face that is not a kept track, new faces included, is
    replaced in every frame. A synthetic face keeps its donors for the whole track, and, like
    the face swap's VideoSwapper, each track's mesh goes through a One-Euro filter and its colour
    statistics through a running average (SwapState), so the new face does not shimmer.
    """

    def __init__(
        self,
        anonymizer: Anonymizer,
        keep_ids: Sequence[int],
        mode: str,
        fallback: str | None = None,
        tracker: Any | None = None,
        fps: float = 25.0,
    ) -> None:
        """`keep_ids` are ids of `anonymizer.detect(first frame)`; `fps` scales the smoothing."""
        from ml.tracking import FaceTracker

        if mode not in MODES:
            raise AnonymizeError("unknown_mode", f"mode must be one of {', '.join(MODES)}")
        self.anonymizer = anonymizer
        self.keep_ids = {int(i) for i in keep_ids}
        self.mode = mode
        self.fallback = fallback
        self.tracker = tracker or FaceTracker()
        self.kept_tracks: set[int] | None = None
        self.stats = {"frames": 0, "replaced": 0, "coasted": 0, "fallbacks": 0}
        self._last: dict[int, FaceBox] = {}
        self._identities: dict[int, SyntheticIdentity | None] = {}
        self._used: set[str] = set()  # generated faces given to tracks: one per track, for good
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self._filters: dict[int, OneEuroFilter] = {}
        self._states: dict[int, SwapState] = {}
        self._index = 0
        self._changed: dict[int, np.ndarray] = {}  # this frame's pixels changed, per track

    def __call__(self, frame: np.ndarray, index: int) -> np.ndarray:
        """Anonymize one RGB frame."""
        frame = as_rgb(frame)
        self._index = index
        self._changed = {}
        faces = self.anonymizer.detect(frame)
        tracks = self.tracker.update([face.box for face in faces])
        if self.kept_tracks is None:
            known = {face.id for face in faces}
            unknown = sorted(self.keep_ids - known)
            if unknown:
                raise AnonymizeError(
                    "unknown_face",
                    f"no face with id {', '.join(map(str, unknown))} in the first frame",
                )
            self.kept_tracks = {
                track.id
                for track in tracks
                if track.index is not None and faces[track.index].id in self.keep_ids
            }
        image = frame.copy()
        for track in tracks:
            face = self._face_of(track, faces)
            self._last[track.id] = face
            if track.id in self.kept_tracks:
                continue
            self.stats["replaced"] += 1
            self.stats["coasted"] += int(not track.detected)
            self._replace(image, frame, track.id, face)
        live = {track.id for track in tracks}
        for gone in set(self._last) - live:
            self._last.pop(gone, None)
            self._filters.pop(gone, None)
            self._states.pop(gone, None)
        self.stats["frames"] += 1
        return image

    def _face_of(self, track: Any, faces: Sequence[FaceBox]) -> FaceBox:
        """The detected face of a track, or its last face moved onto the coasting box."""
        if track.index is not None:
            face = faces[track.index]
            return FaceBox(track.id, face.box, face.score, face.landmarks, face.source)
        last = self._last.get(track.id)
        x, y, w, h = track.box
        if last is None:
            centre = np.array([x + w / 2, y + h / 2])
            landmarks = centre + np.array(
                [(-0.2, -0.1), (0.2, -0.1), (0, 0.05), (-0.15, 0.25), (0.15, 0.25)]
            ) * (w, h)
        else:
            lx, ly, lw, lh = last.box
            scale = np.array([w / max(lw, 1), h / max(lh, 1)])
            landmarks = (last.landmarks - (lx, ly)) * scale + (x, y)
        return FaceBox(track.id, track.box, 0.0, landmarks, "tracker")

    def _replace(self, image: np.ndarray, frame: np.ndarray, track_id: int, face: FaceBox):
        anonymizer = self.anonymizer
        if self.mode not in SYNTHETIC_MODES:
            anonymizer.cover(image, face, self.mode)
            return
        if track_id not in self._identities:
            try:
                self._identities[track_id] = self._first_identity(image, frame, track_id, face)
            except NoSyntheticFace:
                # No mesh on this frame (a turned head, a false detection): blurred now, and
                # the donors are chosen on a later frame that has one.
                self.stats["fallbacks"] += 1
                self._cover(image, track_id, face, "blur")
                return
            if self._identities[track_id] is not None:
                return  # rendered (and checked) on this frame already
        identity = self._identities[track_id]
        if identity is None:
            self.stats["fallbacks"] += 1
            self._cover(image, track_id, face, self.fallback or "blur")
            return
        try:
            self._render(image, frame, track_id, face, identity)
        except NoSyntheticFace:
            self.stats["fallbacks"] += 1
            self._cover(image, track_id, face, "blur")

    def _render(
        self,
        image: np.ndarray,
        frame: np.ndarray,
        track_id: int,
        face: FaceBox,
        identity: SyntheticIdentity,
    ) -> FaceBox:
        """The track's face swapped in with its smoothed mesh and colour state; the face as drawn
        (its five points moved with the new shape, for the identity check)."""
        landmarks = self.anonymizer.mesh_of(frame, face)
        smoother = self._filters.get(track_id)
        if smoother is None:
            smoother = self._filters[track_id] = OneEuroFilter(scale=face_size(landmarks))
        landmarks = smoother(landmarks, self._index / self.fps)
        state = self._states.setdefault(track_id, SwapState())
        mine = self._changed[track_id] = np.zeros(image.shape[:2], dtype=bool)
        # Hands are not looked for in videos (MediaPipe Hands costs ~50 ms a frame), as in the swap.
        self.anonymizer.render(
            image,
            frame,
            face,
            identity,
            landmarks=landmarks,
            state=state,
            find_hands=False,
            changed=mine,
        )
        return self.anonymizer.drawn_face(face, landmarks, identity)

    def _first_identity(
        self, image: np.ndarray, frame: np.ndarray, track_id: int, face: FaceBox
    ) -> SyntheticIdentity | None:
        """Choose a new track's donors, render them and check identity as photos do; or None.

        Raises NoSyntheticFace when this frame has no face mesh for the face.
        """
        anonymizer = self.anonymizer
        estimate = anonymizer.estimate(frame, [face])[0]
        embedding = anonymizer._embed_faces(frame, [face])[0]
        best: tuple[float, SyntheticIdentity] | None = None  # the lowest safe check
        identity = None
        for attempt in range(IDENTITY_RETRIES + 1):
            try:
                identity = anonymizer.plan_identity(
                    face,
                    estimate,
                    embedding,
                    attempt,
                    generated=self.mode == "synthetic",
                    used=self._used,
                    rgb=frame,
                )
            except FaceBankError as exc:
                if attempt == 0 and self.fallback is None:
                    raise AnonymizeError(exc.code, exc.message) from exc
                break
            drawn = self._redo(image, frame, track_id, face, identity, attempt > 0)
            if embedding is None:
                return identity
            replaced = anonymizer._embed_faces(image, [drawn])[0]
            check = anonymizer._identity_check(replaced, embedding, identity)
            if check["passed"]:
                return identity
            if check["safe"] and (best is None or check["cosine_to_original"] < best[0]):
                best = (check["cosine_to_original"], identity)
        if best is None:
            if identity is not None:
                anonymizer.restore(image, frame, face, self._protect(track_id))
            return None  # no donor passed: this track is blurred
        # No donor reached the aim: the closest one under the safety limit stays.
        if best[1] is not identity:
            self._redo(image, frame, track_id, face, best[1], True)
        return best[1]

    def _cover(self, image: np.ndarray, track_id: int, face: FaceBox, mode: str) -> None:
        """Blur or pixelate a track's face, marking the pixels as this track's."""
        x0, y0, x1, y1 = self.anonymizer.cover(image, face, mode)
        mask = self._changed.setdefault(track_id, np.zeros(image.shape[:2], dtype=bool))
        mask[y0:y1, x0:x1] = True

    def _protect(self, track_id: int) -> np.ndarray | None:
        """The pixels other tracks changed in this frame (a restore leaves them alone)."""
        others = [mask for key, mask in self._changed.items() if key != track_id]
        return np.logical_or.reduce(others) if others else None

    def _redo(
        self,
        image: np.ndarray,
        frame: np.ndarray,
        track_id: int,
        face: FaceBox,
        identity: SyntheticIdentity,
        again: bool,
    ) -> FaceBox:
        """Render a candidate on the frame's own pixels, the track's smoothing started afresh."""
        if again:
            self.anonymizer.restore(image, frame, face, self._protect(track_id))
            self._filters.pop(track_id, None)
            self._states.pop(track_id, None)
        return self._render(image, frame, track_id, face, identity)
