"""Style mixing: project the face into the generator, mix its layers with another face's, paste
it back (ml/stylemix); photo or video in, with a painting/cartoon look on top if chosen."""

from __future__ import annotations

from webapp.errors import AppError
from webapp.studio.effects.base import (
    MEDIA,
    PHOTO,
    Effect,
    Input,
    checkbox,
    choice,
    localized,
    params,
    slider,
    text,
)
from webapp.studio.effects.registry import model_loader

PREVIEW_RESOLUTION = 128  # a preview projects at most at this resolution ...
PREVIEW_ITERATIONS = 30  # ... for at most this many iterations (seconds on a CPU)
PREVIEW_SIZE = 384  # px per side of the preview's two faces
TOON_FOLDER = "stylemix-toon"  # an operator's fine-tuned SynthesisNetwork.{xml,bin} goes here

LAYER_CHOICES = {
    "coarse": text("Coarse: pose and face shape", "굵은 층: 자세와 얼굴형"),
    "middle": text("Middle: features and hair", "중간 층: 이목구비와 머리"),
    "fine": text("Fine: colours and texture", "세밀한 층: 색과 질감"),
    "coarse_middle": text("Coarse and middle", "굵은 층과 중간 층"),
    "middle_fine": text("Middle and fine", "중간 층과 세밀한 층"),
}
OTHER_CHOICES = {
    "generated": text("A generated person (number below)", "생성된 인물 (아래 번호)"),
    "source": text("The second photo (upload)", "두 번째 사진 (업로드)"),
    "preset_a": text("Preset A", "프리셋 A"),
    "preset_b": text("Preset B", "프리셋 B"),
    "preset_c": text("Preset C", "프리셋 C"),
    "preset_d": text("Preset D", "프리셋 D"),
}
LOOK_CHOICES = {
    "none": text("None", "없음"),
    "cartoon_ink": text("Cartoon: inked drawing", "만화: 잉크 드로잉"),
    "cartoon_flat": text("Cartoon: flat colours", "만화: 단순한 색"),
    "sketch": text("Charcoal sketch", "목탄 스케치"),
    "watercolour": text("Watercolour", "수채화"),
    "oil": text("Oil painting", "유화"),
    "sepia": text("Sepia etching", "세피아 에칭"),
    "brush": text("Brush strokes", "붓 터치"),
    "stained_glass": text("Stained glass", "스테인드글라스"),
}


@model_loader("stylemix")
def load_style_mixer(registry):
    """The torch MobileStyleGAN (GPU when there is one), the photo detector and the looks."""
    from ml.device import torch_device
    from ml.stylemix.generator import TorchStyleGAN
    from ml.stylemix.pipeline import StyleMixer, default_model_dirs
    from ml.stylemix.toon import StyleLooks

    gan_dir, looks_dir = default_model_dirs(registry.model_dir)
    # The truncated-synthesis heads are fitted once and kept with the generator's mean-w cache.
    generator = TorchStyleGAN(
        gan_dir, device=torch_device(registry.device_preference), cache_dir=registry.facebank_dir
    )
    detector = registry.model("faces").detectors["photo"]
    return StyleMixer(generator, detector, StyleLooks(looks_dir))


class StyleMix(Effect):
    """Project the face into the generator, mix layer groups with another face, paste it back."""

    name = "style_mix"
    label = text("Style mixing", "스타일 믹싱")
    description = text(
        "Your face is rebuilt by a face generator and mixed, layer by layer, with another face: "
        "keep your pose and shape with their colours, or the reverse; a painted look on top.",
        "얼굴 생성기로 얼굴을 다시 만들고 다른 얼굴과 층별로 섞습니다. 자세와 얼굴형은 그대로 "
        "두고 색만 바꾸거나 그 반대로 할 수 있고, 그림 효과를 더할 수 있습니다.",
    )
    inputs = (
        MEDIA,
        Input(
            "source",
            (PHOTO,),
            text("Other face (a photo, when chosen below)", "다른 얼굴 (아래에서 고른 경우 사진)"),
            required=False,
            missing=text("Choose the second photo.", "두 번째 사진을 고르세요."),
        ),
    )
    params_schema = params(
        {
            "resolution": slider(
                text("Projection resolution (px)", "투영 해상도 (픽셀)"), 64, 1024, 64, 256
            ),
            "iterations": slider(text("Projection iterations", "투영 반복 횟수"), 0, 500, 10, 50),
            "video_iterations": slider(
                text("Iterations per video frame", "동영상 프레임당 반복 횟수"), 0, 50, 1, 3
            ),
            "video_keyframes": slider(
                text("Project every n-th video frame", "동영상 n번째 프레임마다 투영"), 1, 10, 1, 1
            ),
            "layers": choice(
                text("Layers taken from the other face", "다른 얼굴에서 가져올 층"),
                LAYER_CHOICES,
                "fine",
            ),
            "coarse_strength": slider(text("Coarse strength", "굵은 층 강도"), 0, 1, 0.05, 1.0),
            "middle_strength": slider(text("Middle strength", "중간 층 강도"), 0, 1, 0.05, 1.0),
            "fine_strength": slider(text("Fine strength", "세밀한 층 강도"), 0, 1, 0.05, 1.0),
            "other": choice(text("Other face", "다른 얼굴"), OTHER_CHOICES, "generated"),
            "seed": slider(text("Generated person number", "생성된 인물 번호"), 0, 9999, 1, 7),
            "look": choice(text("Look", "그림 효과"), LOOK_CHOICES, "none"),
            "look_strength": slider(text("Look strength", "그림 효과 강도"), 0, 1, 0.05, 0.7),
            "toon_model": checkbox(
                text("Blend in the installed fine-tuned generator", "설치된 미세조정 생성기 섞기")
            ),
            "toon_resolution": slider(
                text("Fine-tuned layers up to (px)", "미세조정 층 범위 (픽셀)"), 4, 1024, 4, 32
            ),
            # x-preview: the page shows a button that runs the job with this on and shows the
            # result in place (seconds), before the full job.
            "preview": {
                **checkbox(
                    text(
                        "Quick preview: the face only, projected at up to 128 px",
                        "빠른 미리보기: 얼굴만, 최대 128픽셀로 투영",
                    )
                ),
                "x-preview": True,
            },
        }
    )
    models = ("faces", "stylemix")
    provenance = (
        "Synthetic media: the face was rebuilt and style-mixed with a face generator "
        "by {software} (style_mix)."
    )
    notice = text(
        "Face generator: MobileStyleGAN distilled from NVIDIA's StyleGAN2 on FFHQ; "
        "non-commercial use only (see ml/generator/NOTICE.md).",
        "얼굴 생성기: NVIDIA StyleGAN2(FFHQ)에서 증류한 MobileStyleGAN; "
        "비상업적 용도로만 사용하세요.",
    )

    def page_notices(self, config):
        """Say that no fine-tuned generator is installed, when none is."""
        from pathlib import Path

        from ml.stylemix.toon import has_toon_generator

        if has_toon_generator(Path(config["MODEL_DIR"]) / TOON_FOLDER):
            return []
        return [(
            "toon_model",
            localized(text(
                f"No fine-tuned generator is installed (MODEL_DIR/{TOON_FOLDER}); "
                "the blend option is unavailable.",
                f"미세조정 생성기가 설치되어 있지 않습니다 (MODEL_DIR/{TOON_FOLDER}).",
            )),
        )]  # fmt: skip

    # -- helpers ------------------------------------------------------------------------------

    def _settings(self, params):
        """The projection settings; a preview caps them to a few seconds' work."""
        from ml.stylemix.projection import ProjectionSettings

        resolution, iterations = params["resolution"], params["iterations"]
        if params.get("preview"):
            resolution = min(resolution, PREVIEW_RESOLUTION)
            iterations = min(iterations, PREVIEW_ITERATIONS)
        return ProjectionSettings(resolution=resolution, iterations=iterations)

    def _plan(self, ctx, mixer, progress):
        """Strengths, the other face's latent, look, and the (blended) generator."""
        from ml.stylemix.mixing import PRESETS
        from ml.stylemix.pipeline import PRESET_SEEDS, Look
        from ml.stylemix.toon import LOOKS, load_toon_generator

        p = ctx.params
        chosen = PRESETS[p["layers"]]
        strengths = {g: chosen[g] * p[f"{g}_strength"] for g in ("coarse", "middle", "fine")}
        settings = self._settings(p)
        if p["other"] == "source":
            source = ctx.inputs.get("source")
            if source is None:
                raise AppError("Upload the second photo, or choose another face.", "missing_source")
            aligned = mixer.align_photo(source.image())
            other = mixer.project_face(aligned, settings, progress=progress).w_plus
        elif p["other"] == "generated":
            other = mixer.generated_latent(p["seed"])
        else:
            other = mixer.generated_latent(PRESET_SEEDS[p["other"]])
        look = Look(LOOKS[p["look"]], p["look_strength"]) if p["look"] != "none" else None
        generator = None
        if p["toon_model"]:
            folder = ctx.models.registry.model_dir / TOON_FOLDER
            try:
                generator = load_toon_generator(mixer.generator, folder, p["toon_resolution"])
            except FileNotFoundError as exc:
                raise AppError(
                    "No fine-tuned generator is installed; untick the blend option.",
                    "toon_model_missing",
                ) from exc
        return strengths, other, look, generator, settings

    # -- run ----------------------------------------------------------------------------------

    def run(self, ctx):
        """The full job, or with `preview` the aligned face and its mix side by side (a photo,
        also for a video: its first frame), projected at up to 128 px in a few iterations."""
        if not ctx.params.get("preview"):
            return super().run(ctx)
        import cv2
        import numpy as np

        from ml.video import read_frame

        media = ctx.media
        rgb = media.image() if media.kind == PHOTO else read_frame(media.path, 0)
        ctx.progress(0.05, "Projecting the face (preview).", force=True)
        with ctx.models.use("stylemix") as mixer:
            has_source = ctx.params["other"] == "source"
            strengths, other, look, generator, settings = self._plan(
                ctx, mixer, ctx.stage(5, 40) if has_source else None
            )
            aligned = mixer.align_photo(rgb)
            projection = mixer.project_face(
                aligned, settings, progress=ctx.stage(40 if has_source else 5, 80),
                reconstruct=False,
            )  # fmt: skip
            ctx.progress(0.8, "Rendering the preview.", force=True)
            face = mixer.render(mixer.mix_latents(projection.w_plus, other, strengths), look,
                                generator)  # fmt: skip
        size = (PREVIEW_SIZE, PREVIEW_SIZE)
        halves = [
            cv2.resize(part, size, interpolation=cv2.INTER_AREA) for part in (aligned.image, face)
        ]
        image = np.concatenate(halves, axis=1)
        details = {**ctx.params, "strengths": strengths, "preview_resolution": settings.resolution,
                   "preview_iterations": settings.iterations,
                   "final_loss": projection.losses[-1] if projection.losses else None}  # fmt: skip
        return ctx.save_photo(image, details)

    def apply_image(self, ctx, rgb):
        """Project, mix, look, paste back."""
        with ctx.models.use("stylemix") as mixer:
            has_source = ctx.params["other"] == "source"
            strengths, other, look, generator, settings = self._plan(
                ctx, mixer, ctx.stage(10, 45) if has_source else None
            )
            image, projection = mixer.mix_photo(
                rgb, other, strengths, settings, look, generator,
                progress=ctx.stage(45 if has_source else 10, 90),
            )  # fmt: skip
        details = {**ctx.params, "strengths": strengths,
                   "final_loss": projection.losses[-1] if projection.losses else None}  # fmt: skip
        return image, details

    def frame_function(self, ctx, fps):
        """Per frame: track, warm-started projection, smoothed latent, mix, paste."""
        from ml.stylemix.pipeline import VideoSettings, VideoStyleMixer

        mixer = ctx.models.get("stylemix")
        with ctx.models.use("stylemix"):
            strengths, other, look, generator, settings = self._plan(ctx, mixer, None)
        video = VideoSettings(
            first=settings,
            iterations=ctx.params["video_iterations"],
            keyframe_every=ctx.params["video_keyframes"],
        )
        frames = VideoStyleMixer(mixer, other, strengths, video, look, generator)
        fn = ctx.models.locked("stylemix", frames)
        return fn, lambda: {**ctx.params, "strengths": strengths, **frames.report()}

    def summary(self, details):
        """The projection settings and what was mixed."""
        if "resolution" not in details:
            return []
        line = localized(text(
            "Projected at {r} px, {i} iterations; layers from the other face: {l}.",
            "{r}픽셀, {i}회 반복으로 투영; 다른 얼굴에서 가져온 층: {l}.",
        ))  # fmt: skip
        return [line.format(r=details["resolution"], i=details["iterations"], l=details["layers"])]
