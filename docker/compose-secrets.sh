#!/usr/bin/env bash
# Writes docker/compose/secrets.env (mode 0600, ignored by git), read by every container of
# docker-compose.yml: the cluster token, the admin token and the cluster id, random. Idempotent:
# an existing file is kept (the tokens of a running cluster must not change on some replicas
# only); delete it only together with the volumes (`docker-compose down -v`).
set -euo pipefail
file=$(cd "$(dirname "$0")" && pwd)/compose/secrets.env
if [[ -e $file ]]; then
    echo "compose-secrets: $file exists, kept" >&2
    exit 0
fi
hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
umask 077
cat >"$file.tmp" <<END
# Made by docker/compose-secrets.sh; never commit it, never bake it into an image.
PYGMY_CLUSTER_TOKEN=$(hex 24)
PYGMY_ADMIN_TOKEN=$(hex 24)
PYGMY_CLUSTER_ID=$(hex 16)
END
mv "$file.tmp" "$file"
echo "compose-secrets: wrote $file (the admin token for \`pygmy restock\`: PYGMY_ADMIN_TOKEN in it)" >&2
