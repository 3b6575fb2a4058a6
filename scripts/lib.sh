# Shared set-up of `make up` and `make test`: installs what is missing on a
# Debian machine with Rust, starts PostgreSQL and the Kafka-protocol broker.
# Every step is quick when its work is already done.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VAR="$ROOT/var"
mkdir -p "$VAR/log"

PG_PORT="${PG_PORT:-5432}"
NISSHI_VERSION="0.8.1"

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds what
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    port_open "$1" && return 0
    sleep 0.1
  done
  log "$3 did not open port $1 within $2 s"
  return 1
}

APT_UPDATED=""
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Build tools for librdkafka (built from source by rdkafka-sys) and sqlx.
ensure_build_deps() {
  apt_install build-essential pkg-config libssl-dev zlib1g-dev curl
}

# PostgreSQL from Debian, a running cluster on 127.0.0.1:$PG_PORT and the
# `ticktak` role (allowed to create the per-platform and per-test databases).
ensure_postgres() {
  apt_install postgresql postgresql-client
  if ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
    local version cluster
    version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
    if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$version "; then
      log "creating PostgreSQL $version cluster"
      as_root pg_createcluster "$version" main --port "$PG_PORT" >/dev/null
    fi
    cluster="$(pg_lsclusters -h | awk -v v="$version" '$1 == v {print $2; exit}')"
    log "starting PostgreSQL $version/$cluster"
    # After an unclean shutdown the server replays its WAL first, and
    # pg_ctlcluster may give up waiting while it is still recovering.
    as_root pg_ctlcluster "$version" "$cluster" start ||
      log "PostgreSQL is still starting (recovery after an unclean shutdown?); waiting up to 3 minutes"
    local i
    for ((i = 0; i < 1800; i++)); do pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.1; done
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" || { log "PostgreSQL did not start: see /var/log/postgresql/"; return 1; }
  fi
  if ! PGPASSWORD=ticktak psql -h 127.0.0.1 -p "$PG_PORT" -U ticktak -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
    log "creating PostgreSQL role ticktak"
    as_postgres psql -q -p "$PG_PORT" -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ticktak') THEN
          CREATE ROLE ticktak LOGIN CREATEDB PASSWORD 'ticktak';
        ELSE
          ALTER ROLE ticktak LOGIN CREATEDB PASSWORD 'ticktak';
        END IF; END \$\$;"
  fi
  # Several platforms and parallel tests each hold a few pools.
  local max
  max="$(PGPASSWORD=ticktak psql -h 127.0.0.1 -p "$PG_PORT" -U ticktak -d postgres -tAc 'SHOW max_connections')"
  if [ "$max" -lt 500 ]; then
    log "raising PostgreSQL max_connections to 500"
    as_postgres psql -q -p "$PG_PORT" -c "ALTER SYSTEM SET max_connections = 500"
    local version cluster
    read -r version cluster < <(pg_lsclusters -h | awk -v p="$PG_PORT" '$3 == p {print $1, $2; exit}')
    as_root pg_ctlcluster "$version" "$cluster" restart
    local i
    for ((i = 0; i < 100; i++)); do pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.1; done
  fi
}

# Node.js and the packages the tests run with it, each pinned by its
# package-lock.json: the AsyncAPI parser (tests/asyncapi), a KafkaJS peer
# platform (tests/peer) and axe-core for the browser tests (tests/browser).
ensure_node_tools() { # [DIR...]: these package folders (default: every one)
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
  fi
  local dirs=("$@") dir
  [ ${#dirs[@]} -gt 0 ] || dirs=(tests/asyncapi tests/peer tests/browser tools/maildev)
  for dir in "${dirs[@]}"; do
    dir="$ROOT/$dir"
    if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
      log "installing node packages of ${dir#"$ROOT"/} (npm ci)"
      (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts >/dev/null)
    fi
  done
}

# A Python virtual environment under var/venv with the Stripe stand-in
# (localstripe) and, for tests and benchmarks, the API fuzzer
# (schemathesis), both from PyPI.
LOCALSTRIPE_VERSION="1.15.10"
SCHEMATHESIS_VERSION="4.32.5"
VENV="$VAR/venv"

# pip_pin NAME VERSION: install NAME==VERSION into the venv unless it is there.
pip_pin() {
  local installed
  installed="$("$VENV/bin/pip" show "$1" 2>/dev/null || true)"
  if ! grep -q "^Version: $2$" <<<"$installed"; then
    log "installing $1 $2 into var/venv"
    "$VENV/bin/pip" install -q "$1==$2"
  fi
}

ensure_python_tools() {
  apt_install python3 python3-venv
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  pip_pin localstripe "$LOCALSTRIPE_VERSION"
}

ensure_fuzzer() {
  ensure_python_tools
  pip_pin schemathesis "$SCHEMATHESIS_VERSION"
}

# openapi-spec-validator: an independent check that every service's OpenAPI
# description is one any tool accepts (tests/e2e/interop.rs). Its own venv:
# it pins a jsonschema the fuzzer's does not share.
OPENAPI_VALIDATOR_VERSION="0.9.0"
OPENAPI_VENV="$VAR/openapi-venv"
ensure_api_validator() {
  apt_install python3 python3-venv
  [ -x "$OPENAPI_VENV/bin/python" ] || python3 -m venv "$OPENAPI_VENV"
  if ! "$OPENAPI_VENV/bin/pip" show openapi-spec-validator 2>/dev/null | grep -q "^Version: $OPENAPI_VALIDATOR_VERSION$"; then
    log "installing openapi-spec-validator $OPENAPI_VALIDATOR_VERSION into var/openapi-venv"
    "$OPENAPI_VENV/bin/pip" install -q "openapi-spec-validator==$OPENAPI_VALIDATOR_VERSION"
  fi
}

# pyarrow: the independent reader the tests check the data lake with.
PYARROW_VERSION="26.0.1"
ensure_lake_reader() {
  ensure_python_tools
  pip_pin pyarrow "$PYARROW_VERSION"
}

# Headless Chromium and its WebDriver from Debian: the web site's tests
# drive it (tests/e2e/web.rs).
ensure_browser() {
  apt_install chromium chromium-driver
}

# Debian's IP → country data (GeoIP.dat, GeoIPv6.dat under /usr/share/GeoIP):
# the shop recommends by the country of an anonymous buyer's address.
ensure_geoip() {
  apt_install geoip-database
}

# start_stripe_standin PORT: the Stripe stand-in (deploy/stripe-standin) on
# 127.0.0.1:PORT unless something listens there already (a second platform
# on this machine shares it). Sets STANDIN_PID when this call started it.
STANDIN_PID=""
start_stripe_standin() {
  local port="$1"
  if port_open "$port"; then
    log "reusing the Stripe stand-in already listening on 127.0.0.1:$port"
    return 0
  fi
  log "starting the Stripe stand-in (localstripe) on 127.0.0.1:$port"
  "$VENV/bin/python" "$ROOT/deploy/stripe-standin/standin.py" --port "$port" --from-scratch \
    >"$VAR/log/stripe-standin.log" 2>&1 &
  STANDIN_PID=$!
  wait_port "$port" 30 "the Stripe stand-in" || { tail -20 "$VAR/log/stripe-standin.log" >&2; return 1; }
}

# start_maildev SMTP_PORT WEB_PORT: the SMTP sink (maildev, npm) unless
# something listens on SMTP_PORT already. Mail is kept in var/maildev
# (maildev empties that folder when it starts). Sets MAILDEV_PID.
MAILDEV_PID=""
start_maildev() {
  local smtp="$1" web="$2"
  if port_open "$smtp"; then
    log "reusing the SMTP sink already listening on 127.0.0.1:$smtp"
    return 0
  fi
  log "starting maildev: SMTP 127.0.0.1:$smtp, web and API http://127.0.0.1:$web"
  mkdir -p "$VAR/maildev"
  node "$ROOT/tools/maildev/node_modules/maildev/bin/maildev" --ip 127.0.0.1 --smtp "$smtp" --web "$web" \
    --mail-directory "$VAR/maildev" >"$VAR/log/maildev.log" 2>&1 &
  MAILDEV_PID=$!
  wait_port "$smtp" 30 "maildev" || { tail -20 "$VAR/log/maildev.log" >&2; return 1; }
  wait_port "$web" 30 "maildev" || { tail -20 "$VAR/log/maildev.log" >&2; return 1; }
}

# The nisshi broker (Kafka protocol, the renamed tansu) from the Rust package
# registry. It declares rustc 1.96 through one of its dependencies but builds
# and runs on 1.95, hence --ignore-rust-version. Built with the two storage
# engines ticktak runs it on: PostgreSQL (`make up`, `make test`, `make
# bench`) and the in-memory one (dynostore's, TEST_BROKER_STORAGE=memory);
# 20 crates fewer than every engine (libsql is compiled all the same:
# another of its crates needs it). Two builds, both kept under
# $CARGO_HOME so that every clone shares them:
# - the release build (bin/nisshi, or a nisshi on PATH): about 20 minutes on
#   2 cores, once. `make up` and `make bench` run it once it is there, and
#   `make test` too.
# - a development build (nisshi-dev/bin/nisshi): about 6 minutes. `make
#   test` builds this one on a machine without the release build, so that a
#   first run stays within its time, and the first `make up` starts on it
#   while the release build runs in the background (BENCHMARKS.md, "The
#   first `make up`"). A trimmed release profile does not help: at opt-level
#   1 the release build still took 18 of its 19.6 minutes.
NISSHI_DEV_ROOT="${CARGO_HOME:-$HOME/.cargo}/nisshi-dev"
NISSHI_FEATURES="postgres,dynostore"

# A nisshi on PATH counts unless it is the development build (cargo's
# install message suggests putting its folder on PATH).
nisshi_release_bin() {
  local on_path
  on_path="$(command -v nisshi 2>/dev/null || true)"
  if [ -n "$on_path" ] && [ "$on_path" != "$NISSHI_DEV_ROOT/bin/nisshi" ]; then
    echo "$on_path"
  else
    echo "${CARGO_HOME:-$HOME/.cargo}/bin/nisshi"
  fi
}

nisshi_is_built() { # BINARY
  [ -x "$1" ] && "$1" --version 2>/dev/null | grep -q "$NISSHI_VERSION"
}

# The broker to run: the release build when there is one.
nisshi_bin() {
  if nisshi_is_built "$(nisshi_release_bin)"; then nisshi_release_bin; else echo "$NISSHI_DEV_ROOT/bin/nisshi"; fi
}

# The cargo command that installs the broker: `release` or `dev`.
nisshi_install_command() {
  local cmd=(cargo install nisshi --version "$NISSHI_VERSION" --locked --ignore-rust-version
    --no-default-features --features "$NISSHI_FEATURES")
  [ "$1" = dev ] && cmd+=(--debug --root "$NISSHI_DEV_ROOT")
  # No debug information: the development build's size and link time.
  echo "CARGO_PROFILE_DEV_DEBUG=0 ${cmd[*]}"
}

# start_nisshi_install [dev], then finish_nisshi_install before the broker is
# needed: the build keeps both cores busy while the package installs between
# the two (apt, npm, pip) mostly wait on the network and the disk, so a first
# run overlaps them instead of adding them up. `dev`: the development build
# is enough (`make test`, and the first `make up`).
NISSHI_INSTALL_PID=""
start_nisshi_install() {
  nisshi_is_built "$(nisshi_release_bin)" && return 0
  local kind=release what="release build, about 20 minutes"
  if [ "${1:-}" = dev ]; then
    nisshi_is_built "$NISSHI_DEV_ROOT/bin/nisshi" && return 0
    kind=dev what="development build, about 6 minutes"
  fi
  log "building the nisshi broker $NISSHI_VERSION in the background ($what on 2 cores, once; log: var/log/nisshi-install.log)"
  bash -c "$(nisshi_install_command "$kind")" >"$VAR/log/nisshi-install.log" 2>&1 &
  NISSHI_INSTALL_PID=$!
}

finish_nisshi_install() {
  [ -n "$NISSHI_INSTALL_PID" ] || return 0
  log "waiting for the nisshi broker's build"
  if ! wait "$NISSHI_INSTALL_PID"; then
    tail -30 "$VAR/log/nisshi-install.log" >&2
    log "installing nisshi failed (whole log: var/log/nisshi-install.log)"
    return 1
  fi
  NISSHI_INSTALL_PID=""
}

# The release builds a first `make up` leaves for the next one: the broker's
# and the workspace's, one after the other at the lowest priority, detached
# from the terminal (Ctrl-C of `make up` leaves them going), one at a time
# on a machine (a lock in var/). Their log: var/log/release-builds.log.
RELEASE_LOCK="$VAR/release-builds.lock"
release_builds_running() {
  [ -e "$RELEASE_LOCK" ] && ! flock -n "$RELEASE_LOCK" true
}

start_release_builds() {
  release_builds_running && return 0
  local steps=()
  nisshi_is_built "$(nisshi_release_bin)" || steps+=("$(nisshi_install_command release)")
  steps+=("cargo build --release --bins")
  local script
  script="$(printf '%s && ' "${steps[@]}")"
  script="cd '$ROOT' && ${script}echo 'release builds done: the next make up starts on them'"
  # A session of its own (setsid) is a scheduling group of its own where
  # the kernel groups by session (autogroup, Debian's default): its nice
  # value is the group's, not only the processes', or the builds would take
  # half the cores from the platform.
  setsid nohup flock -n "$RELEASE_LOCK" nice -n 19 bash -c \
    "echo 19 >/proc/self/autogroup 2>/dev/null || true; $script" \
    >"$VAR/log/release-builds.log" 2>&1 </dev/null &
}

# release_is_built: every binary `make up` runs, built for release, and no
# release build going on.
release_is_built() {
  local b
  release_builds_running && return 1
  nisshi_is_built "$(nisshi_release_bin)" || return 1
  for b in "$@"; do [ -x "$ROOT/target/release/$b" ] || return 1; done
}

# ensure_database NAME: create a database owned by ticktak unless it exists.
ensure_database() {
  local exists
  exists="$(PGPASSWORD=ticktak psql -h 127.0.0.1 -p "$PG_PORT" -U ticktak -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$1'")"
  [ "$exists" = 1 ] && return 0
  log "creating database $1"
  PGPASSWORD=ticktak psql -q -h 127.0.0.1 -p "$PG_PORT" -U ticktak -d postgres -c "CREATE DATABASE \"$1\""
}

# fresh_database NAME: drop NAME if it exists (and nobody uses it) and
# create it empty.
fresh_database() {
  PGPASSWORD=ticktak psql -q -h 127.0.0.1 -p "$PG_PORT" -U ticktak -d postgres \
    -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null
  ensure_database "$1"
}

# The PostgreSQL storage URL of the broker's own database NAME.
broker_storage() {
  echo "postgres://ticktak:ticktak@127.0.0.1:$PG_PORT/$1?sslmode=disable"
}

# throwaway_broker PORT NAME STORAGE: a broker for one test or benchmark run
# on PORT, unless one already listens there; STORAGE is `postgres` (a fresh
# database `ticktak_NAME`), `sqlite` (a fresh file var/NAME.db; a nisshi
# built with its `libsql` feature, which the scripts' build leaves out) or
# `memory`.
throwaway_broker() {
  local port="$1" name="$2" storage="$3"
  if port_open "$port"; then
    log "reusing the broker already listening on 127.0.0.1:$port"
    return 0
  fi
  case "$storage" in
    postgres)
      fresh_database "ticktak_${name//-/_}"
      start_broker "$port" "$(broker_storage "ticktak_${name//-/_}")" "$name" ;;
    sqlite)
      rm -f "$VAR/$name.db" "$VAR/$name.db-wal" "$VAR/$name.db-shm"
      start_broker "$port" "sqlite://$name.db" "$name" ;;
    memory) start_broker "$port" "memory://nisshi/" "$name" ;;
    *) log "unknown broker storage '$storage' (postgres, sqlite or memory)"; return 2 ;;
  esac
}

# Databases of earlier test and benchmark runs (`t_<platform>_<hex>`) pile
# up otherwise, and autovacuum visits every one of them. Those still in use
# (a run going on beside this one) cannot be dropped and are left alone.
drop_test_databases() {
  local sql
  # Their data lakes too (tests/support: one directory per test platform).
  rm -rf "${TMPDIR:-/tmp}"/ticktak-lake-t_*
  sql="$(PGPASSWORD=ticktak psql -h 127.0.0.1 -p "$PG_PORT" -U ticktak -d postgres -tAc \
    "SELECT format('DROP DATABASE IF EXISTS %I;', datname) FROM pg_database WHERE datname ~ '^t_[a-z0-9-]+_[0-9a-f]+$'")"
  [ -z "$sql" ] && return 0
  log "dropping $(wc -l <<<"$sql") databases of earlier runs"
  PGPASSWORD=ticktak psql -q -h 127.0.0.1 -p "$PG_PORT" -U ticktak -d postgres <<<"$sql" >/dev/null 2>&1 || true
}

# What the Jepsen runs' faults need (bench/src/jepsen): each platform on a
# network of its own (network namespaces, a bridge, nftables rules), as
# root, and a PostgreSQL server per platform under libfaketime (its clock
# set off). Removes what a killed run left: namespaces ttn<N>-<i>, bridges
# ttb<N> (a bridge's veth pairs go with their namespaces), PostgreSQL
# servers ticktak-pg-* (tests/support/postgres.rs).
ensure_fault_tools() {
  apt_install iproute2 nftables libfaketime procps
  pkill -KILL -f -- "-D ${TMPDIR:-/tmp}/ticktak-pg-" 2>/dev/null || true
  rm -rf "${TMPDIR:-/tmp}"/ticktak-pg-*
  local ns br
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^ttn[0-9]+-[0-9]+$/ {print $1}'); do
    as_root ip netns delete "$ns" 2>/dev/null || true
  done
  for br in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '$2 ~ /^ttb[0-9]+$/ {print $2}'); do
    as_root ip link delete "$br" 2>/dev/null || true
  done
}

# start_broker PORT STORAGE_URL NAME: start nisshi unless something already
# listens on PORT. Sets BROKER_PID when this call started it.
BROKER_PID=""
start_broker() {
  local port="$1" storage="$2" name="$3"
  if port_open "$port"; then
    log "reusing the broker already listening on 127.0.0.1:$port"
    return 0
  fi
  log "starting nisshi on 127.0.0.1:$port (${storage%%:*} storage)"
  (
    cd "$VAR"
    exec "$(nisshi_bin)" broker \
      --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine "$storage" \
      --kafka-cluster-id ticktak
  ) >"$VAR/log/$name.log" 2>&1 &
  BROKER_PID=$!
  wait_port "$port" 30 "nisshi" || { tail -20 "$VAR/log/$name.log" >&2; return 1; }
}
