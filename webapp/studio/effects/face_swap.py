"""Face swap: put the source photo's face onto the chosen faces of a photo or video."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from webapp.studio.effects.base import (
    MEDIA,
    Effect,
    Input,
    face_ids,
    listed_faces,
    must_be_true,
    params,
    text,
)
from webapp.studio.effects.registry import model_loader


@model_loader("face_swap")
def load_swapper(registry):
    """The classical swapper (or an operator's ONNX swap model) on the shared detector and mesh."""
    from ml.face_swap import FaceSwapper, OnnxSwapModel

    faces = registry.model("faces")
    model = OnnxSwapModel.from_model_dir(registry.model_dir)
    return FaceSwapper(faces.detectors["photo"], registry.model("face_mesh"), model)


class FaceSwap(Effect):
    """Put the source photo's face onto the chosen faces of the target photo or video."""

    name = "face_swap"
    label = _l("Face swap")
    description = _l("Put the face from a source photo onto the people you pick.")
    inputs = (
        MEDIA,
        Input(
            "source",
            ("photo",),
            _l("Source face (a photo)"),
            missing=_l("Choose the source photo."),
        ),
    )
    params_schema = params(
        {
            "consent": must_be_true(
                _l("I confirm that the person whose face is in the source photo has consented "
                   "to this use of their face."),
                _l("Confirm the consent of the person in the source photo."),
                "consent_required",
            ),
            "targets": face_ids(
                text("Faces to swap (default every face)", "바꿀 얼굴 (기본값: 모든 얼굴)"),
                chosen=_l("swap"),
                other=_l("leave"),
                hint=_l("Blue faces get the source face; click a face to switch it."),
                preset="all",
            ),
        },
        required=("consent",),
    )  # fmt: skip
    needs_faces = True
    models = ("faces", "face_mesh", "face_swap")
    provenance = "Synthetic media: a face was swapped in by {software} (face_swap)."

    def find_faces(self, models, rgb):
        """The target faces this effect sees, with the ids `targets` refers to."""
        with models.use(self.name) as swapper:
            return listed_faces(swapper.detect(rgb))

    def apply_image(self, ctx, rgb):
        """Swap the source face into a photo."""
        source = ctx.inputs["source"].image()
        with ctx.models.use(self.name) as swapper:
            result = swapper.swap_image(source, rgb, target_ids=ctx.params["targets"])
        return result.image, {"swapped_ids": list(result.swapped_ids)}

    def frame_function(self, ctx, fps):
        """Swap frame by frame, following each face with the tracker."""
        from ml.face_swap import VideoSwapper

        source = ctx.inputs["source"].image()
        with ctx.models.use(self.name) as swapper:
            video = VideoSwapper(swapper, source, ctx.params["targets"], fps=fps)

        def report() -> dict:
            frames = video.swapped_per_frame
            return {
                "frames": len(frames),
                "frames_with_a_swap": sum(1 for swapped in frames if swapped),
                "swapped_tracks": sorted({track for swapped in frames for track in swapped}),
            }

        return ctx.models.locked(self.name, video), report

    def summary(self, details):
        """How many faces were swapped."""
        from flask_babel import gettext as _

        if "swapped_ids" not in details:
            return []
        return [_("Faces swapped: %(n)d.", n=len(details["swapped_ids"]))]
