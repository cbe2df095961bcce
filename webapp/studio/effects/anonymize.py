"""Anonymize: replace every face but the kept ones with a synthetic face (or blur / pixelate)."""

from __future__ import annotations

from pathlib import Path

from flask_babel import lazy_gettext as _l

from webapp.studio.effects.base import (
    GENERATOR_NOTICE,
    Effect,
    choice,
    face_ids,
    listed_faces,
    params,
    text,
)
from webapp.studio.effects.registry import model_loader


@model_loader("anonymize")
def load_anonymizer(registry):
    """The anonymizer on the shared MTCNN, FaceNet and face mesh."""
    from ml.anonymize import Anonymizer

    return Anonymizer.from_model_dir(
        registry.model_dir,
        analyzer=registry.model("faces"),
        mesher=registry.model("face_mesh"),
        bank_dir=registry.facebank_dir,
        threshold=registry.threshold,
    )


class Anonymize(Effect):
    """Replace every face but the kept ones with a synthetic face (or blur / pixelate them)."""

    name = "anonymize"
    label = _l("Anonymize bystanders")
    description = _l(
        "Keep the faces you pick; every other face becomes a face of no real person of similar "
        "age and gender."
    )
    params_schema = params(
        {
            "keep": face_ids(
                text("Faces to keep as they are (default none)", "그대로 둘 얼굴 (기본값: 없음)"),
                chosen=_l("keep"),
                other=_l("replace"),
                hint=_l(
                    "Green faces are kept; click a face to switch it. Enrolled employees and "
                    "the main subject start as kept."
                ),
                preset="suggested",
                default=[],
            ),
            "mode": choice(
                _l("Other faces"),
                {
                    "synthetic": text(
                        "Replace with a generated face (no real person)",
                        "생성된 얼굴로 바꾸기 (실존하지 않는 사람)",
                    ),
                    "k-same": text(
                        "Replace with an average of 5 donors (k-Same)",
                        "기증자 5명의 평균 얼굴로 바꾸기 (k-Same)",
                    ),
                    "blur": _l("Blur"),
                    "pixelate": _l("Pixelate"),
                },
                "synthetic",
            ),
            "fallback": choice(
                text("Faces without a synthetic face", "합성 얼굴을 만들 수 없는 얼굴"),
                {
                    "blur": _l("Blur"),
                    "pixelate": _l("Pixelate"),
                    "none": text("Fail the job", "작업을 실패로 끝내기"),
                },
                "blur",
            ),
        }
    )
    needs_faces = True
    models = ("faces", "face_mesh", "anonymize")
    provenance = "Synthetic media: faces were replaced or hidden by {software} (anonymize)."
    notice = GENERATOR_NOTICE

    def find_faces(self, models, rgb):
        """The faces this effect sees, with the ids `keep` refers to."""
        with models.use(self.name) as anonymizer:
            return listed_faces(anonymizer.detect(rgb))

    def apply_image(self, ctx, rgb):
        """Anonymize a photo; report what was replaced and kept."""
        p = ctx.params
        with ctx.models.use(self.name) as anonymizer:
            result = anonymizer.anonymize_image(
                rgb, keep_ids=p["keep"], mode=p["mode"], fallback=_fallback(p)
            )
        return result.image, {
            "replaced_ids": list(result.replaced_ids),
            "kept_ids": list(result.kept_ids),
            "mode": p["mode"],
            **result.details,
        }

    def frame_function(self, ctx, fps):
        """Anonymize frame by frame, following each face."""
        from ml.anonymize import VideoAnonymizer

        p = ctx.params
        anonymizer = VideoAnonymizer(
            ctx.models.get(self.name), p["keep"], p["mode"], fallback=_fallback(p), fps=fps
        )

        def report() -> dict:
            return {"mode": p["mode"], **anonymizer.stats}

        return ctx.models.locked(self.name, anonymizer), report

    def summary(self, details):
        """How many faces were replaced and kept."""
        from flask_babel import gettext as _

        if "replaced_ids" not in details:
            return []
        return [
            _(
                "Faces replaced: %(n)d; kept: %(k)d.",
                n=len(details["replaced_ids"]),
                k=len(details.get("kept_ids", [])),
            )
        ]

    def page_notices(self, config):
        """A line while the face bank has no generated faces yet (a worker is filling it)."""
        from flask_babel import gettext as _

        from ml.face_bank import KIND_GENERATED, FaceBank

        folder = Path(config.get("FACEBANK_DIR") or Path(config["MODEL_DIR"]) / "facebank")
        generated = sum(1 for d in FaceBank(folder).donors if d.kind == KIND_GENERATED)
        if generated >= 20:
            return []
        return [
            (
                "facebank-notice",
                _(
                    "The face bank holds %(n)d generated faces so far; a studio worker fills it "
                    "(200 faces, a few minutes after its first start). Until then faces without "
                    "a generated face get the fallback chosen above.",
                    n=generated,
                ),
            )
        ]


def _fallback(p: dict) -> str | None:
    """The anonymizer's fallback for faces without a synthetic face (None: fail instead)."""
    return None if p.get("fallback", "blur") == "none" else p.get("fallback", "blur")
