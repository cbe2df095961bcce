"""Face swap onto a generated person, the web side: the candidates API (filters, stable ids,
batches, thumbnails with caching, a worker asked for more when a band is short), and the job
request's cross-check between a source photo and a generated person."""

from __future__ import annotations

import io
import json
import shutil

import pytest

from tests.people_helpers import cells
from tests.studio_helpers import encode, photo, studio_client, two_people

API = "/api/v1/studio"


@pytest.fixture
def pix(app, people_bank):
    """A studio user's client on an app whose face bank is the test bank of generated people."""
    app.config["FACEBANK_DIR"] = str(people_bank)
    return studio_client(app)


def candidates(client, gender, band, **query):
    return client.get(
        f"{API}/people/candidates", query_string={"gender": gender, "age_band": band, **query}
    )


def test_candidates_match_the_asked_gender_and_band_with_stable_ids(pix, people_bank):
    by_cell = cells(people_bank)
    assert len(by_cell) >= 2  # the test bank spans several cells
    for (gender, band), donors in by_cell.items():
        response = candidates(pix, gender, band, count=len(donors))
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["status"] == "ready"
        listed = body["candidates"]
        assert [c["id"] for c in listed] == [d.id for d in donors]  # bank order, stable ids
        assert all(c["gender"] == gender and c["age_band"] == band for c in listed)
        assert all(c["kind"] == "generated" and isinstance(c["seed"], int) for c in listed)
        # The same question gives the same people.
        again = candidates(pix, gender, band, count=len(donors)).get_json()["candidates"]
        assert [c["id"] for c in again] == [c["id"] for c in listed]


def test_batches_page_through_a_band_and_a_short_one_asks_a_worker(pix, people_bank, app):
    from webapp.studio import queue
    from webapp.studio.facebank import filling_lock

    (gender, band), donors = max(cells(people_bank).items(), key=lambda item: len(item[1]))
    assert len(donors) >= 2
    first = candidates(pix, gender, band, count=1).get_json()
    second = pix.get(first["next_url"]).get_json()
    assert first["candidates"][0]["id"] == donors[0].id
    assert second["batch"] == 1 and second["candidates"][0]["id"] == donors[1].id
    # Past the band's people: what there is, 202, and a worker task to make more of the band.
    with app.app_context():
        waiting = queue.pending_count()
    short = candidates(pix, gender, band, count=len(donors) + 1)
    assert short.status_code == 202 and short.headers["Retry-After"] == "2"
    body = short.get_json()
    assert len(body["candidates"]) == len(donors)
    assert body["status"] == "generating" and "making more people" in body["message"]
    with app.app_context():
        assert queue.pending_count() == waiting + 1
    # While a worker fills the default bank, the answer says so.
    with filling_lock(people_bank):
        body = candidates(pix, gender, band, count=len(donors) + 1).get_json()
    assert body["status"] == "filling" and "still being filled" in body["message"]
    with app.app_context():  # the page asks every 2 s: the same request is queued once
        assert queue.pending_count() == waiting + 1


def test_thumbnails_are_small_jpegs_cached_by_the_browser(pix, people_bank):
    from PIL import Image

    listed = candidates(pix, *next(iter(cells(people_bank)))).get_json()["candidates"]
    url = listed[0]["thumbnail_url"]
    response = pix.get(url)
    assert response.status_code == 200 and response.content_type == "image/jpeg"
    assert Image.open(io.BytesIO(response.data)).size == (160, 160)
    assert "immutable" in response.headers["Cache-Control"]
    assert "private" in response.headers["Cache-Control"]
    etag = response.headers["ETag"]
    assert pix.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert pix.get(f"{API}/people/g000000000000000/thumbnail").status_code == 404
    assert pix.get(f"{API}/people/seed:5/thumbnail").status_code == 404


def test_bad_questions_get_clear_errors(pix, client):
    for query, code in (
        ({"gender": "other", "age_band": "young"}, "bad_gender"),
        ({"age_band": "young"}, "bad_gender"),
        ({"gender": "male", "age_band": "old"}, "bad_age_band"),
        ({"gender": "male", "age_band": "adult", "count": "0"}, "bad_count"),
        ({"gender": "male", "age_band": "adult", "count": "99"}, "bad_count"),
        ({"gender": "male", "age_band": "adult", "batch": "-1"}, "bad_batch"),
        ({"gender": "male", "age_band": "adult", "batch": "x"}, "bad_batch"),
    ):
        response = pix.get(f"{API}/people/candidates", query_string=query)
        assert response.status_code == 400, query
        assert response.get_json()["error"] == code, (query, response.get_json())
    anonymous = client.application.test_client()
    assert anonymous.get(f"{API}/people/candidates").status_code == 401


def test_consented_donors_are_offered_only_when_the_operator_allows(app, pix, people_bank,
                                                                   tmp_path):  # fmt: skip
    from dataclasses import replace

    from ml.face_bank import KIND_CONSENTED, FaceBank

    # A copy of the bank where one person is marked as a real, consented donor.
    folder = tmp_path / "bank"
    shutil.copytree(people_bank, folder)
    bank = FaceBank(folder)
    real = bank.donors[0]
    bank._donors[0] = replace(real, kind=KIND_CONSENTED, id="0123456789abcdef", person="ann")
    shutil.copy(folder / "donors" / f"{real.id}.png", folder / "donors" / "0123456789abcdef.png")
    with bank._lock:
        bank._save()
    app.config["FACEBANK_DIR"] = str(folder)
    listed = candidates(pix, real.gender, real.band, count=12).get_json()["candidates"]
    assert "0123456789abcdef" not in {c["id"] for c in listed}
    assert pix.get(f"{API}/people/0123456789abcdef/thumbnail").status_code == 404
    refused = post_job(pix, {"person": "0123456789abcdef", "targets": [0]})
    assert refused.status_code == 400 and refused.get_json()["error"] == "unknown_person"
    app.config["STUDIO_SWAP_CONSENTED_DONORS"] = True
    listed = candidates(pix, real.gender, real.band, count=12).get_json()["candidates"]
    assert {"id": "0123456789abcdef", "kind": "consented"}.items() <= listed[0].items()
    assert pix.get(f"{API}/people/0123456789abcdef/thumbnail").status_code == 200


def post_job(client, params, source: bool = False, effect: str = "face_swap"):
    data = {"media": (io.BytesIO(encode(two_people())), "scene.jpg"), "effect": effect,
            "params": json.dumps(params)}  # fmt: skip
    if source:
        data["source"] = (io.BytesIO(encode(photo("jerry_seinfeld"))), "source.jpg")
    return client.post(f"{API}/jobs", data=data, content_type="multipart/form-data")


def test_a_job_takes_a_source_photo_or_a_generated_person_not_both(app, pix, people_bank):
    person = next(iter(cells(people_bank).values()))[0].id
    for params, source, status, code in (
        ({"person": person, "consent": True}, True, 400, "source_and_person"),
        ({"consent": True}, False, 400, "missing_source"),
        ({"person": person}, True, 400, "source_and_person"),
        ({}, True, 400, "consent_required"),  # a real person's photo needs their consent
        ({"person": "g000000000000000"}, False, 400, "unknown_person"),
        ({"person": "seed:9999999999"}, False, 400, "unknown_person"),  # over 2**32
        ({"person": "Robert'); DROP TABLE"}, False, 400, "bad_params"),
        ({"person": 7}, False, 400, "bad_params"),
    ):
        response = post_job(pix, params, source)
        body = response.get_json()
        assert response.status_code == status, (params, body)
        assert body["error"] == code, (params, body)
    both = post_job(pix, {"person": person, "consent": True}, True).get_json()
    assert "not both" in both["message"]
    neither = post_job(pix, {}).get_json()
    assert "source" in neither["message"] and "params.person" in neither["message"]
    # A refused request keeps none of the files it sent.
    assert pix.get(f"{API}/jobs").get_json()["jobs"] == []
    # A generated person needs no consent; a seed names a person even outside the bank.
    for params in ({"person": person}, {"person": person, "consent": False},
                   {"person": "seed:123", "targets": [1]}):  # fmt: skip
        response = post_job(pix, params)
        assert response.status_code == 202, (params, response.get_json())
    job = pix.get(response.get_json()["status_url"]).get_json()
    assert job["params"]["person"] == "seed:123"


def test_a_bank_person_while_the_bank_is_empty_is_a_409_saying_what_to_do(app, pix, tmp_path):
    app.config["FACEBANK_DIR"] = str(tmp_path / "empty-bank")
    response = post_job(pix, {"person": "g0123456789abcde"})
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "face_bank_empty" and "seed:N" in body["message"]
    listed = candidates(pix, "female", "young")
    assert listed.status_code == 202 and listed.get_json()["candidates"] == []
    assert listed.get_json()["bank"]["generated"] == 0


def test_the_effect_list_and_openapi_describe_the_alternative(pix):
    effects = {e["name"]: e for e in pix.get(f"{API}/effects").get_json()["effects"]}
    swap = effects["face_swap"]
    source = next(i for i in swap["inputs"] if i["role"] == "source")
    assert source["instead"] == "person"
    props = swap["params_schema"]["properties"]
    assert props["consent"]["x-required-with"] == "source" and "const" not in props["consent"]
    assert props["person"]["x-widget"] == "generated_person"
    doc = pix.get(f"{API}/openapi.json").get_json()
    assert "/people/candidates" in doc["paths"] and "/people/{person_id}/thumbnail" in doc["paths"]
    assert "params.person instead" in doc["paths"]["/jobs"]["post"]["requestBody"]["content"][
        "multipart/form-data"]["schema"]["properties"]["source"]["description"]  # fmt: skip


def studio_config(client, lang: str) -> dict:
    import re
    from html import unescape

    page = client.get(f"/studio/?lang={lang}").get_data(as_text=True)
    block = re.search(r'<script type="application/json" id="studio-config">(.*?)</script>', page,
                      re.S).group(1)  # fmt: skip
    return page, json.loads(unescape(block))


def test_the_studio_page_has_the_people_picker_in_both_languages(pix):
    page, config = studio_config(pix, "en")
    assert "js/person_picker.js" in page
    assert 'data-required-with="source"' in page and 'data-instead="person"' in page
    swap = next(e for e in config["contract"] if e["name"] == "face_swap")
    assert swap["texts"]["from_person"] == "A generated person (no real person)"
    assert swap["urls"]["candidates"] == f"{API}/people/candidates"
    assert "non-commercial" in swap["notice"]
    _, korean = studio_config(pix, "ko")
    swap = next(e for e in korean["contract"] if e["name"] == "face_swap")
    assert swap["texts"]["from_person"] == "생성된 사람 (실존하지 않는 사람)"
    assert swap["texts"]["others"] == "다른 사람 보기"


def test_candidate_lists_are_throttled(app, pix):
    app.config["STUDIO_PEOPLE_LIMIT"] = "3 per 7 minutes"
    answers = [candidates(pix, "male", "adult").status_code for _ in range(4)]
    assert 429 not in answers[:3] and answers[3] == 429
    refused = candidates(pix, "male", "adult")
    assert refused.get_json()["error"] == "too_many_requests" and refused.headers["Retry-After"]
