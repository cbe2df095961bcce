#!/bin/sh
# The one entry point of the platform's processes, used by the container image and by the local
# scripts (`make run`, `make run-nginx`):
#   entrypoint.sh migrate   apply migrations, create the first admin, clean stale partial uploads
#   entrypoint.sh web       gunicorn (MIGRATE_ON_START=1 migrates first)
#   entrypoint.sh worker    one studio worker (several may share REDIS_URL)
#   entrypoint.sh nginx     Nginx in front (renders nginx/ with scripts/nginx.sh)
#   entrypoint.sh CMD ...   anything else runs as given (a shell, `flask ...`)
set -eu
cd "$(dirname "$0")/.."
# Locally the tools live in .venv; in the image they are on PATH.
[ -x .venv/bin/gunicorn ] && PATH="$PWD/.venv/bin:$PATH"
export PATH

migrate() {
  flask --app wsgi db upgrade
  flask --app wsgi users ensure-admin
  flask --app wsgi media clean-partial
}

command="${1:-web}"
[ $# -gt 0 ] && shift
case "$command" in
  migrate)
    migrate
    ;;
  web)
    [ "${MIGRATE_ON_START:-0}" = "1" ] && migrate
    exec gunicorn -c gunicorn.conf.py wsgi:app "$@"
    ;;
  worker)
    exec flask --app wsgi studio worker "$@"
    ;;
  nginx)
    exec scripts/nginx.sh run "$@"
    ;;
  *)
    exec "$command" "$@"
    ;;
esac
