"""Animate a photo (ml/animate): a living portrait from a built-in motion, reenactment from a
`driving` video, or a talking photo from `text` (espeak-ng speech, WebVTT subtitles)."""

from __future__ import annotations

from webapp.errors import AppError
from webapp.studio.effects.base import (
    PHOTO,
    TEXT,
    VIDEO,
    Effect,
    Input,
    Output,
    checkbox,
    choice,
    localized,
    params,
    slider,
    text,
)
from webapp.studio.effects.registry import model_loader

FPS = 25.0
MOTION_LABELS = {
    "portrait": text("Living portrait (a bit of everything)", "살아있는 초상 (골고루)"),
    "look_around": text("Look around", "둘러보기"),
    "nod": text("Nod", "고개 끄덕이기"),
    "smile": text("Smile", "미소"),
    "blink": text("Blink", "눈 깜박이기"),
    "tilt": text("Tilt the head", "고개 기울이기"),
}


@model_loader("animate")
def load_animator(registry):
    """The animator on the shared detector and face mesh, warping on the process's device."""
    from ml.animate.animator import Animator
    from ml.device import torch_device

    faces = registry.model("faces")
    return Animator(faces.detectors["photo"], registry.model("face_mesh"), device=torch_device())


class Animate(Effect):
    """Photo in, video out: built-in motion, a driving video's motion, or speech from text."""

    name = "animate"
    label = text("Animate a photo", "사진 움직이기")
    description = text(
        "The face in a photo moves: a built-in motion, the motion of a driving video, or it "
        "speaks a text you type (with subtitles).",
        "사진 속 얼굴이 움직입니다: 기본 동작, 구동 동영상의 움직임, 또는 입력한 문장을 "
        "말합니다 (자막 포함).",
    )
    inputs = (
        Input("media", (PHOTO,), text("Photo (one face)", "사진 (얼굴 하나)")),
        Input(
            "driving",
            (VIDEO,),
            text(
                "Driving video (optional: the face follows it)",
                "구동 동영상 (선택: 얼굴이 이 영상을 따라 움직입니다)",
            ),
            required=False,
        ),
        Input(
            "text",
            (TEXT,),
            text(
                "Text to speak (optional, Korean or English; up to 600 characters)",
                "말할 문장 (선택, 한국어 또는 영어; 600자까지)",
            ),
            required=False,
        ),
    )
    output = VIDEO
    params_schema = params(
        {
            "motion": choice(
                text("Built-in motion (without a driving video or text)",
                     "기본 동작 (구동 동영상이나 문장이 없을 때)"),
                MOTION_LABELS,
                "portrait",
            ),
            "seconds": slider(text("Length (seconds)", "길이 (초)"), 1, 30, 0.5, 5.0),
            "language": choice(
                text("Language of the text", "문장의 언어"),
                {"auto": text("Detect", "자동 감지"), "en": text("English", "영어"),
                 "ko": text("Korean", "한국어")},
                "auto",
            ),
            "burn_subtitles": checkbox(
                text("Burn the subtitles into the picture", "자막을 화면에 새기기"), False
            ),
            "reference": choice(
                text("Driving motion relative to", "구동 움직임의 기준"),
                {"first": text("the first frame", "첫 프레임"),
                 "neutral": text("the most neutral frame", "가장 무표정한 프레임")},
                "first",
            ),
        }
    )  # fmt: skip
    models = ("faces", "face_mesh", "animate")
    provenance = "Synthetic media: a photo was animated by {software} (animate)."

    def page_notices(self, config):
        """A warning when speech (espeak-ng) is not installed on this server."""
        from ml.animate.speech import speech_available

        if speech_available():
            return []
        return [
            (
                "animate-speech-notice",
                localized(
                    text(
                        "Talking photos are not available here: espeak-ng is not installed.",
                        "말하는 사진을 쓸 수 없습니다: espeak-ng가 설치되어 있지 않습니다.",
                    )
                ),
            )
        ]

    def run(self, ctx) -> Output:
        """Make the animation: reenactment, talking photo or built-in motion, by the inputs."""
        p = ctx.params
        driving = ctx.inputs.get("driving")
        spoken = ctx.inputs.get("text")
        if driving is not None and spoken is not None:
            raise AppError(
                "Send a driving video or a text to speak, not both.", "conflicting_inputs"
            )
        photo = ctx.media.image()
        stage = ctx.stage(2, 99)
        target = ctx.scratch / "result.mp4"
        extras = {}

        def progress(fraction: float) -> None:
            stage(fraction, "Animating the photo.")

        stage(0.0, "Finding the face.", force=True)
        with ctx.models.use(self.name) as animator:
            if driving is not None:
                mode = "reenact"
                result = animator.reenact(
                    photo, driving.path, target, reference=p["reference"], progress=progress,
                    metadata=ctx.tags,
                )  # fmt: skip
                details = {"reference": p["reference"], "driving_frames": result.frames}
            elif spoken is not None:
                mode = "talk"
                result = animator.talk(
                    photo, spoken.text or "", target, language=p["language"], fps=FPS,
                    burn_subtitles=p["burn_subtitles"], progress=progress, metadata=ctx.tags,
                )  # fmt: skip
                subtitles = ctx.scratch / "subtitles.vtt"
                subtitles.write_text(result.subtitles or "WEBVTT\n", encoding="utf-8")
                extras["subtitles.vtt"] = subtitles
                details = {
                    "language": result.language,
                    "characters": len(spoken.text or ""),
                    "burn_subtitles": p["burn_subtitles"],
                    "speech": result.speech_version,
                }
            else:
                mode = "motion"
                result = animator.living_portrait(
                    photo, target, p["motion"], float(p["seconds"]), FPS, progress=progress,
                    metadata=ctx.tags,
                )  # fmt: skip
                details = {"motion": p["motion"], "seconds": float(p["seconds"])}
            engine = animator.version
        info = {
            "width": result.width,
            "height": result.height,
            "duration": float(result.duration),
            "frames": int(result.frames),
            "fps": float(result.fps),
        }
        details = {
            "mode": mode,
            **details,
            "frames": int(result.frames),
            "duration": round(float(result.duration), 3),
            "has_audio": bool(result.has_audio),
            "engine": engine,
        }
        return Output(target, VIDEO, "video/mp4", info, details, extras)

    def summary(self, details):
        """What was animated, and how."""
        mode = details.get("mode")
        if mode == "motion":
            label = localized(MOTION_LABELS.get(details["motion"], details["motion"]))
            line = text("Built-in motion: {m}, {s:.1f} s.", "기본 동작: {m}, {s:.1f}초.")
            return [localized(line).format(m=label, s=details["seconds"])]
        if mode == "reenact":
            line = text(
                "Moved as the face in the driving video ({n} frames).",
                "구동 동영상의 얼굴처럼 움직였습니다 ({n} 프레임).",
            )
            return [localized(line).format(n=details["frames"])]
        if mode == "talk":
            line = text(
                "Spoke {c} characters ({lang}), {d:.1f} s, with subtitles.",
                "{c}자를 말했습니다 ({lang}), {d:.1f}초, 자막 포함.",
            )
            return [
                localized(line).format(
                    c=details["characters"], lang=details["language"], d=details["duration"]
                )
            ]
        return []
