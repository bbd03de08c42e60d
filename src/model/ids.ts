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

/** The bits after the version that order ids within one millisecond: rand_a (12) and the top 30 of rand_b. */
const COUNTER_LIMIT = 2 ** 42;
/** A millisecond's first counter is below this, so at least 2^41 of room is left for its later ids. */
const COUNTER_SEED_LIMIT = 2 ** 41;
const COUNTER_LOW_BITS = 2 ** 30;

/**
 * UUIDv7 (RFC 9562): 48-bit millisecond time, then a 42-bit counter, then 32 random bits, so ids sort by time and
 * are strictly increasing. The counter is "monotonic random" (§6.2, method 2): seeded at random in each new
 * millisecond and stepped by a random 1 to 2^24, so an id does not tell how many ids were drawn before it in its
 * millisecond (a local output must not learn of a duress stored beside its own events). Past the counter's room
 * (at least 2^17 ids in one millisecond) the next millisecond is borrowed rather than the ordering broken.
 * `random` defaults to a pooled system source; replays and tests pass a seeded one, which is asked for 16 bytes per
 * id: the seed or step comes from the 6 bytes the time then overwrites.
 */
export function createIdSource(clock: Clock, random: RandomBytes = pooledRandomBytes()): IdSource {
  let lastMs = -1;
  let counter = 0;
  const bytes = Buffer.alloc(ID_RANDOM_BYTES);
  const text = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1');
  return {
    next() {
      bytes.set(random(ID_RANDOM_BYTES));
      let ms = Math.max(clock.now(), lastMs);
      counter = ms === lastMs ? counter + 1 + bytes.readUIntBE(0, 3) : bytes.readUIntBE(0, 6) % COUNTER_SEED_LIMIT;
      if (counter >= COUNTER_LIMIT) {
        ms += 1;
        counter = bytes.readUIntBE(0, 6) % COUNTER_SEED_LIMIT;
      }
      lastMs = ms;
      const high = Math.floor(counter / COUNTER_LOW_BITS);
      const low = counter % COUNTER_LOW_BITS;
      bytes.writeUIntBE(ms, 0, 6);
      bytes[6] = 0x70 | (high >> 8);
      bytes[7] = high & 0xff;
      bytes[8] = 0x80 | (low >>> 24);
      bytes.writeUIntBE(low & 0xffffff, 9, 3);
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
