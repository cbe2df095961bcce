"""`flask employees reembed`: templates of another embedding pipeline are re-made from the stored
enrollment photos, and the classifier is retrained on them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from ml.images import decode_image


def test_reembed_remakes_stale_templates_with_the_loaded_pipeline(app, loaded_models, dataset):
    from ml.population import population_mean
    from ml.recognition import TWO_VIEWS, FaceAnalyzer
    from webapp.employees.models import FaceTemplate
    from webapp.employees.services import Upload, create_employee, enroll_photos
    from webapp.extensions import db
    from webapp.recognition.models import ClassifierVersion
    from webapp.recognition.services import recognize

    box = loaded_models.get("faces")
    photos = sorted((dataset / "train" / "madonna").iterdir())[:3]
    with app.app_context():
        employee = create_employee("madonna")
        enroll_photos(employee, [Upload(p.name, p.read_bytes()) for p in photos])
        before = db.session.scalar(select(func.count(FaceTemplate.id)))
    two = FaceAnalyzer(box.detectors["photo"], box.detectors["kiosk"], box.embedder, TWO_VIEWS)
    loaded_models._models["faces"] = two  # as a worker started with RECOGNITION_VIEWS would be
    try:
        with app.app_context():
            # Until re-embedded, the new pipeline has no templates to train on: nobody is named.
            probe = decode_image(next((dataset / "val" / "madonna").iterdir()).read_bytes())
            result = app.test_cli_runner().invoke(args=["employees", "reembed"])
            assert result.exit_code == 0, result.output
            assert "re-embedded 3 photo(s)" in result.output
            versions = set(db.session.scalars(select(FaceTemplate.model_version)))
            assert versions == {two.version} and two.version != box.version
            assert db.session.scalar(select(func.count(FaceTemplate.id))) == before
            latest = db.session.scalars(
                select(ClassifierVersion).order_by(ClassifierVersion.id.desc())
            ).first()
            assert latest.model_version == two.version
            assert latest.stats["centred"] == (population_mean(two.version) is not None)
            faces, _ = recognize(probe, "photo")
            assert faces[0].name == "madonna"
            again = app.test_cli_runner().invoke(args=["employees", "reembed"])
            assert "re-embedded 0 photo(s)" in again.output
    finally:
        loaded_models._models["faces"] = box


def test_an_operators_recognition_model_takes_over_after_reembed(app, loaded_models, dataset):
    """RECOGNITION_MODEL's path: the templates are re-made by the operator's ONNX model (a tiny
    one built here), the classifier is trained on them, and recognition runs through it."""
    from ml.onnx_embedder import OnnxFaceEmbedder
    from ml.recognition import FaceAnalyzer
    from tests.ml.test_onnx_embedder import DIMENSION, tiny_model
    from webapp.employees.models import FaceTemplate
    from webapp.employees.services import Upload, create_employee, enroll_photos
    from webapp.extensions import db
    from webapp.recognition.models import ClassifierVersion
    from webapp.recognition.services import recognize

    box = loaded_models.get("faces")
    with app.app_context():
        for person in ("madonna", "elton_john"):
            photos = sorted((dataset / "train" / person).iterdir())[:3]
            employee = create_employee(person)
            enroll_photos(employee, [Upload(p.name, p.read_bytes()) for p in photos])
    model = tiny_model(Path(app.instance_path) / "operator.onnx")
    operator = FaceAnalyzer(
        box.detectors["photo"], box.detectors["kiosk"], OnnxFaceEmbedder(model), "box"
    )
    loaded_models._models["faces"] = operator
    try:
        with app.app_context():
            result = app.test_cli_runner().invoke(args=["employees", "reembed"])
            assert result.exit_code == 0, result.output
            assert "re-embedded 6 photo(s)" in result.output
            rows = db.session.scalars(select(FaceTemplate)).all()
            assert {row.model_version for row in rows} == {operator.version}
            assert {row.vector.shape for row in rows} == {(DIMENSION,)}
            latest = db.session.scalars(
                select(ClassifierVersion).order_by(ClassifierVersion.id.desc())
            ).first()
            assert latest.model_version == operator.version
            probe = decode_image(next((dataset / "val" / "madonna").iterdir()).read_bytes())
            faces, _ = recognize(probe, "photo")
            assert len(faces) == 1 and -1.0 <= faces[0].similarity <= 1.0
    finally:
        loaded_models._models["faces"] = box


def test_the_registry_loads_the_model_the_settings_name(tmp_path):
    from flask import Flask

    from tests.ml.test_onnx_embedder import tiny_model
    from tests.support import MODEL_DIR
    from webapp.registry import ModelRegistry

    app = Flask("operator")
    model = tiny_model(tmp_path / "operator.onnx")
    app.config.update(MODEL_DIR=str(MODEL_DIR), DEVICE="auto", RECOGNITION_MODEL=str(model))
    registry = ModelRegistry()
    registry.init_app(app)
    registry.load()
    assert registry.get("faces").version.startswith("onnx-operator@")
    assert registry.device["recognition"] == "onnxruntime-f32"
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x00" * 64)
    app.config["RECOGNITION_MODEL"] = str(broken)
    failing = ModelRegistry()
    failing.init_app(app)
    with pytest.raises(ValueError, match=r"broken\.onnx"):
        failing.load()
    assert "broken.onnx" in failing.error  # what /healthz reports
