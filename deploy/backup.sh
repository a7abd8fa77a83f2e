#!/bin/sh
# Back up an installation into a new folder, as the pipelines user:
#   sudo -u pipelines /srv/pipelines/app/deploy/backup.sh /var/backups/pipelines/$(date +%F)
# It holds: database.dump (pg_dump -Fc), artifacts/ (a copy of every artifact store,
# local or s3://, with a manifest), keys/ (fernet_keys, django_secret_key). Keep keys/
# apart from the rest (PIPELINES_BACKUP_KEYS_DIR puts it elsewhere): whoever holds
# both can read every secret value.
#
# Order: a backup lease first (prune deletes no files while it is held), then the
# database, then the store. Every ready row in the dump then has its files in the
# copy: files are written before their row becomes ready, and prune deletes rows
# before files. Files written after the dump are copied too, and are harmless.
#
# The environment is the one the systemd units read (PIPELINES_ENV_FILE, default
# /etc/pipelines/pipelines.env, and /etc/pipelines/aws.env when it exists).
set -eu
DEST=${1:?usage: backup.sh NEW_FOLDER}
APP=$(cd "$(dirname "$0")/.." && pwd)
set -a
. "${PIPELINES_ENV_FILE:-/etc/pipelines/pipelines.env}"
if [ -r /etc/pipelines/aws.env ]; then . /etc/pipelines/aws.env; fi
set +a
PYTHON=${PIPELINES_PYTHON:-$APP/.venv/bin/python}

manage() { (cd "$APP" && "$PYTHON" manage.py "$@"); }
# NAME's value, else the content of the file NAME_FILE names (as the settings read them).
value_of() {
    eval "value=\${$1:-}; file=\${$1_FILE:-}"
    if [ -z "$value" ] && [ -n "$file" ]; then value=$(cat "$file"); fi
    printf '%s' "$value"
}

DATABASE_URL=$(value_of DATABASE_URL)
case "$DATABASE_URL" in
postgres://* | postgresql://*) ;;
*)
    echo "backup.sh: DATABASE_URL is not a PostgreSQL URL. The embedded default keeps everything in" \
        "PIPELINES_DATA_DIR: stop its processes and copy that folder instead." >&2
    exit 2
    ;;
esac
FERNET_KEYS=$(value_of FERNET_KEYS)
if [ -z "$FERNET_KEYS" ]; then
    echo "backup.sh: neither FERNET_KEYS nor FERNET_KEYS_FILE is set: without the keys no secret can be restored." >&2
    exit 2
fi
KEYS=${PIPELINES_BACKUP_KEYS_DIR:-$DEST/keys}

umask 077
mkdir -p "$DEST"
if [ -n "$(ls -A "$DEST")" ]; then
    echo "backup.sh: $DEST is not empty; give a new folder." >&2
    exit 2
fi

lease=$(manage backup_lease acquire --holder "backup.sh on $(hostname)" --hours 12)
trap 'manage backup_lease release "$lease"' EXIT
trap 'exit 1' INT TERM

pg_dump --format=custom --no-owner --no-privileges --file="$DEST/database.dump" --dbname="$DATABASE_URL"
manage artifact_store_backup --to "$DEST/artifacts"

mkdir -p "$KEYS"
printf '%s\n' "$FERNET_KEYS" | tr ', ' '\n\n' | grep -v '^$' >"$KEYS/fernet_keys"
value_of DJANGO_SECRET_KEY >"$KEYS/django_secret_key"
echo "backup.sh: database, artifacts and keys saved ($DEST, keys in $KEYS)"
