#!/usr/bin/env bash
# Write the descriptions of the SQL statements that sqlx's query macros
# check at build time (`services/<service>/.sqlx/`, committed), from the
# service's migrations applied to a scratch database. Run it after changing
# a checked statement or a migration those statements read; a build needs no
# database (SQLX_OFFLINE in .cargo/config.toml), and `make test` fails while
# the descriptions differ from what the migrations give
# (tests/e2e/sql.rs).
#
#   bash scripts/sqlx-prepare.sh            # every service that has .sqlx/
#   bash scripts/sqlx-prepare.sh payments   # one

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_build_deps
ensure_postgres

services=("$@")
if [ ${#services[@]} -eq 0 ]; then
  for dir in "$ROOT"/services/*/.sqlx; do services+=("$(basename "$(dirname "$dir")")"); done
fi

for service in "${services[@]}"; do
  schema="${service//-/_}"
  db="ticktak_sqlx_$schema"
  fresh_database "$db"
  log "migrating a scratch $schema schema (database $db)"
  {
    echo "CREATE SCHEMA \"$schema\"; SET search_path TO \"$schema\";"
    cat "$ROOT/migrations/$schema"/*.sql
  } | PGPASSWORD=ticktak psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U ticktak -d "$db" >/dev/null
  out="$ROOT/services/$service/.sqlx"
  mkdir -p "$out"
  rm -f "$out"/query-*.json
  log "building $service against it (descriptions into services/$service/.sqlx)"
  # The crate is compiled again so that every query macro runs; online,
  # each checks its statement against the schema and saves its description.
  touch "$ROOT/services/$service/src/lib.rs"
  (cd "$ROOT" && SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$out" \
    DATABASE_URL="postgres://ticktak:ticktak@127.0.0.1:$PG_PORT/$db?options=-c%20search_path%3D$schema" \
    cargo build --quiet -p "$service" --lib)
  log "$(ls "$out" | wc -l) statements of $service described"
done
