#!/usr/bin/env bash
# `make test`: install what is missing, start PostgreSQL and a throw-away
# broker for tests (on 127.0.0.1:19092), run every test. Each test makes its
# own database, topic names and consumer groups.
#
# The shared test broker keeps its log in PostgreSQL, like `make up`'s
# (TEST_BROKER_STORAGE=postgres, the default: a fresh database each run;
# `memory` for a quicker, less faithful run). The in-memory store ran the
# suite 2.4× faster (54 s against 130 s once built, with the settings of the
# time) but its fetch cost grows with the partition and it lost 6 of 60,000
# acknowledged messages in the broker benchmark (BENCHMARKS.md), so tests
# would not be honest on it.
# Tests that kill the broker start their own (tests/support/broker.rs).

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TEST_BROKER_PORT="${TEST_BROKER_PORT:-19092}"

ensure_build_deps
start_nisshi_install dev
ensure_postgres
drop_test_databases
ensure_fault_tools
ensure_node_tools
ensure_fuzzer
ensure_api_validator
ensure_lake_reader
ensure_geoip
ensure_browser
finish_nisshi_install
# Every target the tests run, in one build: the service binaries (the
# end-to-end tests run them as processes) and the test targets. One
# `cargo build --bins` first would resolve features without the
# dev-dependencies, and the test build would then compile every shared
# dependency (librdkafka, sqlx, hyper, axum, …) and every crate a second
# time: 9 of a fresh run's 29 minutes.
log "building the workspace and its tests"
(cd "$ROOT" && cargo build --workspace --all-targets)
throwaway_broker "$TEST_BROKER_PORT" test-broker "${TEST_BROKER_STORAGE:-postgres}"
# The Stripe stand-in and the SMTP sink, shared by every test (each tells
# its own apart by metadata and recipients); reused when already running.
start_stripe_standin 8420
start_maildev 1025 1080
cleanup() {
  local pid
  for pid in "$BROKER_PID" "$STANDIN_PID" "$MAILDEV_PID"; do
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
}
trap cleanup EXIT

export TEST_DATABASE_URL="postgres://ticktak:ticktak@127.0.0.1:$PG_PORT/postgres"
export TEST_KAFKA_BROKERS="127.0.0.1:$TEST_BROKER_PORT"
export TICKTAK_BIN_DIR="$ROOT/target/debug"
export NISSHI_BIN="$(nisshi_bin)"
export TEST_STRIPE_API_BASE="http://127.0.0.1:8420/"
export TEST_SMTP_URL="smtp://127.0.0.1:1025"
export TEST_MAILDEV_URL="http://127.0.0.1:1080"
export MAILDEV_BIN="$ROOT/tools/maildev/node_modules/maildev/bin/maildev"
export SCHEMATHESIS_BIN="$VENV/bin/schemathesis"
export OPENAPI_VALIDATOR_BIN="$OPENAPI_VENV/bin/openapi-spec-validator"
export PYTHON_BIN="$VENV/bin/python"
export CHROMEDRIVER_BIN="$(command -v chromedriver)"
export AXE_JS="$ROOT/tests/browser/node_modules/axe-core/axe.min.js"
export SCREENSHOT_DIR="$VAR/screenshots"

cd "$ROOT"
status=0
cargo test --workspace --all-targets --no-fail-fast "$@" 2>&1 | tee "$VAR/log/test-output.log" || status=$?
# What went wrong, last, where a reader of the tail sees it: failed tests,
# their panic messages, and test binaries that died without a result (a
# signal, an abort, a stack overflow). The whole output is in the log.
if [ "$status" -ne 0 ]; then
  echo "---- what failed (whole output: $VAR/log/test-output.log) ----"
  grep -E -A3 "^test .* FAILED$|panicked at|process didn't exit successfully|fatal runtime error|overflowed its stack|^error: test failed|^error: could not compile" \
    "$VAR/log/test-output.log" | cut -c1-400 | tail -60 || true
fi
# One closing line over every test binary.
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' "$VAR/log/test-output.log"
exit "$status"
