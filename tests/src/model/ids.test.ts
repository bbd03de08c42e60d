import { describe, expect, it } from 'vitest';
import { createIdSource, pooledRandomBytes, seededRandom, type RandomBytes } from '../../../src/model/ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const T0 = Date.UTC(2024, 4, 1, 8, 0, 0);

const hexOf = (id: string) => id.replaceAll('-', '');
/** The millisecond an id carries. */
const timeOf = (id: string) => parseInt(hexOf(id).slice(0, 12), 16);
/** The 42 bits after the version that order ids within one millisecond (rand_a, then rand_b's top 30). */
const counterOf = (id: string) => {
  const hex = hexOf(id);
  return parseInt(hex.slice(13, 16), 16) * 2 ** 30 + (parseInt(hex.slice(16, 24), 16) & 0x3fffffff);
};

describe('createIdSource', () => {
  it('makes UUIDv7 ids (RFC 9562) carrying the millisecond time, strictly increasing within one millisecond', () => {
    const ids = createIdSource({ now: () => T0 });
    const made = Array.from({ length: 5_000 }, () => ids.next());
    for (const id of made) expect(id).toMatch(UUID_V7);
    expect(timeOf(made[0]!)).toBe(T0);
    expect([...made].sort()).toEqual(made);
    expect(new Set(made).size).toBe(made.length);
  });

  it('does not tell how many ids were drawn before one in its millisecond: a random first counter, random steps', () => {
    // A local output sees the events stored beside a duress withheld from it: their ids must not count it.
    const firsts = new Set<string>();
    const steps = new Set<number>();
    for (let ms = 0; ms < 100; ms++) {
      const ids = createIdSource({ now: () => T0 + ms });
      const [first, second] = [ids.next(), ids.next()];
      firsts.add(first.slice(15, 18)); // rand_a, the counter's top 12 bits: once 000 for every millisecond's first id
      steps.add(counterOf(second) - counterOf(first));
    }
    expect(firsts.size).toBeGreaterThan(90);
    expect(steps.size).toBeGreaterThan(95);
    expect(Math.min(...steps)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...steps)).toBeLessThanOrEqual(2 ** 24);
  });

  it('borrows the next millisecond when the counter has no room left, still in order', () => {
    // The largest seed and steps there are: the millisecond holds the seed and 2^17 steps.
    const ids = createIdSource({ now: () => T0 }, (size) => new Uint8Array(size).fill(0xff));
    const made = Array.from({ length: 2 ** 17 + 3 }, () => ids.next());
    expect(made.map(timeOf).slice(-3)).toEqual([T0, T0 + 1, T0 + 1]);
    for (const id of made.slice(-3)) expect(id).toMatch(UUID_V7);
    for (let i = 1; i < made.length; i++) expect(made[i]! > made[i - 1]!).toBe(true);
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
