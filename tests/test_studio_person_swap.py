"""Face swap onto a generated person, end to end: the job is asked for through the API with a
candidate the API listed, and run as a studio worker runs it (the worker's registry, in this
process) on a real 5-celebrity photo and on a video. The result's face is the generated person's
by FaceNet, and the result says who was put in, with the generator's licence notice."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.people_helpers import cells
from tests.studio_helpers import encode, photo, scene_frames, studio_client, write_video

pytestmark = pytest.mark.slow  # the worker's models and the generator load here
API = "/api/v1/studio"


@pytest.fixture(scope="module")
def studio(tmp_path_factory, migrated_db, people_bank):
    """An app with a studio worker's registry (models load on first use) and a studio user."""
    from tests.conftest import _app_from
    from webapp.studio.registry import StudioRegistry

    instance = tmp_path_factory.mktemp("person-swap") / "instance"
    app = _app_from(instance, migrated_db, FACEBANK_DIR=str(people_bank))
    registry = StudioRegistry()
    registry.init_app(app)
    with app.app_context():
        registry.load()
    return {"app": app, "client": studio_client(app), "registry": registry}


def run(studio, media: bytes, name: str, params: dict) -> dict:
    """Submit a face_swap job through the API and run it like a worker; its final status."""
    from webapp.studio import tasks

    client = studio["client"]
    response = client.post(
        f"{API}/jobs",
        data={
            "media": (io.BytesIO(media), name),
            "effect": "face_swap",
            "params": json.dumps(params),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    url = response.get_json()["status_url"]
    with studio["app"].app_context():
        tasks.run_job(response.get_json()["job_id"])
    return client.get(url).get_json()


def embedding(analyzer, rgb: np.ndarray) -> np.ndarray:
    """FaceNet embedding of the image's largest face."""
    faces = analyzer.analyze(rgb)
    assert faces, "no face found"
    return faces[0].embedding


def test_a_photo_gets_the_chosen_generated_person(studio, people_bank):
    from ml.generator.people import find_person

    client = studio["client"]
    # A man onto a man, as a user would pick (the test bank's largest band of men).
    (gender, band), _ = max(cells(people_bank).items(),
                            key=lambda item: (item[0][0] == "male", len(item[1])))  # fmt: skip
    listed = client.get(
        f"{API}/people/candidates", query_string={"gender": gender, "age_band": band, "count": 1}
    ).get_json()["candidates"]
    chosen = listed[0]
    original = photo("ben_afflek", 0)
    status = run(studio, encode(original), "ben.jpg", {"person": chosen["id"]})
    assert status["status"] == "done", status
    details = status["details"]
    assert details["source"] == "generated_person" and details["swapped_ids"] == [0]
    assert details["person"]["id"] == chosen["id"]
    assert details["person"]["seed"] == chosen["seed"] and details["person"]["kind"] == "generated"
    # The result says a generated person went in, which, and the generator's licence.
    image = Image.open(io.BytesIO(client.get(status["result"]["url"]).data))
    xmp = image.info["xmp"].decode()
    assert f"generated person, no real person (face bank / generator id {chosen['id']})" in xmp
    assert "non-commercial" in xmp
    page = client.get(f"/studio/jobs/{status['job_id']}").get_data(as_text=True)
    assert f"{chosen['id']}, seed {chosen['seed']}" in page and "non-commercial" in page
    # FaceNet: the result's face is nearer the generated person than the original person.
    with studio["app"].app_context():
        analyzer = studio["registry"].model("faces")
        people = studio["registry"].model("swap_people")
        person_face = people.face(find_person(people.bank, chosen["id"]))
    result = np.asarray(image.convert("RGB"))
    # Original | generated person | result, for a person to look at.
    strip = [Image.fromarray(x).resize((320, round(320 * x.shape[0] / x.shape[1])))
             for x in (original, person_face, result)]  # fmt: skip
    sheet = Image.new("RGB", (960, max(s.height for s in strip)), "white")
    for i, part in enumerate(strip):
        sheet.paste(part, (320 * i, 0))
    sheet.save(Path(tempfile.gettempdir()) / "face-platform-person-swap.png")
    to_person = float(embedding(analyzer, result) @ embedding(analyzer, person_face))
    to_original = float(embedding(analyzer, result) @ embedding(analyzer, original))
    print(f"FaceNet cosine of the result to the person {to_person:.3f}, "
          f"to the original {to_original:.3f}")  # fmt: skip
    assert to_person > to_original


def test_a_video_gets_a_generated_person_by_seed(studio, tmp_path):
    clip = write_video(tmp_path / "clip.mp4", scene_frames(6)).read_bytes()
    status = run(studio, clip, "clip.mp4", {"person": "seed:42", "targets": [1]})
    assert status["status"] == "done", status
    details = status["details"]
    assert details["person"] == {"id": "seed:42", "kind": "generated", "seed": 42}
    assert details["frames"] == 6 and details["frames_with_a_swap"] >= 4
    assert status["result"]["media_type"] == "video/mp4"
