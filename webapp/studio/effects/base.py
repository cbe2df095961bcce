"""The effect contract: what an effect declares (inputs by role, output kind, a JSON Schema of its
parameters, models, provenance) and the two or three methods a worker calls.

Everything the API, the OpenAPI document, the studio page and the worker know about an effect
comes from its `Effect` subclass; see docs/architecture.md, "Adding an effect".
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from webapp.studio.effects.schema import ParamError, check_object

if TYPE_CHECKING:
    from webapp.studio.registry import StudioRegistry

# Input kinds a role may accept, and the output kinds an effect may produce.
PHOTO, VIDEO, TEXT, AUDIO = "photo", "video", "text", "audio"
SAME = "same"  # the output is the kind of the `media` input
ROLES = ("media", "source", "driving", "reference", "text", "audio")

# A user-facing text: a plain (or lazily translated) string, or {"en": ..., "ko": ...}.
Text = Any


def localized(text: Text, locale: str | None = None) -> str:
    """`text` in `locale` (default: the request's), falling back to English."""
    if text is None:
        return ""
    if isinstance(text, Mapping):
        if locale is None:
            locale = _current_locale()
        return str(text.get(locale) or text.get("en") or next(iter(text.values()), ""))
    if locale == "en" and hasattr(text, "_args"):  # a lazy gettext string: its English msgid
        return str(text._args[0])
    return str(text)


def _current_locale() -> str:
    try:
        from flask_babel import get_locale

        found = get_locale()
        return found.language if found is not None else "en"
    except Exception:  # outside a request (worker, tests)
        return "en"


def text(en: str, ko: str) -> dict[str, str]:
    """A user-facing text in English and Korean, kept in the effect's own module."""
    return {"en": en, "ko": ko}


@dataclass(frozen=True)
class Input:
    """One input of an effect, by role: what it accepts and how the page asks for it."""

    role: str
    accepts: tuple[str, ...]
    label: Text = None
    required: bool = True
    missing: Text = None  # the page's message when a required input is missing
    # A parameter that may take this input's place (e.g. face swap's `person` for `source`):
    # exactly one of the two is given; the job is refused when both or neither are.
    instead: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown input role {self.role!r}; roles are {', '.join(ROLES)}")


MEDIA = Input("media", (PHOTO, VIDEO), {"en": "Photo or video", "ko": "사진 또는 동영상"})
# The licence notice of every result with a generated face in it (see ml/generator/NOTICE.md).
GENERATOR_NOTICE = {
    "en": "Generated faces come from MobileStyleGAN, distilled from NVIDIA's StyleGAN2 trained on "
    "FFHQ: non-commercial use only (NVIDIA licence-NC, FFHQ CC BY-NC-SA 4.0).",
    "ko": "생성된 얼굴은 FFHQ로 학습한 NVIDIA StyleGAN2에서 증류한 MobileStyleGAN으로 만듭니다: "
    "비상업적 용도로만 사용할 수 있습니다 (NVIDIA licence-NC, FFHQ CC BY-NC-SA 4.0).",
}


# -- parameter schema helpers (plain JSON Schema with the studio's `x-` keys) ----------------------


def slider(title: Text, minimum: float, maximum: float, step: float, default: float) -> dict:
    """A number parameter the page shows as a slider."""
    kind = "integer" if all(float(v).is_integer() for v in (minimum, maximum, step)) else "number"
    return {"type": kind, "minimum": minimum, "maximum": maximum, "x-step": step,
            "default": default, **_title(title)}  # fmt: skip


def choice(title: Text, options: Mapping[str, Text], default: str) -> dict:
    """A choice among fixed values (a select in the page)."""
    return {"type": "string", "enum": list(options), "default": default,
            "x-labels": {k: _both(v) for k, v in options.items()}, **_title(title)}  # fmt: skip


def checkbox(title: Text, default: bool = False) -> dict:
    """A true/false parameter."""
    return {"type": "boolean", "default": default, **_title(title)}


def must_be_true(title: Text, error: Text, code: str) -> dict:
    """A checkbox that must be ticked (e.g. consent); `error` is the API's and the page's text."""
    return {"type": "boolean", "const": True, "x-error": _both(error), "x-code": code,
            **_title(title)}  # fmt: skip


def required_with(title: Text, error: Text, code: str, role: str) -> dict:
    """A checkbox that must be ticked when input `role` is given (e.g. consent for a real
    person's photo); `error` is the API's and the page's text when it is not."""
    return {"type": "boolean", "default": False, "x-required-with": role,
            "x-error": _both(error), "x-code": code, **_title(title)}  # fmt: skip


def face_ids(title: Text, chosen: Text, other: Text, hint: Text, preset: str, **extra) -> dict:
    """A list of face ids picked on the page's face boxes (`preset`: "all" or "suggested")."""
    return {"type": "array", "items": {"type": "integer", "minimum": 0}, "maxItems": 500,
            "x-faces": {"preset": preset, "chosen": _both(chosen), "other": _both(other),
                        "hint": _both(hint)}, **_title(title), **extra}  # fmt: skip


def json_list(title: Text, description: Text, widget: str | None = None, max_items=1000) -> dict:
    """A free-form JSON array (e.g. colour hint strokes); the page shows a text field, or the
    effect's own widget (`widget`: a name its `widget_script` registers)."""
    spec = {"type": "array", "maxItems": max_items, **_title(title),
            "x-description": _both(description)}  # fmt: skip
    if widget:
        spec["x-widget"] = widget
    return spec


def _both(value: Text) -> Text:
    """A text kept as given: a dict of languages, or a (lazily translated) string."""
    return dict(value) if isinstance(value, Mapping) else value


def _title(title: Text) -> dict:
    return {"title": localized(title, "en"), "x-title": _both(title)}


def localized_schema(node: Any, locale: str | None = None) -> Any:
    """A parameter schema with its texts (`x-title`, `x-labels`, ...) as plain strings."""
    if isinstance(node, Mapping):
        out = {}
        for key, value in node.items():
            if key in ("x-title", "x-error", "x-description"):
                out[key] = localized(value, locale)
            elif key == "x-labels":
                out[key] = {k: localized(v, locale) for k, v in value.items()}
            elif key == "x-faces":
                out[key] = {k: v if k == "preset" else localized(v, locale)
                            for k, v in value.items()}  # fmt: skip
            else:
                out[key] = localized_schema(value, locale)
        return out
    if isinstance(node, list):
        return [localized_schema(item, locale) for item in node]
    return node


def params(properties: Mapping[str, dict], required: tuple[str, ...] = ()) -> dict:
    """An effect's parameter schema: these properties and no others."""
    schema = {"type": "object", "properties": dict(properties), "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


# -- what a worker hands an effect ----------------------------------------------------------------


@dataclass
class InputMedia:
    """One input of a running job."""

    role: str
    kind: str  # photo, video, text, audio
    path: Path | None = None
    content_type: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    frames: int | None = None
    text: str | None = None
    max_pixels: int = 40_000_000

    def image(self) -> np.ndarray:
        """The photo as RGB (EXIF orientation applied)."""
        from ml.images import decode_image

        return decode_image(Path(self.path).read_bytes(), self.max_pixels)


@dataclass
class Output:
    """What an effect produced: the file, its kind and size, its report, and any extra files."""

    path: Path
    kind: str  # photo or video
    content_type: str
    info: dict
    details: dict
    extras: dict[str, Path] = field(default_factory=dict)  # name -> file (e.g. "subtitles.vtt")


class Models:
    """The worker's models as an effect sees them: loaded on first use, one lock per model."""

    def __init__(self, registry: StudioRegistry) -> None:
        self.registry = registry

    @contextlib.contextmanager
    def use(self, name: str) -> Iterator[Any]:
        """Hold model `name` (loading it the first time) for one user at a time."""
        model = self.registry.model(name)
        with self.registry.lock(name):
            yield model

    def get(self, name: str) -> Any:
        """Model `name` without its lock (for objects that take the lock per call themselves)."""
        return self.registry.model(name)

    def locked(self, name: str, fn: Callable[[np.ndarray, int], np.ndarray]):
        """A per-frame function that holds model `name`'s lock for each frame."""
        lock = self.registry.lock(name)

        def frame(rgb: np.ndarray, index: int) -> np.ndarray:
            with lock:
                return fn(rgb, index)

        return frame


@dataclass
class Context:
    """One run of one job: its checked parameters, inputs by role, models, scratch, progress."""

    effect: Effect
    params: dict
    inputs: dict[str, InputMedia]
    models: Models
    scratch: Path
    progress: Callable[..., None]  # progress(fraction 0-1, message=None, force=False)
    stage: Callable[[int, int], Callable[..., None]]  # stage(start %, end %) -> a progress
    tags: dict[str, str]  # the provenance fields every result carries

    @property
    def media(self) -> InputMedia:
        """The main input."""
        return self.inputs["media"]

    def save_photo(self, rgb: np.ndarray, details: dict, like: InputMedia | None = None) -> Output:
        """Write a result photo with its provenance (JPEG when the input was JPEG, else PNG)."""
        from webapp.studio import provenance

        jpeg = like is not None and like.content_type == "image/jpeg"
        content_type = "image/jpeg" if jpeg else "image/png"
        target = self.scratch / ("result.jpg" if jpeg else "result.png")
        provenance.save_image(rgb, target, content_type, self.tags)
        height, width = rgb.shape[:2]
        info = {"width": width, "height": height, "duration": None, "frames": 1, "fps": None}
        return Output(target, PHOTO, content_type, info, details)

    def transform_video(
        self,
        video: InputMedia,
        frame_fn: Callable[[np.ndarray, int], np.ndarray],
        report: Callable[[], dict],
    ) -> Output:
        """Run `frame_fn` over every frame of `video` into an H.264 MP4, reporting progress."""
        from ml.video import transform_video

        stage = self.stage(2, 99)
        total = video.frames or 0

        def on_frames(fraction: float) -> None:
            stage(fraction, f"Frame {min(round(fraction * total), total)} of {total}.")

        stage(0.0, f"Frame 0 of {total}.", force=True)
        target = self.scratch / "result.mp4"
        made = transform_video(video.path, target, frame_fn, progress=on_frames, metadata=self.tags)
        info = {"width": made.width, "height": made.height, "duration": float(made.duration),
                "frames": int(made.frames), "fps": float(made.fps)}  # fmt: skip
        return Output(target, VIDEO, "video/mp4", info, report())

    def encode_video(self, frames, fps: float, total: int, details: dict) -> Output:
        """Write frames an effect makes (e.g. a photo animated) as the result MP4, reporting
        progress per frame against `total`."""
        from ml.video import encode_video

        stage = self.stage(2, 99)

        def counted():
            for index, frame in enumerate(frames):
                stage(index / max(total, 1), f"Frame {index} of {total}.")
                yield frame

        target = self.scratch / "result.mp4"
        made = encode_video(counted(), target, fps, metadata=self.tags)
        info = {"width": made.width, "height": made.height, "duration": float(made.duration),
                "frames": int(made.frames), "fps": float(made.fps)}  # fmt: skip
        return Output(target, VIDEO, "video/mp4", info, details)


# -- the contract ---------------------------------------------------------------------------------


class Effect:
    """Base of every studio effect. Subclass it in `webapp/studio/effects/<name>.py`."""

    name: str = ""
    label: Text = None
    description: Text = None
    inputs: tuple[Input, ...] = (MEDIA,)
    output: str = SAME  # PHOTO, VIDEO, or SAME (the kind of `media`); or override output_kind
    params_schema: ClassVar[dict] = {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
    needs_faces: bool = False  # the page shows face boxes; find_faces must be written
    models: tuple[str, ...] = ()  # model names (see registry.model_loader) this effect uses
    provenance: str = "Synthetic media made by {software} ({effect})."
    notice: Text = None  # a licence or use notice, shown in the page and written into results
    widget_script: str | None = None  # a static/ path defining page widgets for `x-widget`
    texts: ClassVar[dict[str, Text]] = {}  # words of the widget script, by key (translated)
    widget_urls: ClassVar[dict[str, str]] = {}  # key -> Flask endpoint the widget script calls

    # -- declared -----------------------------------------------------------------------------

    def input(self, role: str) -> Input | None:
        """The input this effect takes in `role`, if any."""
        return next((spec for spec in self.inputs if spec.role == role), None)

    @property
    def needs_source(self) -> bool:
        """True when a `source` photo is required (kept for the API's effect list)."""
        spec = self.input("source")
        return bool(spec and spec.required)

    def output_kind(self, kinds: Mapping[str, str]) -> str:
        """The result's kind for these input kinds (role -> photo/video/...)."""
        return kinds.get("media", PHOTO) if self.output == SAME else self.output

    def check_params(self, params: Any) -> dict:
        """Parameters checked against `params_schema`, defaults filled; raises ParamError."""
        return self.check(check_object(params, self.params_schema, self.name))

    def check(self, params: dict) -> dict:
        """Checks the schema cannot say (between parameters); override when needed."""
        return params

    def summary(self, details: dict) -> list[str]:
        """Lines for the job page saying what was done (from the job's details)."""
        return []

    def page_notices(self, config: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(element id, text) warnings the page shows under this effect's options."""
        return []

    def describe(self, locale: str | None = None) -> dict:
        """The effect as GET /effects lists it (and the page builds its form from)."""
        return {
            "name": self.name,
            "label": localized(self.label, locale),
            "description": localized(self.description, locale),
            "inputs": [
                {
                    "role": spec.role,
                    "accepts": list(spec.accepts),
                    "required": spec.required,
                    "label": localized(spec.label, locale),
                    "missing": localized(spec.missing, locale),
                    "instead": spec.instead,
                }
                for spec in self.inputs
            ],
            "output": self.output,
            "params_schema": localized_schema(self.params_schema, locale),
            "needs_faces": self.needs_faces,
            "needs_source": self.needs_source,
            "models": list(self.models),
            "provenance": self.description_line(),
            "notice": localized(self.notice, locale) or None,
        }

    def description_line(self, params: Mapping[str, Any] | None = None) -> str:
        """The provenance sentence written into every result of this effect (a job's `params`
        may add to it, see FaceSwap)."""
        from webapp.studio.provenance import SOFTWARE

        line = self.provenance.format(software=SOFTWARE, effect=self.name)
        notice = localized(self.notice, "en")
        return f"{line} {notice}" if notice else line

    def page_texts(self, locale: str | None = None) -> dict[str, str]:
        """Words the effect's widget script shows, in the page's language (see `texts`)."""
        return {key: localized(value, locale) for key, value in self.texts.items()}

    def check_request(self, params: dict, roles: set[str], config: Mapping[str, Any]) -> None:
        """Checks that need the job's input roles or the server's settings (raise ParamError);
        runs in the web process when a job is submitted."""

    # -- run by the worker --------------------------------------------------------------------

    def find_faces(self, models: Models, rgb: np.ndarray) -> list[dict]:
        """The faces this effect would change, as the page lists them (needs_faces effects)."""
        raise NotImplementedError(f"{self.name} does not pick faces")

    def run(self, ctx: Context) -> Output:
        """Make the result. The default handles photo -> photo and video -> video through
        `apply_image` and `frame_function`; effects with other outputs override this."""
        media = ctx.media
        if media.kind == PHOTO:
            rgb = media.image()
            ctx.progress(0.1, "Applying the effect.", force=True)
            image, details = self.apply_image(ctx, rgb)
            ctx.progress(0.9, "Saving the result.", force=True)
            return ctx.save_photo(image, details, like=media)
        ctx.progress(0.01, "Preparing the effect.", force=True)
        frame_fn, report = self.frame_function(ctx, media.fps or 25.0)
        return ctx.transform_video(media, frame_fn, report)

    def apply_image(self, ctx: Context, rgb: np.ndarray) -> tuple[np.ndarray, dict]:
        """A photo's result and the report for the job's details."""
        raise NotImplementedError

    def frame_function(
        self, ctx: Context, fps: float
    ) -> tuple[Callable[[np.ndarray, int], np.ndarray], Callable[[], dict]]:
        """A per-frame function for a video and a report to call when the video is done."""
        raise NotImplementedError


__all__ = [
    "AUDIO", "GENERATOR_NOTICE", "MEDIA", "PHOTO", "SAME", "TEXT", "VIDEO", "Context", "Effect",
    "Input", "InputMedia", "Models", "Output", "ParamError", "checkbox", "choice", "face_ids",
    "json_list", "localized", "must_be_true", "params", "required_with", "slider", "text",
]  # fmt: skip


def listed_faces(faces) -> list[dict]:
    """Faces as the API lists them: id, box [x, y, w, h] and score.

    A face without its own `id` is identified by its position in the list (largest first).
    """
    listed = []
    for position, face in enumerate(faces):
        x, y, w, h = (int(v) for v in face.box)
        face_id = getattr(face, "id", position)
        score = getattr(face, "score", getattr(face, "confidence", 1.0))
        listed.append({"id": int(face_id), "box": [x, y, w, h], "score": round(float(score), 4)})
    return listed
