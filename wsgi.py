"""WSGI entry point: `gunicorn wsgi:app`, and `flask --app wsgi ...` from the project root."""

import os

# OpenMP threads (torch in the studio effects, ncnn's Real-ESRGAN) sleep instead of spinning while
# they wait: spinning threads made torch ~10x slower on a CPU shared with other busy processes
# (a 64 px projection step 1-2 s instead of 0.1 s at load 8 on 2 cores; bench/RESULTS.md). The
# OpenMP runtime reads this once, when it loads, so it is set here, the first code every app
# process runs (gunicorn's workers, the studio worker and other `flask --app wsgi` commands),
# not by whichever module happens to import torch first. An operator's own value wins.
# tests/conftest.py and bench/common.py do the same for the test and bench processes.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from webapp import create_app

app = create_app()
