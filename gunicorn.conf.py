"""Gunicorn settings; models load in each worker after the fork, never in the master."""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
# Threads share one TensorFlow pool per worker (sized to the cores); see docs/recognition.md.
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 120
graceful_timeout = 30
preload_app = False  # TensorFlow must not be initialised in the master before fork
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    """Start loading this worker's models in the background; /healthz says 503 until done."""
    app = worker.wsgi
    registry = app.extensions["model_registry"]
    if app.config.get("LOAD_MODELS", True):
        registry.start_background_load()
