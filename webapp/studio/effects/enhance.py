"""Enhance: clean, sharpen and enlarge an old photo (ml/restore: inpainting, NL-means, CLAHE,
Real-ESRGAN ncnn super-resolution on the CPU, tiled)."""

from __future__ import annotations

from contextlib import ExitStack

import cv2

from webapp.studio.effects.base import PHOTO, Effect, Input, choice, localized, params, slider, text
from webapp.studio.effects.registry import model_loader

UPSCALES = {"1": 1, "2": 2, "4": 4}


def _sr_loader(which: str):
    def load(registry):
        from ml.restore.super_resolution import RealEsrgan

        return RealEsrgan(registry.model_dir / "realesrgan-ncnn", which)

    load.__name__ = load.__qualname__ = f"load_sr_{which}"
    load.__doc__ = f"Real-ESRGAN ncnn model '{which}'."
    return load


for _which in ("fast2", "fast4", "quality"):
    model_loader(f"sr_{_which}")(_sr_loader(_which))


class Enhance(Effect):
    """Dust and scratches, noise, local contrast, sharpness, and x2 / x4 super-resolution."""

    name = "enhance"
    label = text("Enhance an old photo", "오래된 사진 복원")
    description = text(
        "Removes dust and scratches and noise, lifts local contrast, sharpens, and enlarges "
        "x2 or x4 with Real-ESRGAN.",
        "먼지·긁힘과 잡음을 없애고, 국소 대비를 높이고, 선명하게 하며, Real-ESRGAN으로 2배 또는 "
        "4배 확대합니다.",
    )
    inputs = (Input("media", (PHOTO,), text("Old photo", "오래된 사진")),)
    output = PHOTO
    params_schema = params(
        {
            "scratches": slider(
                text("Dust and scratch removal", "먼지·긁힘 제거"), 0, 1, 0.05, 0.5
            ),
            "denoise": slider(text("Noise reduction", "잡음 제거"), 0, 1, 0.05, 0.5),
            "contrast": slider(text("Local contrast", "국소 대비"), 0, 1, 0.05, 0.3),
            "sharpen": slider(text("Sharpen", "선명하게"), 0, 1, 0.05, 0.4),
            "upscale": choice(
                text("Enlarge", "확대"),
                {"1": text("No", "안 함"), "2": text("x2", "2배"), "4": text("x4", "4배")},
                "2",
            ),
            "quality": choice(
                text("Enlarging model", "확대 모델"),
                {
                    "fast": text("Fast (animavideov3)", "빠름 (animavideov3)"),
                    "best": text("Best, slow (x4plus)", "최고 품질, 느림 (x4plus)"),
                },
                "fast",
            ),
            "faces": slider(
                text("Face restoration by the face generator", "얼굴 생성기로 얼굴 복원"),
                0, 1, 0.05, 0,
            ),
            "face_steps": slider(
                text("Face restoration fitting steps", "얼굴 복원 맞춤 단계 수"), 5, 200, 5, 60
            ),
        }
    )  # fmt: skip
    models = ("sr_fast2", "sr_fast4", "sr_quality", "stylemix")
    provenance = "Synthetic media: the photo was restored and enlarged by {software} (enhance)."
    notice = text(
        "Enlarging invents plausible detail (Real-ESRGAN, BSD-3-Clause); it is not the original.",
        "확대는 그럴듯한 세부를 만들어 냅니다(Real-ESRGAN, BSD-3-Clause). 원본이 아닙니다.",
    )

    def apply_image(self, ctx, rgb):
        """The enhanced photo."""
        from ml.restore.enhance import EnhanceOptions, enhance
        from ml.restore.face_prior import FacePrior

        p = ctx.params
        factor = UPSCALES[p["upscale"]]
        # x4plus is a x4 model: for x2 at best quality it runs x4 and is halved (area average).
        model_scale = 4 if p["quality"] == "best" and factor == 2 else factor
        name = None
        if factor > 1:
            name = "sr_quality" if p["quality"] == "best" else f"sr_fast{factor}"
        options = EnhanceOptions(
            scratches=p["scratches"],
            denoise=p["denoise"],
            contrast=p["contrast"],
            sharpen=p["sharpen"],
            upscale=model_scale,
            faces=p["faces"],
            face_steps=p["face_steps"],
        )
        progress = ctx.stage(10, 90)

        def report(fraction, stage):
            progress(fraction, f"Enhancing: {stage}.")

        with ExitStack() as held:
            upscaler = held.enter_context(ctx.models.use(name)) if name else None
            prior = None
            if options.faces > 0:
                mixer = held.enter_context(ctx.models.use("stylemix"))
                prior = FacePrior(mixer.generator, mixer.detector)
            result = enhance(rgb, options, upscaler, report, face_prior=prior)
        image = result.rgb
        if model_scale != factor:
            size = (rgb.shape[1] * factor, rgb.shape[0] * factor)
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        details = {
            **p,
            "steps": result.steps,
            "defect_pixels": result.defect_pixels,
            "noise_sigma": result.noise_sigma,
            "sr_model": name,
            "face_restoration": result.faces,
        }
        return image, details

    def summary(self, details):
        """The steps done and the defects found."""
        if "steps" not in details:
            return []
        lines = [
            localized(text("Steps: {steps}.", "단계: {steps}.")).format(
                steps=", ".join(details["steps"]) or "-"
            )
        ]
        if details.get("defect_pixels"):
            lines.append(
                localized(
                    text("Dust and scratch pixels filled: {n}.", "채운 먼지·긁힘 픽셀: {n}.")
                ).format(n=details["defect_pixels"])
            )
        faces = details.get("face_restoration")
        if faces:
            lines.append(
                localized(
                    text(
                        "Faces restored by the face generator: {used} of {found}.",
                        "얼굴 생성기로 복원한 얼굴: {found}개 중 {used}개.",
                    )
                ).format(used=faces["faces_used"], found=faces["faces_found"])
            )
        return lines

    def page_notices(self, config):
        """Face restoration rebuilds faces with the face generator; say what that means."""
        return [
            (
                "enhance-face-notice",
                localized(
                    text(
                        "Face restoration fits the face generator to each face and blends its "
                        "reconstruction back (seconds to a minute per face on this server): it "
                        "looks cleaner but may not look exactly like the person. 0 turns it off.",
                        "얼굴 복원은 얼굴 생성기를 각 얼굴에 맞춘 뒤 다시 그린 얼굴을 섞습니다(이 "
                        "서버에서 얼굴당 수 초~1분). 더 깨끗해 보이지만 그 사람과 똑같지 않을 수 "
                        "있습니다. 0이면 쓰지 않습니다.",
                    )
                ),
            )
        ]
