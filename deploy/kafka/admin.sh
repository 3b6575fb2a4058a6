#!/bin/sh
# Run a Kafka tool as the broker's administrator: writes the SASL client
# settings (from KAFKA_ADMIN_PASSWORD) and passes them to the tool.
set -eu
conf=/tmp/ticktak-admin.properties
cat > "$conf" <<CONF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD}";
CONF
tool="$1"
shift
case "$tool" in
  *kafka-broker-api-versions.sh|*kafka-topics.sh) exec "$tool" "$@" --command-config "$conf" ;;
  *) exec "$tool" "$@" ;;
esac
