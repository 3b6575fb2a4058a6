#!/usr/bin/env bash
# `make up`: run one whole platform in the foreground — PostgreSQL, the
# broker (reused when one already listens), the Stripe stand-in and the SMTP
# sink (both reused likewise), the six services and the web site, the master
# list published —
# until Ctrl-C/SIGTERM, then stop what it started.
#
#   PLATFORM_ID=b PORT_OFFSET=100 make up   # a second platform beside the first

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export PLATFORM_ID="${PLATFORM_ID:-a}"
export PORT_OFFSET="${PORT_OFFSET:-0}"
export DATABASE_URL="${DATABASE_URL:-postgres://ticktak:ticktak@127.0.0.1:$PG_PORT/ticktak_$PLATFORM_ID}"
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
SERVICES=(shop shop-consumer reservations payments security analytics web)
UP_STARTED=$SECONDS

# Release builds when they are there. A first start on a fresh machine
# would wait about 40 minutes for the broker's and the workspace's release
# builds; it starts on development builds instead (about 6 and 11 minutes),
# and the release builds run in the background, at the lowest priority, for
# the next start. PROFILE=release or PROFILE=dev chooses.
if [ -z "${PROFILE:-}" ]; then
  if release_is_built "${SERVICES[@]}" publish-masterlist; then PROFILE=release; else PROFILE=dev; FIRST_START=1; fi
fi

ensure_build_deps
if [ "$PROFILE" = dev ]; then start_nisshi_install dev; else start_nisshi_install; fi
ensure_postgres
ensure_node_tools tools/maildev
ensure_python_tools
ensure_geoip
finish_nisshi_install

log "building ($PROFILE)"
cargo build --quiet --profile "$PROFILE" --bins
BIN="$ROOT/target/$PROFILE"
[ "$PROFILE" = dev ] && BIN="$ROOT/target/debug"
if [ -n "${FIRST_START:-}" ]; then
  start_release_builds
fi

mkdir -p "$VAR/log/$PLATFORM_ID"
if [ "$KAFKA_BROKERS" = "127.0.0.1:9092" ]; then
  # The broker keeps its log in its own database on the same server: a
  # produce is acknowledged once committed there, so a killed broker loses
  # nothing it acknowledged.
  ensure_database ticktak_broker
  start_broker 9092 "$(broker_storage ticktak_broker)" broker
fi

PIDS=()
PUBLISH_PID=""
stop_all() {
  trap - INT TERM EXIT
  log "stopping platform $PLATFORM_ID"
  if [ -n "$PUBLISH_PID" ]; then kill -TERM "$PUBLISH_PID" 2>/dev/null || true; fi
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for pid in "$BROKER_PID" "$STANDIN_PID" "$MAILDEV_PID"; do
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
  log "stopped"
  exit 0
}
trap stop_all INT TERM EXIT

# The platform's token signing key: generated once into var/, given to the
# security service only (the others verify with its published public keys).
KEY_FILE="$VAR/$PLATFORM_ID/jwt-signing-key.pem"
if [ -z "${JWT_SIGNING_KEY:-}" ]; then
  if [ ! -s "$KEY_FILE" ]; then
    mkdir -p "$VAR/$PLATFORM_ID"
    (umask 077 && "$BIN/security" generate-signing-key >"$KEY_FILE")
    log "generated the token signing key of platform $PLATFORM_ID in var/$PLATFORM_ID/jwt-signing-key.pem"
  fi
  JWT_SIGNING_KEY="$(cat "$KEY_FILE")"
fi
# The key that signs ticket codes, likewise, for the reservations service.
TICKET_KEY_FILE="$VAR/$PLATFORM_ID/ticket-signing-key.pem"
if [ -z "${TICKET_SIGNING_KEY:-}" ]; then
  if [ ! -s "$TICKET_KEY_FILE" ]; then
    (umask 077 && "$BIN/security" generate-signing-key >"$TICKET_KEY_FILE")
    log "generated the ticket signing key of platform $PLATFORM_ID in var/$PLATFORM_ID/ticket-signing-key.pem"
  fi
  export TICKET_SIGNING_KEY="$(cat "$TICKET_KEY_FILE")"
fi

# Stripe: the real one when STRIPE_SECRET_KEY is set, else the stand-in on
# 127.0.0.1:8420 (localstripe) with its webhooks sent to this platform.
if [ -z "${STRIPE_SECRET_KEY:-}" ]; then
  log "STRIPE_SECRET_KEY is unset: payments go to the Stripe stand-in on 127.0.0.1:8420 (no real money)"
  start_stripe_standin 8420
  export STRIPE_WEBHOOK_SECRET="${STRIPE_WEBHOOK_SECRET:-whsec_ticktak_development}"
  curl -fsS -X POST "http://127.0.0.1:8420/_config/webhooks/ticktak-$PLATFORM_ID" \
    -d "url=http://127.0.0.1:$((3040 + PORT_OFFSET))/webhooks/stripe" -d "secret=$STRIPE_WEBHOOK_SECRET" >/dev/null
fi
# E-mail: any relay given as SMTP_URL, else maildev on 127.0.0.1:1025.
if [ -z "${SMTP_URL:-}" ]; then
  start_maildev 1025 1080
fi

# The web site calls the APIs for its visitors and names them in
# X-Forwarded-For: the services believe that header from this machine only
# (in production, the address of the web site and of any reverse proxy).
export TRUSTED_PROXIES="${TRUSTED_PROXIES:-127.0.0.1/32,::1/128}"
# Stripe.js for the checkout page: the stand-in's, or Stripe's own with a
# real key (then also set STRIPE_PUBLISHABLE_KEY).
if [ -n "${STRIPE_SECRET_KEY:-}" ]; then
  export STRIPE_JS_URL="${STRIPE_JS_URL:-https://js.stripe.com/v3/}"
fi

# The analytics service's data lake (Parquet), under var/ unless set.
export LAKE_URL="${LAKE_URL:-$VAR/lake/$PLATFORM_ID}"

for s in "${SERVICES[@]}"; do
  # Each private key goes to the one service that signs with it.
  case "$s" in
    security) keys=(-u TICKET_SIGNING_KEY JWT_SIGNING_KEY="$JWT_SIGNING_KEY") ;;
    reservations) keys=(-u JWT_SIGNING_KEY) ;;
    *) keys=(-u JWT_SIGNING_KEY -u TICKET_SIGNING_KEY) ;;
  esac
  env "${keys[@]}" "$BIN/$s" >"$VAR/log/$PLATFORM_ID/$s.log" 2>&1 &
  PIDS+=($!)
done

declare -A PORTS=([shop]=3000 [shop-consumer]=3010 [reservations]=3020 [payments]=3040 [security]=3050 [analytics]=3060 [web]=9000)
for s in "${SERVICES[@]}"; do
  port=$((PORTS[$s] + PORT_OFFSET))
  ok=""
  for ((i = 0; i < 300; i++)); do
    if curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
  done
  if [ -z "$ok" ]; then
    log "$s is not ready on port $port; its log:"
    tail -20 "$VAR/log/$PLATFORM_ID/$s.log" >&2
    exit 1
  fi
done

if [ "${PUBLISH_MASTERLIST:-1}" = 1 ]; then
  # In the background and waited for: bash runs a trap only once the
  # foreground command ends, so Ctrl-C during a slow publish would wait for
  # it (up to its produce time-out); `wait` is interrupted at once.
  "$BIN/publish-masterlist" &
  PUBLISH_PID=$!
  wait "$PUBLISH_PID"
  PUBLISH_PID=""
fi

shop=$((3000 + PORT_OFFSET))
for ((i = 0; i < 100; i++)); do
  n="$(curl -fsS "http://127.0.0.1:$shop/api/matches" 2>/dev/null | grep -o '"matchNumber"' | wc -l || true)"
  [ "$n" -ge 64 ] && break
  sleep 0.1
done

cat <<INFO

ticktak platform '$PLATFORM_ID' is up (logs in var/log/$PLATFORM_ID/):
  web site       http://127.0.0.1:$((9000 + PORT_OFFSET))/   (admins: /admin; staff: /checkin)
  shop           http://127.0.0.1:$shop/api/matches   /api/recommendations   (OpenAPI: /api/openapi.json)
  shop-consumer  http://127.0.0.1:$((3010 + PORT_OFFSET))/health
  reservations   http://127.0.0.1:$((3020 + PORT_OFFSET))/api/reservations   (OpenAPI: /api/openapi.json)
  payments       http://127.0.0.1:$((3040 + PORT_OFFSET))/api/payments   (OpenAPI: /api/openapi.json)
  security       http://127.0.0.1:$((3050 + PORT_OFFSET))/api/auth/register   (OpenAPI: /api/openapi.json)
  analytics      http://127.0.0.1:$((3060 + PORT_OFFSET))/api/admin/stats   (admins; lake in ${LAKE_URL#$ROOT/})
  broker         $KAFKA_BROKERS   database  ${DATABASE_URL##*@}
  Stripe         ${STRIPE_SECRET_KEY:+api.stripe.com}${STRIPE_SECRET_KEY:-stand-in http://127.0.0.1:8420}
  e-mail         ${SMTP_URL:+$SMTP_URL}${SMTP_URL:-maildev http://127.0.0.1:1080 (GET /email)}
Every service also serves /ready and /metrics. Ctrl-C stops everything.
Up in $(((SECONDS - UP_STARTED) / 60)) min $(((SECONDS - UP_STARTED) % 60)) s, on the $PROFILE build.
INFO
if [ -n "${FIRST_START:-}" ]; then
  cat <<INFO
This first start runs on development builds (slower, the same behaviour).
The release builds run in the background at the lowest priority (about 40
minutes; log: var/log/release-builds.log; they go on after Ctrl-C); the next
\`make up\` after they finish starts on them.
INFO
fi

# Stop when any service dies, or on Ctrl-C/SIGTERM.
wait -n "${PIDS[@]}" || true
log "a service exited; see var/log/$PLATFORM_ID/"
stop_all
