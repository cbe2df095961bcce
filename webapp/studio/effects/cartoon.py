"""Cartoon: flat colours and inked outlines on a photo or video (ml/cartoon.py; no model file)."""

from __future__ import annotations

from webapp.studio.effects.base import Effect, checkbox, localized, params, slider, text


class Cartoon(Effect):
    """Edge-preserving smoothing, colour quantization and inked edges, with a strength slider."""

    name = "cartoon"
    label = text("Cartoon", "만화 효과")
    description = text(
        "Flat colours and inked outlines, like a drawing; the whole picture changes.",
        "색을 단순하게 하고 윤곽선을 그려 그림처럼 만듭니다. 사진 전체가 바뀝니다.",
    )
    params_schema = params(
        {
            "strength": slider(text("Strength", "강도"), 0, 1, 0.05, 0.8),
            "edges": checkbox(text("Inked outlines", "윤곽선 그리기"), default=True),
        }
    )
    provenance = "Synthetic media: the picture was redrawn as a cartoon by {software} (cartoon)."

    def apply_image(self, ctx, rgb):
        """The cartoon photo."""
        from ml.cartoon import VERSION, cartoonize

        p = ctx.params
        return cartoonize(rgb, p["strength"], p["edges"]), {**p, "engine": VERSION}

    def frame_function(self, ctx, fps):
        """The same fixed steps on every frame (no flicker from frame to frame)."""
        from ml.cartoon import VERSION, VideoCartoonizer

        p = ctx.params
        cartoonizer = VideoCartoonizer(p["strength"], p["edges"])
        return cartoonizer, lambda: {**p, "engine": VERSION, "frames": cartoonizer.frames}

    def summary(self, details):
        """The strength used."""
        if "strength" not in details:
            return []
        line = localized(text("Strength: {s:.2f}.", "강도: {s:.2f}."))
        return [line.format(s=details["strength"])]
