#!/usr/bin/env bash
# `make bench ARGS="backlog 100000"`: benchmarks on the real broker and
# PostgreSQL with release builds; each run uses fresh topics and databases.
# BENCH_BIN_DIR=DIR runs the services of another build (say a copy of
# target/release made before a change), so that a before/after comparison
# alternates both in one session.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BENCH_BROKER_PORT="${BENCH_BROKER_PORT:-19093}"

ensure_build_deps
start_nisshi_install
ensure_postgres
drop_test_databases
ensure_fault_tools
apt_install wrk
ensure_fuzzer
ensure_geoip
finish_nisshi_install
export SCHEMATHESIS_BIN="$VENV/bin/schemathesis"
throwaway_broker "$BENCH_BROKER_PORT" bench-broker "${BENCH_BROKER_STORAGE:-postgres}"
cleanup() {
  if [ -n "$BROKER_PID" ]; then kill -TERM "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

cd "$ROOT"
cargo build --quiet --release --bins
export TEST_DATABASE_URL="postgres://ticktak:ticktak@127.0.0.1:$PG_PORT/postgres"
export TEST_KAFKA_BROKERS="127.0.0.1:$BENCH_BROKER_PORT"
export TICKTAK_BIN_DIR="${BENCH_BIN_DIR:-$ROOT/target/release}"
export NISSHI_BIN="$(nisshi_bin)"
export TEST_SERVICE_LOG="${TEST_SERVICE_LOG:-warn}"
"$ROOT/target/release/ticktak-bench" "$@"
