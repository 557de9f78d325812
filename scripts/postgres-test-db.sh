#!/usr/bin/env bash
# Starts a local PostgreSQL 15 (Debian's packages; installed if missing) listening on
# localhost only, creates the test role and database, and prints the URL for the
# server's PostgreSQL tests:
#     export NEUTRINO_TEST_PG_URL="$(scripts/postgres-test-db.sh)"
# Idempotent. Needs root. Everything but the URL goes to stderr.
set -euo pipefail
VERSION=15
CLUSTER=main
DB=neutrino_test
ROLE=neutrino_test
PW=neutrino_test
log() { echo "postgres-test-db: $*" >&2; }

if ! command -v pg_ctlcluster >/dev/null || [ ! -x "/usr/lib/postgresql/$VERSION/bin/postgres" ]; then
    if [ "$(id -u)" != 0 ]; then
        log "need root to install postgresql-$VERSION"
        exit 1
    fi
    log "installing postgresql-$VERSION"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$VERSION" >/dev/null
fi

if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$VERSION $CLUSTER"; then
    log "creating cluster $VERSION/$CLUSTER"
    pg_createcluster "$VERSION" "$CLUSTER" >&2
fi
conf="/etc/postgresql/$VERSION/$CLUSTER/postgresql.conf"
if ! grep -q "^listen_addresses = 'localhost'" "$conf"; then
    echo "listen_addresses = 'localhost'" >>"$conf"
fi
port=$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $3}')
status=$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $4}')
if [ "$status" != online ]; then
    log "starting cluster $VERSION/$CLUSTER on port $port"
    pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi
for _ in $(seq 1 30); do
    runuser -u postgres -- pg_isready -q -h localhost -p "$port" && break
    sleep 0.5
done

psql_admin() { runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -h localhost -p "$port" -d postgres "$@" 2>/dev/null || runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@"; }
if ! psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'" | grep -q 1; then
    log "creating role $ROLE"
    psql_admin -c "CREATE ROLE $ROLE LOGIN PASSWORD '$PW'" >&2
fi
if ! psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    log "creating database $DB"
    psql_admin -c "CREATE DATABASE $DB OWNER $ROLE" >&2
fi
echo "postgres://$ROLE:$PW@localhost:$port/$DB"
