import { performance } from 'node:perf_hooks';
import { decodeContactId, encodeContactId } from '../../src/codecs/contact-id.js';
import { decodeSurgard, encodeSurgardContactId } from '../../src/codecs/surgard.js';

const RUN_MS = 500;
const BATCH = 1_000;

/** A varied, valid input set, so the figure is not one cached path. */
function sampleFields(index: number) {
  const qualifier = (['1', '3', '6'] as const)[index % 3] ?? '1';
  return {
    qualifier,
    event: String(100 + (index % 800)).padStart(3, '0'),
    group: String(index % 100).padStart(2, '0'),
    ccc: String(index % 1000).padStart(3, '0'),
  };
}

/** Decodes the inputs in a loop for about RUN_MS and returns messages per second. */
function throughput(inputs: readonly (string | Uint8Array)[], decode: (input: string | Uint8Array) => { ok: boolean }): number {
  let decoded = 0;
  let failures = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < RUN_MS) {
    for (let i = 0; i < BATCH; i++) {
      if (!decode(inputs[(decoded + i) % inputs.length] ?? '').ok) failures++;
    }
    decoded += BATCH;
    elapsed = performance.now() - start;
  }
  if (failures > 0) throw new Error(`benchmark inputs failed to decode ${failures} times`);
  return Math.round((decoded / elapsed) * 1000);
}

export async function benchContactId(): Promise<Array<{ name: string; value: number; unit: string }>> {
  const messages = Array.from({ length: 256 }, (_, i) =>
    encodeContactId({ account: String(1000 + i), messageType: '18', ...sampleFields(i) }),
  );
  const packets = Array.from({ length: 256 }, (_, i) =>
    Buffer.from(
      encodeSurgardContactId({ receiver: '01', line: '100', account: String(1000 + i), fields: sampleFields(i) }),
      'latin1',
    ),
  );
  return [
    {
      name: 'Contact ID decode (16-digit messages)',
      value: throughput(messages, (input) => decodeContactId(input as string)),
      unit: 'messages/s',
    },
    {
      name: 'Sur-Gard protocol 5 decode (bytes with DC4)',
      value: throughput(packets, (input) => decodeSurgard(input)),
      unit: 'messages/s',
    },
  ];
}
