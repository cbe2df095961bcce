#!/bin/sh
# `make run`: one studio worker in the background (its output in the instance folder) and gunicorn
# in the foreground; with WITH_NGINX=1 (`make run-nginx`) Nginx runs in front over HTTPS too.
# When gunicorn stops (Ctrl-C), the others are stopped too; a job the worker was running is
# queued again for the next worker.
set -eu
cd "$(dirname "$0")/.."
instance="${INSTANCE_PATH:-instance}"
mkdir -p "$instance"
if [ "${WITH_NGINX:-0}" = "1" ]; then
  # Behind Nginx: trust its X-Forwarded-* (one hop), let it send media, cookies only over TLS.
  export TRUSTED_PROXIES="${TRUSTED_PROXIES:-1}" MEDIA_ACCEL_REDIRECT="${MEDIA_ACCEL_REDIRECT:-/_media/}"
  export SESSION_COOKIE_SECURE="${SESSION_COOKIE_SECURE:-true}"
fi
pids=""
stop() {
  trap - EXIT INT TERM
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for pid in $pids; do wait "$pid" 2>/dev/null || true; done
}
trap stop EXIT INT TERM
log="$instance/studio-worker.log"
scripts/entrypoint.sh worker >>"$log" 2>&1 &
pids="$!"
echo "Studio worker started (pid $!); its log: $log"
if [ "${WITH_NGINX:-0}" = "1" ]; then
  scripts/entrypoint.sh nginx &
  pids="$pids $!"
fi
scripts/entrypoint.sh web
