import { decodeDc09Frame, encodeDc09Frame } from '../../src/codecs/dc09/frame.js';
import type { Dc09DecodeOptions } from '../../src/codecs/dc09/frame.js';
import { type BenchFigure } from './figures.js';

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');
const AES_128_KEY = latin1('0123456789ABCDEF');

/** Decodes `frame` in batches for about `durationMs` and returns frames per second. */
function decodeRate(frame: Uint8Array, options: Dc09DecodeOptions, durationMs: number): number {
  const batch = 1000;
  let decoded = 0;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(durationMs) * 1_000_000n;
  let now = started;
  while (now < deadline) {
    for (let i = 0; i < batch; i++) {
      if (!decodeDc09Frame(frame, options).ok) throw new Error('benchmark frame failed to decode');
    }
    decoded += batch;
    now = process.hrtime.bigint();
  }
  return Math.round(decoded / (Number(now - started) / 1e9));
}

/** Decode throughput on one core for the three frame kinds a receiver mostly sees. */
export async function benchDc09(durationMs = 1000): Promise<BenchFigure[]> {
  // home-assistant/core#88474 (Ajax) and #131728 (ADM-CID) captures.
  const plainSia = latin1('\n14AB0039"SIA-DCS"0006L0#AAA[#AAA|Nri0/RP0000]_09:12:30,02-20-2023\r');
  const plainCid = latin1('\n77880027"ADM-CID"0068R0L0#AAA[#AAA|3401 01 070]\r');
  // Shaped like the Ajax *SIA-DCS of eavanvalkenburg/sia#28: 48 bytes of ciphertext.
  const encryptedSia = encodeDc09Frame({
    token: 'SIA-DCS', encrypted: true, seq: '7549', line: '0', account: 'CEA', dataAccount: 'CEA', data: 'Nri0/RP0000',
    timestamp: Date.UTC(2020, 8, 1, 10, 3), key: AES_128_KEY, random: (n) => new Uint8Array(n).fill(0x2d),
  });
  const keyFor = (): Uint8Array => AES_128_KEY;
  return [
    { name: 'dc09 decode plain SIA-DCS', value: decodeRate(plainSia, {}, durationMs), unit: 'frames/s' },
    { name: 'dc09 decode plain ADM-CID', value: decodeRate(plainCid, {}, durationMs), unit: 'frames/s' },
    { name: 'dc09 decode AES-128 *SIA-DCS', value: decodeRate(encryptedSia, { keyFor }, durationMs), unit: 'frames/s' },
  ];
}
