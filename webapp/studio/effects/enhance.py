"""Enhance: clean, sharpen and enlarge an old photo (ml/restore: inpainting, NL-means, CLAHE,
Real-ESRGAN ncnn super-resolution on the CPU, tiled)."""

from __future__ import annotations

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
        }
    )  # fmt: skip
    models = ("sr_fast2", "sr_fast4", "sr_quality")
    provenance = "Synthetic media: the photo was restored and enlarged by {software} (enhance)."
    notice = text(
        "Enlarging invents plausible detail (Real-ESRGAN, BSD-3-Clause); it is not the original.",
        "확대는 그럴듯한 세부를 만들어 냅니다(Real-ESRGAN, BSD-3-Clause). 원본이 아닙니다.",
    )

    def apply_image(self, ctx, rgb):
        """The enhanced photo."""
        from ml.restore.enhance import EnhanceOptions, enhance

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
        )
        progress = ctx.stage(10, 90)

        def report(fraction, stage):
            progress(fraction, f"Enhancing: {stage}.")

        if name is None:
            result = enhance(rgb, options, None, report)
        else:
            with ctx.models.use(name) as upscaler:
                result = enhance(rgb, options, upscaler, report)
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
            "face_restoration": None,
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
        return lines

    def page_notices(self, config):
        """Face restoration by the generator is not in this version; say so."""
        return [
            (
                "enhance-face-notice",
                localized(
                    text(
                        "Face restoration by the face generator is not available in this "
                        "version; faces are enhanced like the rest of the photo.",
                        "얼굴 생성기를 이용한 얼굴 복원은 이 버전에서 사용할 수 없습니다. 얼굴도 "
                        "사진의 나머지 부분과 같이 보정됩니다.",
                    )
                ),
            )
        ]
