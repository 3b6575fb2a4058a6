#!/bin/sh
# The shared topics and every principal's ACLs on a market's broker
# (README, "The broker's users and ACLs"). Idempotent: run it again after
# adding a platform to PLATFORMS.
#   TOPIC_PREFIX, TOPIC_ENV   the market's topic names
#   PLATFORMS                 the approved platforms' ids, space-separated;
#                             platform X's principal is User:platform-X
# The organisers' principal is User:organisers.
set -eu
bin=/opt/kafka/bin
conf=/tmp/ticktak-admin.properties
cat > "$conf" <<CONF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD}";
CONF
server="--bootstrap-server kafka:9092 --command-config $conf"
masterlist="$TOPIC_PREFIX-masterlist-$TOPIC_ENV"
schedule="$TOPIC_PREFIX-sale-schedule-$TOPIC_ENV"
sales="$TOPIC_PREFIX-ticket-sales-$TOPIC_ENV"
admissions="$TOPIC_PREFIX-ticket-admissions-$TOPIC_ENV"
queue_lengths="$TOPIC_PREFIX-queue-lengths-$TOPIC_ENV"
draws="$TOPIC_PREFIX-draws-$TOPIC_ENV"

# The shared topics, kept forever: a new platform reads them from offset 0.
for topic in "$masterlist" "$schedule" "$sales" "$admissions" "$draws"; do
  $bin/kafka-topics.sh $server --create --if-not-exists --topic "$topic" --partitions 3 \
    --config retention.ms=-1 --config retention.bytes=-1
done
# The waiting rooms' queue lengths only matter for seconds: kept an hour.
$bin/kafka-topics.sh $server --create --if-not-exists --topic "$queue_lengths" --partitions 3 \
  --config retention.ms=3600000
acl() { $bin/kafka-acls.sh $server --add --force "$@"; }

# The organisers write the master list and the sale schedule; nobody else does.
acl --allow-principal User:organisers --operation Write --operation Describe --operation Create \
  --topic "$masterlist" --topic "$schedule"
# The draws: the organisers' terms and seeds beside the platforms' applications.
acl --allow-principal User:organisers --operation Read --operation Write --operation Describe --operation Create \
  --topic "$draws"
acl --allow-principal User:organisers --operation IdempotentWrite --cluster

for id in $PLATFORMS; do
  p="User:platform-$id"
  # Read every shared topic; write sales, gate events, queue lengths and draw applications (what a message
  # claims is checked by its signature, not by the principal).
  acl --allow-principal "$p" --operation Read --operation Describe --operation Create \
    --topic "$masterlist" --topic "$schedule"
  acl --allow-principal "$p" --operation Read --operation Write --operation Describe --operation Create \
    --topic "$sales" --topic "$admissions" --topic "$queue_lengths" --topic "$draws"
  # Its own bookings topic, and its own consumer groups.
  acl --allow-principal "$p" --operation All --resource-pattern-type prefixed --topic "$TOPIC_PREFIX-bookings-$id-"
  acl --allow-principal "$p" --operation Read --operation Describe --resource-pattern-type prefixed --group "ticktak-$id-"
  # Idempotent producers.
  acl --allow-principal "$p" --operation IdempotentWrite --cluster
done
echo "topics and ACLs in place for: organisers, $PLATFORMS"
