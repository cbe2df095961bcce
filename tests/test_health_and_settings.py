"""Readiness route and start-up configuration checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from webapp.registry import ModelRegistry
from webapp.settings import ConfigError, load_settings, normalize_database_url


def test_healthz_is_503_until_the_models_are_loaded(app, client):
    app.extensions["model_registry"] = ModelRegistry()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "loading"
    assert response.headers["Retry-After"] == "5"


def test_healthz_reports_a_failed_load(app, client, tmp_path):
    registry = ModelRegistry()
    registry.model_dir = tmp_path  # no model files here
    with pytest.raises(FileNotFoundError):
        registry.load()
    app.extensions["model_registry"] = registry
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "error"
    assert "facenet_keras.h5" in response.json["error"]


def test_healthz_is_200_with_versions_once_loaded(client, loaded_models):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "ok"
    assert body["models"]["faces"].startswith("facenet-keras-inception-resnet-v1@")
    assert body["device"]["tensorflow"] in {"cpu", "cuda"}


def test_models_load_once_per_process(loaded_models):
    faces = loaded_models.get("faces")
    loaded_models.load()  # a second call is a no-op
    assert loaded_models.get("faces") is faces


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("DEVICE", "tpu", "DEVICE"),
        ("SITE_TIMEZONE", "Mars/Olympus", "SITE_TIMEZONE"),
        ("RECOGNITION_THRESHOLD", "1.5", "RECOGNITION_THRESHOLD"),
        ("RECOGNITION_THRESHOLD", "high", "RECOGNITION_THRESHOLD"),
        ("RECOGNITION_VIEWS", "mirror", "RECOGNITION_VIEWS"),
        ("RECOGNITION_RUNTIME", "tflite", "RECOGNITION_RUNTIME"),
        ("RECOGNITION_PRECISION", "int4", "RECOGNITION_PRECISION"),
        ("LOAD_MODELS", "maybe", "LOAD_MODELS"),
    ],
)
def test_bad_settings_stop_the_app_with_a_clear_message(tmp_path, name, value, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_settings(tmp_path, environ={"SECRET_KEY": "x", name: value})


def test_an_operators_model_needs_the_box_pipeline(tmp_path):
    environ = {"SECRET_KEY": "x", "RECOGNITION_MODEL": "arcface.onnx"}
    assert load_settings(tmp_path, environ=environ)["RECOGNITION_MODEL"] == "arcface.onnx"
    with pytest.raises(ConfigError, match="RECOGNITION_MODEL"):
        load_settings(tmp_path, environ={**environ, "RECOGNITION_VIEWS": "box+landmarks"})


def test_environment_settings_are_read(tmp_path):
    config = load_settings(
        tmp_path,
        environ={
            "SECRET_KEY": "s3cret",
            "DATABASE_URL": "postgresql://face@db.internal/face",
            "MODEL_DIR": "/srv/models",
            "MEDIA_DIR": "/srv/media",
            "DEVICE": "cpu",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        },
    )
    assert config["SECRET_KEY"] == "s3cret"
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://face@db.internal/face"
    assert config["MODEL_DIR"] == "/srv/models" and config["MEDIA_DIR"] == "/srv/media"
    assert config["DEVICE"] == "cpu" and config["REDIS_URL"] == "redis://127.0.0.1:6379/0"


def test_defaults_keep_everything_in_the_instance_folder(tmp_path):
    config = load_settings(tmp_path, environ={})
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'app.db'}"
    assert Path(config["MEDIA_DIR"]) == tmp_path / "media"
    # Without SECRET_KEY a random key is made once and kept, so sessions survive restarts.
    assert config["SECRET_KEY"] == load_settings(tmp_path, environ={})["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_postgres_urls_use_psycopg3():
    assert normalize_database_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"
