#!/usr/bin/env bash
# Container entry point: migrate, make sure an admin exists, then hand the process to gunicorn.
set -euo pipefail
flask --app wsgi db upgrade
flask --app wsgi users ensure-admin
exec gunicorn -c gunicorn.conf.py wsgi:app
