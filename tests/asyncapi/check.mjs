// node check.mjs ASYNCAPI_FILE [SAMPLES_JSON]
//
// Parses and validates the AsyncAPI document with the official parser
// (file references resolved), then validates each sample — {"message":
// "TicketSale", "key": "...", "headers": {...}, "payload": {...}} — against
// that message's payload, headers and Kafka key schemas. Prints every
// problem; exits 1 when there is one.

import { readFileSync } from 'node:fs';
import { Parser, fromFile } from '@asyncapi/parser';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

const [docPath, samplesPath] = process.argv.slice(2);
const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, docPath).parse();
const errors = diagnostics.filter((d) => d.severity === 0);
for (const d of errors) {
  console.error(`${docPath}: ${d.path.join('.')}: ${d.message}`);
}
if (!document || errors.length > 0) {
  process.exit(1);
}

const messages = new Map(document.allMessages().all().map((m) => [m.name() ?? m.id(), m]));
console.log(`${docPath}: valid; messages ${[...messages.keys()].join(', ')}`);
if (!samplesPath) {
  process.exit(0);
}

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
const samples = JSON.parse(readFileSync(samplesPath, 'utf8'));
let failed = 0;
for (const [i, sample] of samples.entries()) {
  const message = messages.get(sample.message);
  if (!message) {
    console.error(`sample ${i}: no message ${sample.message} in the document`);
    failed++;
    continue;
  }
  const checks = [['payload', message.payload()?.json(), sample.payload]];
  if (message.headers()) checks.push(['headers', message.headers().json(), sample.headers ?? {}]);
  const key = message.bindings().get('kafka')?.json()?.key;
  if (key) checks.push(['key', key, sample.key]);
  for (const [part, schema, value] of checks) {
    const { $schema, ...rest } = schema ?? {};
    const validate = ajv.compile(rest);
    if (!validate(value)) {
      console.error(`sample ${i} (${sample.message}) ${part} ${JSON.stringify(value)}: ${ajv.errorsText(validate.errors)}`);
      failed++;
    }
  }
}
console.log(`${samples.length - failed} of ${samples.length} samples valid`);
process.exit(failed > 0 ? 1 : 0);
