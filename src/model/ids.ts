import { randomFillSync } from 'node:crypto';
import type { Clock } from '../ports.js';

export type RandomBytes = (size: number) => Uint8Array;

export interface IdSource {
  next(): string;
}

const ID_RANDOM_BYTES = 16;
/** Random bytes drawn from the system at a time: one call per 256 ids rather than one per id. */
const RANDOM_POOL_BYTES = 4096;

/**
 * Cryptographic random bytes served from a pool refilled `poolBytes` at a time. Each refill takes a fresh
 * buffer, so a slice handed out earlier is never overwritten.
 */
export function pooledRandomBytes(poolBytes = RANDOM_POOL_BYTES): RandomBytes {
  let pool = Buffer.alloc(0);
  let offset = 0;
  return (size) => {
    if (size > poolBytes) return randomFillSync(Buffer.allocUnsafe(size));
    if (offset + size > pool.length) {
      pool = randomFillSync(Buffer.allocUnsafe(poolBytes));
      offset = 0;
    }
    offset += size;
    return pool.subarray(offset - size, offset);
  };
}

/**
 * UUIDv7 (RFC 9562 §5.7): 48-bit millisecond time, then 74 random bits (rand_a and rand_b), so ids sort by time to
 * the millisecond and say nothing else. Not the optional counter of §6.2: whatever its steps, a counter lets a local
 * output infer from the ids it sees that ids were drawn between them in their millisecond, for a duress stored
 * beside its own events; ids of one millisecond are ordered by their outbox seq, never by the id.
 * `random` defaults to a pooled system source; replays and tests pass a seeded one, which is asked for 16 bytes per
 * id (the time overwrites the first 6).
 */
export function createIdSource(clock: Clock, random: RandomBytes = pooledRandomBytes()): IdSource {
  const bytes = Buffer.alloc(ID_RANDOM_BYTES);
  const text = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1');
  return {
    next() {
      bytes.set(random(ID_RANDOM_BYTES));
      bytes.writeUIntBE(clock.now(), 0, 6);
      bytes[6] = 0x70 | (bytes[6]! & 0x0f);
      bytes[8] = 0x80 | (bytes[8]! & 0x3f);
      return formatUuid(bytes, text);
    },
  };
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** Where each of the 16 bytes' two hex digits go in `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
const UUID_OFFSETS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/**
 * The bytes written as hex into `text` (whose hyphens are in place), read out as one flat string: ids live as
 * long as their event, and slicing and joining a hex string left five pieces and the joins behind each one.
 */
function formatUuid(bytes: Uint8Array, text: Buffer): string {
  for (let i = 0; i < 16; i++) {
    const byte = bytes[i]!;
    const at = UUID_OFFSETS[i]!;
    text[at] = HEX_DIGITS[byte >> 4]!;
    text[at + 1] = HEX_DIGITS[byte & 0x0f]!;
  }
  return text.toString('latin1');
}

/**
 * Deterministic random source (xorshift32) for replays and tests. The state is stepped in a local and stored back
 * once a call: a uint32 above 2^30 is not a small integer, so every store to the closure's variable allocated.
 */
export function seededRandom(seed: number): RandomBytes {
  let state = seed >>> 0 || 0x9e3779b9;
  return (size) => {
    const out = new Uint8Array(size);
    let x = state;
    for (let i = 0; i < size; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      out[i] = x & 0xff;
    }
    state = x;
    return out;
  };
}
