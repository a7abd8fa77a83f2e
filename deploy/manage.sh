#!/bin/sh
# manage.py with the environment the systemd units read, for the pipelines user:
#   sudo -u pipelines /srv/pipelines/app/deploy/manage.sh migrate
# PIPELINES_ENV_FILE names another environment file (default /etc/pipelines/pipelines.env);
# /etc/pipelines/aws.env (store credentials, mode 0640) is read too when it exists.
set -eu
set -a
. "${PIPELINES_ENV_FILE:-/etc/pipelines/pipelines.env}"
if [ -r /etc/pipelines/aws.env ]; then . /etc/pipelines/aws.env; fi
set +a
cd "$(dirname "$0")/.."
exec .venv/bin/python manage.py "$@"
