"""Face swap: put a face onto the chosen faces of a photo or video: the face of a source photo
(its person's consent confirmed), or of a generated person picked from candidates of a gender and
age (GET /api/v1/studio/people/candidates; no real person, so no consent is asked)."""

from __future__ import annotations

import logging
from typing import ClassVar

from flask_babel import lazy_gettext as _l

from ml.generator.people import PERSON_PATTERN
from webapp.studio.effects.base import (
    GENERATOR_NOTICE,
    MEDIA,
    Effect,
    Input,
    face_ids,
    listed_faces,
    localized,
    params,
    required_with,
    text,
)
from webapp.studio.effects.registry import model_loader

log = logging.getLogger(__name__)


@model_loader("face_swap")
def load_swapper(registry):
    """The classical swapper (or an operator's ONNX swap model) on the shared detector and mesh."""
    from ml.face_swap import FaceSwapper, OnnxSwapModel

    faces = registry.model("faces")
    model = OnnxSwapModel.from_model_dir(registry.model_dir)
    return FaceSwapper(faces.detectors["photo"], registry.model("face_mesh"), model)


@model_loader("swap_people")
def load_people(registry):
    """Generated people's faces: the face bank, and the generator to render them (on first use)."""
    from flask import current_app

    from ml.face_bank import FaceBank
    from ml.generator import GeneratorError, load_generator
    from ml.generator.people import PersonFaces

    config = current_app.config

    def generator():
        try:
            return load_generator(
                registry.model_dir, registry.device_preference, cache_dir=registry.facebank_dir
            )
        except GeneratorError:
            log.warning("no face generator: generated people are swapped from their bank crops")
            return None

    return PersonFaces(
        FaceBank(registry.facebank_dir),
        generator,
        psi=config.get("GENERATOR_PSI", 0.7),
        allow_consented=bool(config.get("STUDIO_SWAP_CONSENTED_DONORS", False)),
    )


class FaceSwap(Effect):
    """Put a source photo's face, or a generated person's, onto the chosen faces."""

    name = "face_swap"
    label = _l("Face swap")
    description = _l(
        "Put the face from a source photo, or a generated person's, onto the people you pick."
    )
    inputs = (
        MEDIA,
        Input(
            "source",
            ("photo",),
            _l("Source face (a photo)"),
            missing=_l("Choose the source photo, or a generated person."),
            instead="person",
        ),
    )
    params_schema = params(
        {
            "consent": required_with(
                _l("I confirm that the person whose face is in the source photo has consented "
                   "to this use of their face."),
                _l("Confirm the consent of the person in the source photo."),
                "consent_required",
                "source",
            ),
            "targets": face_ids(
                text("Faces to swap (default every face)", "바꿀 얼굴 (기본값: 모든 얼굴)"),
                chosen=_l("swap"),
                other=_l("leave"),
                hint=_l("Blue faces get the new face (from the source photo or the chosen person); "
                        "click a face to switch it."),
                preset="all",
            ),
            "person": {
                "type": "string",
                "maxLength": 40,
                "pattern": PERSON_PATTERN,
                "x-widget": "generated_person",
                "title": "Generated person",
                "x-title": _l("Generated person"),
                "x-description": _l(
                    "Instead of a source photo: a generated person (no real person), by the id "
                    "of a candidate from GET /people/candidates, or seed:N for any generator "
                    "seed. No consent is needed."
                ),
            },
        }
    )  # fmt: skip
    needs_faces = True
    models = ("faces", "face_mesh", "face_swap", "swap_people")
    provenance = "Synthetic media: a face was swapped in by {software} (face_swap)."
    notice = GENERATOR_NOTICE  # shown with the generated people; written into their results
    widget_script = "js/person_picker.js"
    widget_urls: ClassVar[dict[str, str]] = {"candidates": "studio_api.people_candidates"}
    texts: ClassVar[dict] = {
        "from_photo": _l("A source photo"),
        "from_person": _l("A generated person (no real person)"),
        "whose_face": _l("Whose face goes in"),
        "gender": _l("Gender"),
        "female": _l("Female"),
        "male": _l("Male"),
        "age": _l("Age"),
        "child": _l("Child (under 13)"),
        "teen": _l("Teenager (13–19)"),
        "young": _l("Young adult (20–34)"),
        "adult": _l("Adult (35–54)"),
        "senior": _l("Senior (55 and over)"),
        "others": _l("Show others"),
        "loading": _l("Finding people…"),
        "making": _l("Making more people of this gender and age…"),
        "no_worker": _l(
            "Still waiting: a studio worker makes the people; if none is running, start one "
            'with "flask studio worker".'
        ),
        "choose": _l("Choose a generated person."),
        "chosen": _l("Chosen"),
        "person": _l("Generated person %(id)s"),
        "no_consent": _l("A generated person is no real person: no consent is needed."),
        "failed": _l("The people could not be listed:"),
    }

    def check_request(self, params, roles, config):
        """A generated person must be one the bank (or the generator's seeds) has."""
        if params.get("person"):
            from webapp.studio.people import check_person

            check_person(config, params["person"])

    def description_line(self, params=None):
        """The provenance sentence; a swap onto a generated person names it, with the notice."""
        from webapp.studio.provenance import SOFTWARE

        line = self.provenance.format(software=SOFTWARE, effect=self.name)
        person = (params or {}).get("person")
        if not person:
            return line
        if not person.startswith(("g", "seed:")):  # an operator's consented (real) donor
            return f"{line} The face swapped in is a consented donor of the face bank ({person})."
        return (
            f"{line} The face swapped in is a generated person, no real person "
            f"(face bank / generator id {person}). {localized(self.notice, 'en')}"
        )

    def find_faces(self, models, rgb):
        """The target faces this effect sees, with the ids `targets` refers to."""
        with models.use(self.name) as swapper:
            return listed_faces(swapper.detect(rgb))

    def source_face(self, ctx) -> tuple:
        """The face to put in (RGB) and what the job's details say about it."""
        person_id = ctx.params.get("person")
        if not person_id:
            return ctx.inputs["source"].image(), {"source": "photo"}
        from ml.generator.people import UnknownPerson
        from webapp.errors import AppError

        with ctx.models.use("swap_people") as people:
            try:
                person = people.find(person_id)
            except UnknownPerson as exc:  # removed from the bank since the job was queued
                raise AppError(f"params.person: {exc}", "unknown_person") from exc
            face = people.face(person)
        return face, {"source": "generated_person", "person": person.describe()}

    def apply_image(self, ctx, rgb):
        """Swap the source face into a photo."""
        source, about = self.source_face(ctx)
        with ctx.models.use(self.name) as swapper:
            result = swapper.swap_image(source, rgb, target_ids=ctx.params["targets"])
        return result.image, {"swapped_ids": list(result.swapped_ids), **about}

    def frame_function(self, ctx, fps):
        """Swap frame by frame, following each face with the tracker."""
        from ml.face_swap import VideoSwapper

        source, about = self.source_face(ctx)
        with ctx.models.use(self.name) as swapper:
            video = VideoSwapper(swapper, source, ctx.params["targets"], fps=fps)

        def report() -> dict:
            frames = video.swapped_per_frame
            return {
                "frames": len(frames),
                "frames_with_a_swap": sum(1 for swapped in frames if swapped),
                "swapped_tracks": sorted({track for swapped in frames for track in swapped}),
                **about,
            }

        return ctx.models.locked(self.name, video), report

    def summary(self, details):
        """How many faces were swapped, and onto whom when it was a generated person."""
        from flask_babel import gettext as _

        lines = []
        if "swapped_ids" in details:
            lines.append(_("Faces swapped: %(n)d.", n=len(details["swapped_ids"])))
        elif "swapped_tracks" in details:
            lines.append(_("Faces swapped: %(n)d.", n=len(details["swapped_tracks"])))
        person = details.get("person")
        if person and person.get("kind") == "generated":
            seed = "—" if person.get("seed") is None else person["seed"]
            lines.append(_("The face put in is a generated person (no real person): %(id)s, "
                           "seed %(seed)s.", id=person["id"], seed=seed))  # fmt: skip
            lines.append(localized(self.notice))
        elif person:
            lines.append(
                _("The face put in is a consented donor of the face bank: %(id)s.", id=person["id"])
            )
        return lines
