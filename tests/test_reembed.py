"""`flask employees reembed`: templates of another embedding pipeline are re-made from the stored
enrollment photos, and the classifier is retrained on them."""

from __future__ import annotations

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
