// node peer.mjs BROKER TOPIC MESSAGES_JSON
//
// Another team's platform, written with KafkaJS and its default
// partitioner: sends each message of MESSAGES_JSON (an array of course-format
// bodies) without a key and without headers, one after another, so KafkaJS
// spreads them over the partitions. Prints the partition of each.

import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';

const [broker, topic, file] = process.argv.slice(2);
const bodies = JSON.parse(readFileSync(file, 'utf8'));
const kafka = new Kafka({ clientId: 'kafkajs-peer', brokers: [broker], logLevel: logLevel.ERROR });
const producer = kafka.producer({ allowAutoTopicCreation: false });
await producer.connect();
const partitions = [];
for (const body of bodies) {
  const [sent] = await producer.send({ topic, acks: -1, messages: [{ value: JSON.stringify(body) }] });
  partitions.push(sent.partition);
}
await producer.disconnect();
console.log(JSON.stringify({ partitions }));
