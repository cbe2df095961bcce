#!/bin/sh
# `make run`: one studio worker in the background (its output in the instance folder) and gunicorn
# in the foreground; when gunicorn stops (Ctrl-C), the worker is stopped too. A job it was running
# is queued again for the next worker.
set -eu
cd "$(dirname "$0")/.."
log="${INSTANCE_PATH:-instance}/studio-worker.log"
mkdir -p "$(dirname "$log")"
.venv/bin/flask --app wsgi studio worker >>"$log" 2>&1 &
worker=$!
echo "Studio worker started (pid $worker); its log: $log"
stop() {
  trap - EXIT INT TERM
  kill "$worker" 2>/dev/null || true
  wait "$worker" 2>/dev/null || true
}
trap stop EXIT INT TERM
.venv/bin/gunicorn -c gunicorn.conf.py wsgi:app
