#!/bin/sh
# replica.sh catalog|order ID: how docker-compose.yml starts a replica (mounted read-only).
#
# The first start on a new volume bootstraps; every later start does not. The marker
# /data/.pygmy-initialized is written in the replica's own volume *before* the bootstrapping
# start, so a replica whose directory (/data/catalog-1, ...) was emptied or lost while the volume
# stayed is refused as `pygmy serve` refuses it anywhere (never re-created, which could lose
# acknowledged orders); and a first start that failed half-way is not silently retried as a
# bootstrap either (`docker-compose down -v` starts over). A *new* volume (`docker volume rm`)
# is a first start again: see README "Containers" for what that means.
#
# All replicas have their own volume, so they must share a cluster id before they bootstrap:
# the first start writes PYGMY_CLUSTER_ID (secrets.env) into /data/cluster_id.
set -eu
umask 077  # as pygmy serve does: the volume's files are private to the pygmy user
group=$1
id=$2
marker=/data/.pygmy-initialized
if [ -e "$marker" ]; then
    exec pygmy serve "$group" --id "$id"
fi
: "${PYGMY_CLUSTER_ID:?PYGMY_CLUSTER_ID is not set: run docker/compose-secrets.sh}"
if [ ! -e /data/cluster_id ]; then
    printf '%s\n' "$PYGMY_CLUSTER_ID" > /data/cluster_id
fi
: > "$marker"
echo "replica.sh: first start of $group-$id on this volume: bootstrapping" >&2
exec pygmy serve "$group" --id "$id" --bootstrap
