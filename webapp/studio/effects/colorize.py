"""Colorize: an old grey photo in colour, from painted hints, a reference photo or a model slot.

The algorithm is ml/restore (Levin et al. 2004 propagation; Welsh et al. 2002-style reference
seeds; faces coloured by projecting them into the face generator with a luminance-only loss; an
operator's ONNX colorizer when installed). No colorization weights ship with the project.
"""

from __future__ import annotations

from pathlib import Path

from webapp.studio.effects.base import (
    PHOTO,
    Effect,
    Input,
    ParamError,
    checkbox,
    json_list,
    localized,
    params,
    slider,
    text,
)
from webapp.studio.effects.registry import model_loader

#: Where an operator puts an ONNX colorizer (see docs/restore.md for its contract).
COLORIZER_FILE = "colorizer.onnx"
#: Default projection steps per face for automatic face colour (ml.restore.face_prior).
FACE_STEPS = 30


class ColorizerSlot:
    """The operator's colorizer model, or None when no file is installed."""

    def __init__(self, model) -> None:
        self.model = model


@model_loader("colorizer")
def load_colorizer(registry):
    """The operator's ONNX colorizer from MODEL_DIR/colorizer.onnx, if there is one."""
    from ml.restore.model_slot import OnnxColorizer

    path = Path(registry.model_dir) / COLORIZER_FILE
    return ColorizerSlot(OnnxColorizer(path) if path.is_file() else None)


def face_box(faces_model, rgb) -> tuple[float, float, float, float] | None:
    """The largest face's box as fractions of the photo's size, or None."""
    found = faces_model.detect(rgb)
    if not found:
        return None
    x, y, w, h = max(found, key=lambda face: face.area).box
    height, width = rgb.shape[:2]
    return x / width, y / height, w / width, h / height


class Colorize(Effect):
    """Colour for a grey or faded photo: hints and a reference photo, spread over the picture."""

    name = "colorize"
    label = text("Colorize an old photo", "흑백 사진 컬러화")
    description = text(
        "Faces are coloured automatically; paint a few colour hints on the photo and/or give a "
        "colour photo of the same person or place; the colours spread along the photo's own "
        "edges.",
        "얼굴은 자동으로 칠해집니다. 사진 위에 색을 몇 군데 칠하거나 같은 사람·장소의 컬러 "
        "사진을 주면, 사진의 윤곽을 따라 색이 퍼집니다.",
    )
    inputs = (
        Input("media", (PHOTO,), text("Old photo", "오래된 사진")),
        Input(
            "reference",
            (PHOTO,),
            text("Reference colour photo (optional)", "참고할 컬러 사진 (선택)"),
            required=False,
        ),
    )
    output = PHOTO
    params_schema = params(
        {
            "hints": json_list(
                text("Colour hints", "색 힌트"),
                text(
                    'Strokes as JSON: [{"color": "#a05030", "points": [[x, y], ...], '
                    '"width": 12}] in the photo\'s pixels. Paint them on the photo above.',
                    '획 목록(JSON): [{"color": "#a05030", "points": [[x, y], ...], "width": 12}], '
                    "사진 픽셀 좌표. 위 사진에 직접 칠할 수 있습니다.",
                ),
                widget="colour_hints",
                max_items=500,
            ),
            "saturation": slider(text("Colour strength", "색 강도"), 0.5, 1.5, 0.05, 1.0),
            "recolour": checkbox(
                text(
                    "Re-colour photos that are already in colour", "이미 컬러인 사진도 다시 칠하기"
                ),
                default=False,
            ),
            "use_model": checkbox(
                text("Use the installed colorizer model", "설치된 컬러화 모델 사용"), default=True
            ),
            "face_colour": checkbox(
                text(
                    "Colour faces automatically (face generator)", "얼굴 자동 채색 (얼굴 생성기)"
                ),
                default=True,
            ),
            "face_steps": slider(
                text("Face colour fitting steps", "얼굴 색 맞춤 단계 수"), 0, 200, 5, FACE_STEPS
            ),
        }
    )  # fmt: skip
    models = ("faces", "colorizer", "stylemix")
    provenance = "Synthetic media: colours were added to the photo by {software} (colorize)."
    widget_script = "js/colour_hints.js"

    def check(self, p):
        """The strokes' shape and colours (the schema only says they are a list)."""
        from ml.restore.errors import HintError
        from ml.restore.hints import parse_strokes

        try:
            parse_strokes(p.get("hints"))
        except HintError as exc:
            raise ParamError(f"params.{exc.message}", exc.code) from exc
        return p

    def apply_image(self, ctx, rgb):
        """The colorized photo (or the photo itself when it is colour and may be skipped)."""
        from ml.restore.color import colour_report
        from ml.restore.colorize import colorize
        from ml.restore.face_prior import FacePrior, PriorSettings, colour_seeds
        from ml.restore.hints import parse_strokes

        p = ctx.params
        progress = ctx.stage(10, 90)
        reference_input = ctx.inputs.get("reference")
        reference = reference_input.image() if reference_input is not None else None
        faces = (None, None)
        if reference is not None:
            progress(0.0, "Finding the faces.", force=True)
            with ctx.models.use("faces") as analyzer:
                faces = (face_box(analyzer, rgb), face_box(analyzer, reference))
        face_seeds, prior_report = None, None
        colour_photo = colour_report(rgb).is_colour
        share = 0.0
        if p["face_colour"] and not (colour_photo and not p["recolour"]):
            share = 0.8

            def face_progress(fraction, stage):
                progress(share * fraction, f"Colouring faces: {stage}.")

            face_progress(0.0, "finding the faces")
            with ctx.models.use("stylemix") as mixer:
                prior = FacePrior(
                    mixer.generator, mixer.detector, PriorSettings(iterations=p["face_steps"])
                )
                colours, prior_report = prior.face_colours(rgb, progress=face_progress)

            def face_seeds(photo, grid):
                return colour_seeds(colours, photo.shape[:2], grid)

        slot = ctx.models.get("colorizer")
        model = slot.model if p["use_model"] else None
        with ctx.models.use("colorizer"):
            result = colorize(
                rgb,
                strokes=parse_strokes(p.get("hints")),
                reference=reference,
                model=model,
                faces=faces,
                face_seeds=face_seeds,
                recolour=p["recolour"],
                saturation=p["saturation"],
                progress=lambda f, stage: progress(
                    share + (1 - share) * f, f"Colorizing: {stage}."
                ),
            )
        details = {
            "skipped_colour_photo": result.skipped,
            "colour_spread": result.report.colour_spread,
            "was_colour": result.report.is_colour,
            "sources": result.sources,
            "seeds": result.seed_count,
            "hints": len(p.get("hints") or []),
            "saturation": p["saturation"],
            "model": model.name if model is not None else None,
            "face_boxes_matched": all(box is not None for box in faces),
            "face_colour": prior_report.as_dict() if prior_report is not None else None,
        }
        return result.rgb, details

    def summary(self, details):
        """What the colours came from, or why the photo was left as it was."""
        if "sources" not in details:
            return []
        if details.get("skipped_colour_photo"):
            return [
                localized(
                    text(
                        "The photo is already in colour, so it was left as it was. Tick "
                        "“Re-colour” to paint it again.",
                        "이미 컬러 사진이어서 그대로 두었습니다. 다시 칠하려면 “다시 칠하기”를 "
                        "선택하세요.",
                    )
                )
            ]
        names = {
            "hints": text("your colour hints", "색 힌트"),
            "reference": text("the reference photo", "참고 사진"),
            "model": text("the colorizer model", "컬러화 모델"),
            "faces": text("the face colour prior", "얼굴 색 추정"),
        }
        used = ", ".join(localized(names[s]) for s in details["sources"] if s in names)
        lines = [localized(text("Colours from: {used}.", "색의 출처: {used}.")).format(used=used)]
        faces = details.get("face_colour")
        if faces:
            lines.append(
                localized(
                    text(
                        "Faces coloured automatically: {used} of {found}.",
                        "자동으로 칠한 얼굴: {found}개 중 {used}개.",
                    )
                ).format(used=faces["faces_used"], found=faces["faces_found"])
            )
        return lines

    def page_notices(self, config):
        """Say how faces get their colour, and that no colorizer model file is installed."""
        notices = [
            (
                "colorize-face-notice",
                localized(
                    text(
                        "Faces are coloured automatically by fitting the face generator to each "
                        "face's shades of grey (seconds to a minute per photo on this server); "
                        "everything else takes its colour from your hints, the reference photo "
                        "or an installed colorizer model.",
                        "얼굴은 얼굴 생성기를 각 얼굴의 명암에 맞춰 자동으로 칠합니다(이 서버에서 "
                        "사진당 수 초~1분). 나머지 부분의 색은 색 힌트, 참고 사진 또는 설치된 "
                        "컬러화 모델에서 옵니다.",
                    )
                ),
            )
        ]
        if not (Path(config["MODEL_DIR"]) / COLORIZER_FILE).is_file():
            notices.append(
                (
                    "colorize-model-notice",
                    localized(
                        text(
                            "No colorizer model is installed: for more than the faces, paint "
                            "hints or give a reference photo.",
                            "컬러화 모델이 설치되어 있지 않습니다. 얼굴 외의 부분은 색 힌트를 "
                            "칠하거나 참고 사진을 주세요.",
                        )
                    ),
                )
            )
        return notices
