"""The effect contract: every registered effect is described by its own module, and the API, the
OpenAPI document, the page's form and the parameter checks all come from that description."""

from __future__ import annotations

import io
import json
import re

import pytest

from tests.conftest import _app_from
from tests.studio_helpers import encode, studio_client, two_people

API = "/api/v1/studio"


@pytest.fixture
def studio_app(tmp_path, migrated_db):
    return _app_from(tmp_path / "instance", migrated_db, MAX_IMAGE_PIXELS=2_000_000)


@pytest.fixture
def pix(studio_app):
    return studio_client(studio_app)


def test_every_effect_module_declares_a_complete_contract():
    from webapp.studio.effects import all_effects
    from webapp.studio.effects.base import ROLES, Effect
    from webapp.studio.effects.registry import MODEL_LOADERS
    from webapp.studio.effects.schema import unsupported_keys

    effects = all_effects()
    assert {"face_swap", "anonymize"} <= set(effects)
    for name, effect in effects.items():
        assert isinstance(effect, Effect) and effect.name == name
        assert re.fullmatch(r"[a-z][a-z0-9_]{1,39}", name)
        schema = effect.params_schema
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert unsupported_keys(schema) == set(), name
        assert effect.input("media") is not None, name
        assert all(spec.role in ROLES for spec in effect.inputs)
        assert effect.output in ("photo", "video", "same")
        for model in effect.models:
            assert model in MODEL_LOADERS, (name, model)
        # The defaults alone are valid parameters unless something is required.
        if not schema.get("required"):
            assert set(effect.check_params({})) == set(schema["properties"])
        described = effect.describe("ko")
        assert described["label"] and described["provenance"].startswith("Synthetic media")
        json.dumps(described)  # plain JSON, every text resolved


def test_openapi_lists_every_registered_effect_with_its_schema(studio_app):
    from webapp.studio.effects import all_effects

    doc = studio_app.test_client().get(f"{API}/openapi.json").get_json()
    form = doc["paths"]["/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]
    fields = form["schema"]["properties"]
    schemas = doc["components"]["schemas"]
    assert fields["effect"]["enum"] == list(all_effects())
    assert schemas["Effect"]["properties"]["name"]["enum"] == list(all_effects())
    for name, effect in all_effects().items():
        published = schemas[f"{name}Params"]
        assert set(published["properties"]) == set(effect.params_schema["properties"])
        for param, spec in effect.params_schema["properties"].items():
            assert published["properties"][param]["type"] == spec["type"]
            assert f"`{param}`" in fields["params"]["description"]
        for spec in effect.inputs:
            if spec.role != "media":
                assert spec.role in fields, (name, spec.role)


def test_the_effect_list_carries_the_schemas_for_a_client_form(pix):
    from webapp.studio.effects import all_effects

    listed = pix.get(f"{API}/effects").get_json()["effects"]
    assert [e["name"] for e in listed] == list(all_effects())
    swap = next(e for e in listed if e["name"] == "face_swap")
    assert swap["needs_source"] and swap["needs_faces"]
    assert swap["params_schema"]["properties"]["consent"]["const"] is True
    roles = {i["role"]: i for i in swap["inputs"]}
    assert roles["source"]["accepts"] == ["photo"] and roles["source"]["required"]
    anonymize = next(e for e in listed if e["name"] == "anonymize")
    mode = anonymize["params_schema"]["properties"]["mode"]
    assert mode["enum"] == ["synthetic", "k-same", "blur", "pixelate"]
    assert mode["default"] == "synthetic"
    assert mode["x-labels"]["blur"] == "Blur"
    korean = pix.get(f"{API}/effects?lang=ko").get_json()["effects"]
    mode_ko = next(e for e in korean if e["name"] == "anonymize")["params_schema"]
    assert mode_ko["properties"]["mode"]["x-title"] != "Other faces"  # translated


def test_the_page_form_is_generated_from_the_contract(pix):
    from webapp.studio.effects import all_effects

    page = pix.get("/studio/").get_data(as_text=True)
    for name, effect in all_effects().items():
        assert f'name="effect" value="{name}"' in page
        assert f'id="studio-{name}-options"' in page
        for param, spec in effect.params_schema["properties"].items():
            if "x-faces" not in spec:
                # An `x-preview` flag is a button that sends the form with it on.
                field = "data-preview" if spec.get("x-preview") else "data-param"
                assert f'{field}="{param}"' in page, (name, param)
        for spec in effect.inputs:
            if spec.role != "media":
                assert f'data-role="{spec.role}"' in page
    assert 'type="range"' in page or not any(
        s.get("type") in ("integer", "number")
        for e in all_effects().values()
        for s in e.params_schema["properties"].values()
    )


def test_parameters_are_checked_once_with_the_schemas_messages(pix):
    scene = encode(two_people())

    def post(effect, params):
        data = {
            "media": (io.BytesIO(scene), "s.jpg"),
            "effect": effect,
            "params": json.dumps(params),
        }
        return pix.post(f"{API}/jobs", data=data, content_type="multipart/form-data").get_json()

    assert post("anonymize", {"mode": "erase"})["message"] == (
        "params.mode must be one of synthetic, k-same, blur, pixelate."
    )
    assert post("anonymize", {"keep": [1, "x"]})["message"] == (
        "params.keep must be a list of face ids (integers, 0 or more)."
    )
    refused = post("anonymize", {"colour": 1})
    assert refused["error"] == "unknown_param" and "fallback, keep, mode" in refused["message"]


def test_the_contract_takes_what_the_coming_effects_need():
    """Roles beyond media/source, photo in -> video out, a free-form JSON list with a widget, a
    licence notice: a (not registered) effect declares them and they check and describe."""
    from webapp.studio.effects.base import (
        MEDIA,
        PHOTO,
        VIDEO,
        Effect,
        Input,
        json_list,
        params,
        slider,
        text,
    )
    from webapp.studio.effects.schema import ParamError, unsupported_keys

    class Animate(Effect):
        name = "animate_test"
        label = text("Animate", "움직이기")
        inputs = (
            Input("media", (PHOTO,), text("Photo", "사진")),
            Input("driving", (VIDEO,), text("Driving video", "따라 할 동영상")),
            Input("text", ("text",), text("Caption", "자막"), required=False),
        )
        output = VIDEO
        params_schema = params(
            {
                "hints": json_list(
                    text("Colour hints", "색 힌트"), "[[x, y, '#rrggbb'], ...]", widget="strokes"
                ),
                "motion": slider(text("Motion", "움직임"), 0, 2, 0.1, 1.0),
            }
        )
        notice = text("Generator: FFHQ, non-commercial use only.", "생성기: FFHQ, 비상업적 용도만.")

    effect = Animate()
    assert effect.output_kind({"media": PHOTO, "driving": VIDEO}) == VIDEO
    assert MEDIA.accepts == (PHOTO, VIDEO) and not effect.needs_source
    assert unsupported_keys(effect.params_schema) == set()
    strokes = [[10, 20, "#ff0000"], [30, 40, "#00ff00"]]
    assert effect.check_params({"hints": strokes}) == {"hints": strokes, "motion": 1.0}
    for bad, message in (
        ({"hints": "red"}, "params.hints must be a list."),
        ({"hints": [[0, 0, "#fff"]] * 1001}, "params.hints must be a list of 0 to 1000 items."),
        ({"motion": 3}, "params.motion must be between 0 and 2."),
    ):
        with pytest.raises(ParamError) as refused:
            effect.check_params(bad)
        assert str(refused.value) == message
    described = effect.describe("ko")
    assert described["output"] == "video" and described["notice"].startswith("생성기")
    assert "non-commercial" in described["provenance"]
    hints = described["params_schema"]["properties"]["hints"]
    assert hints["x-widget"] == "strokes" and hints["x-title"] == "색 힌트"
    assert [i["role"] for i in described["inputs"]] == ["media", "driving", "text"]
    with pytest.raises(ValueError):
        Input("soundtrack", ("audio",))
