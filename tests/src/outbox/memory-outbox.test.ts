import { describe, expect, it, vi } from 'vitest';
import { eventJson } from '../../../src/model/event-json.js';
import { DEDUPE_CAPACITY } from '../../../src/outbox/outbox-shared.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { FakeClock, outboxTestEvent } from '../../helpers/outbox-events.js';

const T0 = Date.UTC(2024, 4, 1, 8, 0, 0);

describe('MemoryOutbox: what it keeps for dedupe', () => {
  it('gives back the texts it stored, any character included, and finds keys exactly (a lone surrogate too)', async () => {
    const clock = new FakeClock(T0);
    const outbox = new MemoryOutbox({ clock });
    const first = outboxTestEvent({ id: 'e1', account: '1234', receivedAt: T0 });
    first.reasons = ['zone "Büro" — 東京\n\ud800 lone', 'ok'];
    const second = outboxTestEvent({ id: 'e2', account: '1234', duress: true, receivedAt: T0 });
    const key = 'dc09|panels|1234|\ud800|é';
    const stored = await outbox.append([first, second], { dedupeKey: key });
    await outbox.append([outboxTestEvent({ id: 'e3', account: '1234', receivedAt: T0 })], { dedupeKey: 'dc09|panels|1234|\ufffd|é' });
    const again = outbox.storedUnder(key);
    expect(again?.map((entry) => entry.seq)).toEqual(stored.entries.map((entry) => entry.seq));
    expect(again?.map((entry) => eventJson(entry.event))).toEqual([eventJson(first), eventJson(second)]);
    expect(outbox.storedUnder('dc09|panels|1234|\ufffd|é')?.map((entry) => entry.event.id)).toEqual(['e3']);
    expect([outbox.hasStored(key), outbox.hasStored('dc09|panels|1234|\ufffd|é'), outbox.hasStored('dc09|panels|1234|\ufffe|é')]).toEqual([true, true, false]);
  });

  it('tells a stored key without reading its texts back', async () => {
    const outbox = new MemoryOutbox({ clock: new FakeClock(T0) });
    await outbox.append([outboxTestEvent({ id: 'e1', account: '1234', receivedAt: T0 })], { dedupeKey: 'frame-1' });
    const parse = vi.spyOn(JSON, 'parse');
    try {
      expect(outbox.hasStored('frame-1')).toBe(true);
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
  });

  it('keeps finding appends across many arena chunks, one larger than a chunk among them, freed and written again as the capacity forgets them', async () => {
    const clock = new FakeClock(T0);
    const outbox = new MemoryOutbox({ clock });
    const large = outboxTestEvent({ id: 'large', account: '1234', receivedAt: T0 });
    large.reasons = ['x'.repeat(5 << 20)];
    await outbox.append([large], { dedupeKey: 'large' });
    const texts = 'y'.repeat(2_000);
    // Past the capacity by enough 2 KB texts that chunks are freed and written again.
    for (let i = 0; i < DEDUPE_CAPACITY + 10_000; i++) {
      const event = outboxTestEvent({ id: `e${i}`, account: '1234', receivedAt: T0 });
      event.reasons = [texts];
      await outbox.append([event], { dedupeKey: `frame-${i}` });
      if (i === 10) expect(outbox.storedUnder('large')?.[0]?.event.reasons[0]).toHaveLength(5 << 20);
    }
    expect(outbox.storedUnder('large')).toBeUndefined();
    expect(outbox.storedUnder('frame-9999')).toBeUndefined();
    for (const i of [10_000, 10_001, 54_321, DEDUPE_CAPACITY + 9_999]) {
      expect(outbox.storedUnder(`frame-${i}`)?.map((entry) => entry.event.id)).toEqual([`e${i}`]);
    }
  });
});

describe('MemoryOutbox with no output registered (a dry run)', () => {
  it('stores and dedupes with nothing pending, and an output registered later starts at the head', async () => {
    const outbox = new MemoryOutbox({ clock: new FakeClock(T0) });
    const event = (id: string) => outboxTestEvent({ id, account: '1234', receivedAt: T0 });
    const first = await outbox.append([event('e1'), event('e2')], { dedupeKey: 'frame-1' });
    expect(first.entries.map((entry) => entry.seq)).toEqual([1, 2]);
    expect(await outbox.append([event('e1-again')], { dedupeKey: 'frame-1' })).toEqual({ duplicate: true, entries: first.entries });
    expect(outbox.storage()).toEqual({ entries: 2, oldestStoredAt: T0 });
    expect(outbox.maxBacklog()).toBe(0);

    outbox.registerOutputs(['late']);
    const later = await outbox.append([event('e3')]);
    expect(later.entries.map((entry) => entry.seq)).toEqual([3]);
    expect(outbox.pending('late', 10)).toEqual(later.entries);
    expect(outbox.backlog('late')).toBe(1);
  });
});
