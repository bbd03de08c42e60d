import { describe, expect, it } from 'vitest';
import { createIdSource, pooledRandomBytes, seededRandom, type RandomBytes } from '../../../src/model/ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const T0 = Date.UTC(2024, 4, 1, 8, 0, 0);

const hexOf = (id: string) => id.replaceAll('-', '');
/** The millisecond an id carries. */
const timeOf = (id: string) => parseInt(hexOf(id).slice(0, 12), 16);

describe('createIdSource', () => {
  it('makes unique UUIDv7 ids (RFC 9562) carrying the millisecond time', () => {
    let now = T0;
    const ids = createIdSource({ now: () => now });
    const made = Array.from({ length: 5_000 }, (_, i) => ((now = T0 + Math.floor(i / 1_000)), ids.next()));
    for (const id of made) expect(id).toMatch(UUID_V7);
    expect(made.map(timeOf)).toEqual(made.map((_, i) => T0 + Math.floor(i / 1_000)));
    expect(new Set(made).size).toBe(made.length);
  });

  it('does not tell how many ids were drawn before one in its millisecond: everything after the time is random', () => {
    // A local output sees the events stored beside a duress withheld from it: their ids must not count it.
    const ids = createIdSource({ now: () => T0 });
    const made = Array.from({ length: 2_000 }, () => ids.next());
    // Within the millisecond, an id is as likely to sort before the one drawn just before it as after it.
    const descents = made.slice(1).filter((id, i) => id < made[i]!).length;
    expect(descents).toBeGreaterThan(850);
    expect(descents).toBeLessThan(1_150);
    // rand_a, once a counter starting at 000 in every millisecond, takes every value.
    expect(new Set(made.map((id) => id.slice(15, 18))).size).toBeGreaterThan(1_500);
  });

  it('asks an injected source for 16 bytes per id, so a seeded source gives the same ids every time', () => {
    const sizes: number[] = [];
    const recording = (seed: number): RandomBytes => {
      const random = seededRandom(seed);
      return (size) => (sizes.push(size), random(size));
    };
    const run = () => {
      const ids = createIdSource({ now: () => T0 }, recording(9));
      return [ids.next(), ids.next(), ids.next()];
    };
    const first = run();
    expect(run()).toEqual(first);
    expect(sizes).toEqual([16, 16, 16, 16, 16, 16]);
  });
});

describe('seededRandom', () => {
  // Replays' ids and the --expect files made from them depend on this exact stream.
  it('gives a fixed stream per seed, the same however the draws are split', () => {
    const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
    const split = seededRandom(7);
    expect([hex(split(5)), hex(split(11))]).toEqual(['e7074345ff', '94ba57af0afde4a8fe4535']);
    expect(hex(seededRandom(7)(16))).toBe('e7074345ff94ba57af0afde4a8fe4535');
  });
});

describe('pooledRandomBytes', () => {
  it('serves slices of one system draw per pool, never overwriting a slice already handed out', () => {
    const random = pooledRandomBytes(64);
    const first = random(16);
    const copy = Buffer.from(first);
    const later = Array.from({ length: 20 }, () => Buffer.from(random(16))); // five refills
    expect(Buffer.from(first)).toEqual(copy);
    const all = [copy, ...later].map((b) => b.toString('hex'));
    expect(new Set(all).size).toBe(all.length);
    expect(later.every((b) => b.length === 16)).toBe(true);
  });

  it('serves a draw larger than the pool on its own', () => {
    const random = pooledRandomBytes(32);
    const big = random(100);
    expect(big.length).toBe(100);
    expect(new Set(big).size).toBeGreaterThan(1);
  });
});
