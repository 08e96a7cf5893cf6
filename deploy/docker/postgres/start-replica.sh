#!/usr/bin/env bash
# db-replica's entry point: the first time, clone the primary with pg_basebackup (-R writes
# primary_conninfo and standby.signal), then run PostgreSQL as a hot standby streaming from
# the slot replica_1.
set -euo pipefail
export PGPASSWORD="$WARDBOOK_REPLICATION_PASSWORD"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -q; do sleep 1; done
  pg_basebackup -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U replicator -D "$PGDATA" \
    -S replica_1 -R -X stream -c fast
  chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c port=5432
