#!/bin/sh
# Restore a backup made by deploy/backup.sh on a fresh machine, as the pipelines user:
#   1. install the app; put the backup's keys where the environment file names them
#      (keys/fernet_keys -> FERNET_KEYS_FILE, keys/django_secret_key -> DJANGO_SECRET_KEY_FILE);
#   2. create an empty PostgreSQL database (DATABASE_URL) and the new artifact store
#      (PIPELINES_ARTIFACT_STORE: a new folder or bucket prefix; it may differ from the old one);
#   3. sudo -u pipelines /srv/pipelines/app/deploy/restore.sh /var/backups/pipelines/2026-12-01
#   4. start the services.
# The database is restored first, then the files are copied into the configured store
# and every version's uri is pointed at it; restore_check then reads every artifact
# against its checksum and decrypts every secret with the installed keys.
set -eu
SOURCE=${1:?usage: restore.sh BACKUP_FOLDER}
APP=$(cd "$(dirname "$0")/.." && pwd)
set -a
. "${PIPELINES_ENV_FILE:-/etc/pipelines/pipelines.env}"
if [ -r /etc/pipelines/aws.env ]; then . /etc/pipelines/aws.env; fi
set +a
PYTHON=${PIPELINES_PYTHON:-$APP/.venv/bin/python}

manage() { (cd "$APP" && "$PYTHON" manage.py "$@"); }
value_of() {
    eval "value=\${$1:-}; file=\${$1_FILE:-}"
    if [ -z "$value" ] && [ -n "$file" ]; then value=$(cat "$file"); fi
    printf '%s' "$value"
}

if [ ! -f "$SOURCE/database.dump" ] || [ ! -f "$SOURCE/artifacts/manifest.json" ]; then
    echo "restore.sh: $SOURCE holds no database.dump and artifacts/manifest.json: not a backup.sh folder." >&2
    exit 2
fi
DATABASE_URL=$(value_of DATABASE_URL)
tables=$(psql --no-psqlrc -At --dbname="$DATABASE_URL" \
    -c "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
if [ "$tables" != 0 ]; then
    echo "restore.sh: the database at DATABASE_URL is not empty ($tables tables); restore into a new one." >&2
    exit 2
fi

pg_restore --no-owner --no-privileges --exit-on-error --dbname="$DATABASE_URL" "$SOURCE/database.dump"
# A newer release than the backup's may bring migrations.
manage migrate --no-input
manage artifact_store_restore --from "$SOURCE/artifacts"
manage restore_check
echo "restore.sh: restored from $SOURCE"
