#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1 with trust auth for
# local TCP connections and a database named `test` (the PostgreSQL index
# backend's tests connect as user `postgres` to database `test`).
#
# Order: use a running server; else start an installed Debian cluster; else
# (as root) install the Debian package and start its cluster. Idempotent.
set -euo pipefail

HOST=127.0.0.1
PORT="${PGPORT:-5432}"
DB="${SHARDGATE_PG_DB:-test}"
READY_TIMEOUT_S=30
# Marks the pg_hba.conf line this script adds, so it is added only once.
HBA_MARK="# added by shardgate scripts/ensure-postgres.sh"

export DEBIAN_FRONTEND=noninteractive

log() { printf '[ensure-postgres] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

ready() { pg_isready -h "$HOST" -p "$PORT" -q 2>/dev/null; }

wait_ready() {
    local deadline=$((SECONDS + READY_TIMEOUT_S))
    until ready; do
        [ "$SECONDS" -lt "$deadline" ] || die "PostgreSQL not ready on $HOST:$PORT after ${READY_TIMEOUT_S}s"
        sleep 0.2
    done
}

newest_cluster_version() {
    [ -d /etc/postgresql ] || return 1
    local version
    version="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)"
    [ -n "$version" ] && [ -f "/etc/postgresql/$version/main/pg_hba.conf" ] || return 1
    echo "$version"
}

install_postgres() {
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        die "no PostgreSQL on $HOST:$PORT and cannot install one (need root and apt-get): start a server with trust auth for $HOST"
    fi
    log "installing PostgreSQL from Debian packages"
    apt-get update -qq </dev/null >&2
    apt-get install -y -qq postgresql postgresql-client </dev/null >&2
}

allow_local_trust() {
    local hba="/etc/postgresql/$1/main/pg_hba.conf"
    grep -qF "$HBA_MARK" "$hba" && return 0
    log "allowing trust auth for $HOST in $hba (test machines only)"
    # First matching line wins in pg_hba.conf: put ours on top.
    sed -i "1i host all all $HOST/32 trust $HBA_MARK" "$hba"
}

start_cluster() {
    local version="$1"
    if pg_ctlcluster "$version" main status >/dev/null 2>&1; then
        # Never restart a running server (other work may use it): say why it fails.
        die "PostgreSQL $version/main runs but does not answer on $HOST:$PORT (check its port and listen_addresses)"
    fi
    if [ "$(id -u)" -eq 0 ]; then
        allow_local_trust "$version"
    fi
    log "starting PostgreSQL $version cluster 'main'"
    # Containers have no systemd: talk to pg_ctl directly.
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
}

ensure_database() {
    local exists
    exists="$(psql -h "$HOST" -p "$PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'" 2>/dev/null)" ||
        die "cannot connect as postgres to $HOST:$PORT (is trust auth enabled for $HOST?)"
    if [ "$exists" != "1" ]; then
        log "creating database $DB"
        createdb -h "$HOST" -p "$PORT" -U postgres "$DB"
    fi
}

if ! command -v pg_isready >/dev/null 2>&1; then
    install_postgres
fi

if ! ready; then
    version="$(newest_cluster_version)" || {
        install_postgres
        version="$(newest_cluster_version)" || die "PostgreSQL installed but no cluster found in /etc/postgresql"
    }
    start_cluster "$version"
    wait_ready
fi

ensure_database
log "PostgreSQL ready on $HOST:$PORT, database $DB"
