import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isGatewayError } from '../../../src/errors.js';
import { DEAD_LETTER_RETRY_LIMIT, type Outbox, type OutboxEntry } from '../../../src/outbox/outbox.js';
import { DEDUPE_CAPACITY } from '../../../src/outbox/outbox-shared.js';
import { FakeClock, outboxTestEvent } from '../../helpers/outbox-events.js';

export const CONTRACT_DEDUPE_WINDOW_MS = 60_000;

export interface OutboxBuildOptions {
  clock: FakeClock;
  dedupeWindowMs: number;
}

export interface OutboxUnderTest {
  outbox: Outbox;
  /** Closes the outbox and opens the same store again (durable implementations only). */
  reopen?: () => Promise<Outbox>;
  /** Makes every write fail until the returned restore function runs (implementations with a failing medium). */
  breakWrites?: () => () => void;
  /** Releases temp files; the suite has already closed the outbox. */
  dispose?: () => Promise<void>;
}

const seqsOf = (entries: readonly OutboxEntry[]): number[] => entries.map((entry) => entry.seq);
const idsOf = (entries: readonly OutboxEntry[]): string[] => entries.map((entry) => entry.event.id);

/**
 * The behaviour every Outbox must have (after MQTT.js's abstract_store.ts): run it once per implementation.
 * `build` gets the clock and dedupe window to use, so windows can be crossed without waiting.
 */
export function outboxContract(name: string, build: (options: OutboxBuildOptions) => Promise<OutboxUnderTest>): void {
  describe(`Outbox contract: ${name}`, () => {
    let clock: FakeClock;
    let subject: OutboxUnderTest;
    let outbox: Outbox;

    const event = (id: string, account: string | null = '1234', duress = false) =>
      outboxTestEvent({ id, account, duress, receivedAt: clock.now() });

    beforeEach(async () => {
      clock = new FakeClock();
      subject = await build({ clock, dedupeWindowMs: CONTRACT_DEDUPE_WINDOW_MS });
      outbox = subject.outbox;
    });

    afterEach(async () => {
      outbox.close();
      await subject.dispose?.();
    });

    it('stores appended events and lists them as pending in seq order', async () => {
      outbox.registerOutputs(['mqtt']);
      const first = await outbox.append([event('e1')]);
      const second = await outbox.append([event('e2', '5678')]);

      expect(first.duplicate).toBe(false);
      expect(second.entries[0]!.seq).toBeGreaterThan(first.entries[0]!.seq);
      const pending = outbox.pending('mqtt', 10);
      expect(pending).toEqual([...first.entries, ...second.entries]);
      expect(pending[1]!.event).toEqual(event('e2', '5678'));
    });

    it('stores what is queued when told to commit, without waiting for the end of the turn', async () => {
      outbox.registerOutputs(['mqtt']);
      const settled: string[] = [];
      const appends = ['c1', 'c2'].map((id) => outbox.append([event(id)]).then(() => settled.push(id)));
      outbox.commitQueued();
      // Microtasks only: a commit left to the end of the turn (setImmediate) would not have run yet.
      for (let i = 0; i < 5; i++) await Promise.resolve();
      expect(settled).toEqual(['c1', 'c2']);
      expect(outbox.backlog('mqtt')).toBe(2);
      await Promise.all(appends);
    });

    it('starts a newly registered output at the current head and ignores unknown outputs', async () => {
      outbox.registerOutputs(['mqtt']);
      await outbox.append([event('before')]);
      outbox.registerOutputs(['mqtt', 'webhook']);
      const after = await outbox.append([event('after')]);

      expect(idsOf(outbox.pending('mqtt', 10))).toEqual(['before', 'after']);
      expect(outbox.pending('webhook', 10)).toEqual(after.entries);
      expect(outbox.pending('never-registered', 10)).toEqual([]);
      expect(outbox.backlog('never-registered')).toBe(0);
    });

    it('stores a retransmit once inside the dedupe window and again after it', async () => {
      outbox.registerOutputs(['mqtt']);
      const original = await outbox.append([event('e1'), event('e2')], { dedupeKey: 'rcv1/L1/1234/0042' });
      clock.advance(CONTRACT_DEDUPE_WINDOW_MS - 1);
      const retransmit = await outbox.append([event('e1-again'), event('e2-again')], { dedupeKey: 'rcv1/L1/1234/0042' });

      expect(retransmit).toEqual({ duplicate: true, entries: original.entries });
      expect(outbox.backlog('mqtt')).toBe(2);

      clock.advance(1);
      const late = await outbox.append([event('e1-late')], { dedupeKey: 'rcv1/L1/1234/0042' });
      expect(late.duplicate).toBe(false);
      expect(idsOf(outbox.pending('mqtt', 10))).toEqual(['e1', 'e2', 'e1-late']);
    });

    it('after the clock is stepped back (NTP fixing a clock that ran hours fast), stores a new frame whose key repeats one stored "later"', async () => {
      outbox.registerOutputs(['mqtt']);
      // A panel that numbers its frames from 0001 again after a restart sends the same hold-up under the same key.
      await outbox.append([event('holdup-1')], { dedupeKey: 'rcv1/L1/1234/0001' });
      clock.advance(-3 * 3_600_000);
      clock.advance(30 * 60_000);
      const again = await outbox.append([event('holdup-2')], { dedupeKey: 'rcv1/L1/1234/0001' });

      expect(again.duplicate).toBe(false);
      expect(idsOf(outbox.pending('mqtt', 10))).toEqual(['holdup-1', 'holdup-2']);
      expect(outbox.storedUnder('rcv1/L1/1234/0001')).toEqual(again.entries);
    });

    it('dedupes retransmits that arrive together, before either is stored', async () => {
      outbox.registerOutputs(['mqtt']);
      const [first, second, other] = await Promise.all([
        outbox.append([event('e1')], { dedupeKey: 'k' }),
        outbox.append([event('e1-again')], { dedupeKey: 'k' }),
        outbox.append([event('e3')], { dedupeKey: 'other' }),
      ]);

      expect(first.duplicate).toBe(false);
      expect(second).toEqual({ duplicate: true, entries: first.entries });
      expect(other.duplicate).toBe(false);
      expect(idsOf(outbox.pending('mqtt', 10))).toEqual(['e1', 'e3']);
    });

    it('names the entries stored under a dedupe key within the window, and nothing before or after', async () => {
      outbox.registerOutputs(['mqtt']);
      expect(outbox.storedUnder('frame-1')).toBeUndefined();
      const first = await outbox.append([event('e1')], { dedupeKey: 'frame-1' });
      expect(outbox.storedUnder('frame-1')).toEqual(first.entries);
      expect(outbox.storedUnder('frame-2')).toBeUndefined();
      clock.advance(CONTRACT_DEDUPE_WINDOW_MS);
      expect(outbox.storedUnder('frame-1')).toBeUndefined();
    });

    it('says whether entries are stored under a dedupe key exactly when storedUnder names them', async () => {
      expect(outbox.hasStored('frame-1')).toBe(false);
      await outbox.append([event('e1'), event('e2')], { dedupeKey: 'frame-1' });
      await outbox.append([event('e3')], { dedupeKey: 'frame-3' });
      expect(outbox.hasStored('frame-1')).toBe(true);
      expect(outbox.hasStored('frame-3')).toBe(true);
      expect(outbox.hasStored('frame-2')).toBe(false);
      clock.advance(CONTRACT_DEDUPE_WINDOW_MS);
      expect(outbox.hasStored('frame-1')).toBe(false);
      expect(outbox.storedUnder('frame-1')).toBeUndefined();
    });

    it(`remembers at most ${DEDUPE_CAPACITY} keyed appends within the window, forgetting the oldest first`, async () => {
      const appends = Array.from({ length: DEDUPE_CAPACITY + 1 }, (_, i) => outbox.append([event(`e${i}`)], { dedupeKey: `frame-${i}` }));
      await Promise.all(appends);
      expect(outbox.storedUnder('frame-0')).toBeUndefined();
      expect(outbox.hasStored('frame-0')).toBe(false);
      expect(outbox.hasStored('frame-1')).toBe(true);
      expect(idsOf(outbox.storedUnder('frame-1') ?? [])).toEqual(['e1']);
      expect(idsOf(outbox.storedUnder(`frame-${DEDUPE_CAPACITY}`) ?? [])).toEqual([`e${DEDUPE_CAPACITY}`]);
    });

    it('reports how many entries it keeps and when the oldest was stored', async () => {
      expect(outbox.storage()).toEqual({ entries: 0, oldestStoredAt: null });
      const storedAt = clock.now();
      await outbox.append([event('e1'), event('e2')]);
      clock.advance(5_000);
      await outbox.append([event('e3')]);
      expect(outbox.storage()).toEqual({ entries: 3, oldestStoredAt: storedAt });
    });

    it('lists the oldest pending seqs of an output in storage order, duress or not, skipping excluded ones', async () => {
      outbox.registerOutputs(['keypad']);
      const { entries } = await outbox.append([event('e1'), event('e2', '5678', true), event('e3'), event('e4')]);
      const seqs = seqsOf(entries);
      expect(outbox.oldestPending('keypad', 2)).toEqual(seqs.slice(0, 2));
      expect(outbox.oldestPending('keypad', 2, new Set([seqs[0]!]))).toEqual(seqs.slice(1, 3));
      expect(outbox.oldestPending('unknown', 2)).toEqual([]);
    });

    it('reads back the entries of pending seqs in the order given', async () => {
      outbox.registerOutputs(['keypad']);
      const { entries } = await outbox.append([event('e1'), event('e2', '5678', true), event('e3')]);
      const [e1, e2, e3] = seqsOf(entries);
      expect(idsOf(outbox.pendingEntries([e3!, e1!]))).toEqual(['e3', 'e1']);
      expect(outbox.pendingEntries([e2!])).toEqual([entries[1]]);
    });

    it('stores a multi-event append as consecutive seqs', async () => {
      outbox.registerOutputs(['mqtt']);
      const { entries } = await outbox.append([event('a'), event('b'), event('c')]);

      expect(idsOf(entries)).toEqual(['a', 'b', 'c']);
      const [first] = seqsOf(entries);
      expect(seqsOf(entries)).toEqual([first, first! + 1, first! + 2]);
      expect(outbox.pending('mqtt', 10)).toEqual(entries);
    });

    it('keeps an independent cursor per output', async () => {
      outbox.registerOutputs(['mqtt', 'webhook']);
      const { entries } = await outbox.append([event('a'), event('b'), event('c')]);
      const [a, b, c] = seqsOf(entries);
      outbox.markDelivered('mqtt', [a!, b!]);

      expect(seqsOf(outbox.pending('mqtt', 10))).toEqual([c]);
      expect(seqsOf(outbox.pending('webhook', 10))).toEqual([a, b, c]);
      expect(outbox.backlog('mqtt')).toBe(1);
      expect(outbox.backlog('webhook')).toBe(3);
      expect(outbox.maxBacklog()).toBe(3);
    });

    describe('duress-first ordering', () => {
      // seq order: A1, B1, C1, A2, B-duress, A-duress, B2, N-duress (no account)
      let seq: Record<string, number>;
      beforeEach(async () => {
        outbox.registerOutputs(['mqtt']);
        const { entries } = await outbox.append([
          event('A1', '1001'),
          event('B1', '1002'),
          event('C1', '1003'),
          event('A2', '1001'),
          event('B-duress', '1002', true),
          event('A-duress', '1001', true),
          event('B2', '1002'),
          event('N-duress', null, true),
        ]);
        seq = Object.fromEntries(entries.map((entry) => [entry.event.id, entry.seq]));
      });

      it('puts each duress entry first, preceded by the earlier entries of its account', () => {
        expect(idsOf(outbox.pending('mqtt', 10))).toEqual([
          'B1', 'B-duress', 'A1', 'A2', 'A-duress', 'N-duress', 'C1', 'B2',
        ]);
      });

      it('cuts the same order at the limit', () => {
        expect(idsOf(outbox.pending('mqtt', 3))).toEqual(['B1', 'B-duress', 'A1']);
      });

      it('skips excluded (in-flight) entries', () => {
        const exclude = new Set([seq['B1']!, seq['A-duress']!]);
        expect(idsOf(outbox.pending('mqtt', 10, exclude))).toEqual(['B-duress', 'N-duress', 'A1', 'C1', 'A2', 'B2']);
      });

      it('lists the duress entries alone by seq, with none of the entries of their accounts', () => {
        expect(idsOf(outbox.pendingDuress('mqtt', 10))).toEqual(['B-duress', 'A-duress', 'N-duress']);
        expect(idsOf(outbox.pendingDuress('mqtt', 2))).toEqual(['B-duress', 'A-duress']);
        outbox.markDelivered('mqtt', [seq['A-duress']!]);
        expect(idsOf(outbox.pendingDuress('mqtt', 10))).toEqual(['B-duress', 'N-duress']);
        expect(outbox.pendingDuress('unknown', 10)).toEqual([]);
      });

      it("lists the output's newest dead-lettered duress entries alone by seq, up to the limit", () => {
        outbox.markDead('mqtt', seq['N-duress']!, 'rejected');
        outbox.markDead('mqtt', seq['A-duress']!, 'rejected');
        outbox.markDead('mqtt', seq['A1']!, 'rejected');
        outbox.markDelivered('mqtt', [seq['B-duress']!]);
        expect(idsOf(outbox.deadDuress('mqtt', 10))).toEqual(['A-duress', 'N-duress']);
        expect(idsOf(outbox.deadDuress('mqtt', 1))).toEqual(['N-duress']);
        expect(outbox.deadDuress('mqtt', 0)).toEqual([]);
        expect(outbox.deadDuress('unknown', 10)).toEqual([]);
      });

      it('falls back to seq order once the duress entries are delivered', () => {
        outbox.markDelivered('mqtt', [seq['B-duress']!, seq['A-duress']!, seq['N-duress']!]);
        expect(idsOf(outbox.pending('mqtt', 10))).toEqual(['A1', 'B1', 'C1', 'A2', 'B2']);
      });
    });

    it('removes delivered and dead entries, and lists dead letters with reason and time', async () => {
      outbox.registerOutputs(['mqtt', 'webhook']);
      const { entries } = await outbox.append([event('a'), event('b'), event('c')]);
      const [a, b, c] = seqsOf(entries);
      outbox.markDelivered('webhook', [a!]);
      clock.advance(5_000);
      outbox.markDead('webhook', b!, 'HTTP 400 Bad Request');
      outbox.markDead('mqtt', c!, 'payload too large');
      outbox.markDead('webhook', a!, 'already delivered: ignored');

      expect(seqsOf(outbox.pending('webhook', 10))).toEqual([c]);
      expect(outbox.backlog('webhook')).toBe(1);
      expect(outbox.deadLetters('webhook')).toEqual([
        { output: 'webhook', seq: b, reason: 'HTTP 400 Bad Request', at: clock.now(), event: entries[1]!.event },
      ]);
      expect(outbox.deadLetters().map((letter) => [letter.output, letter.seq])).toEqual([
        ['webhook', b],
        ['mqtt', c],
      ]);
      expect([outbox.deadLetterCount('webhook'), outbox.deadLetterCount('mqtt'), outbox.deadLetterCount()]).toEqual([1, 1, 2]);
      expect(outbox.deadLetterCount('stdout')).toBe(0);
    });

    it('lists dead letters a page at a time: `limit` events after `after`, never one event split across pages', async () => {
      outbox.registerOutputs(['mqtt', 'webhook']);
      const { entries } = await outbox.append([event('a'), event('b'), event('c'), event('d')]);
      const [a, b, c, d] = seqsOf(entries);
      for (const seq of [a!, b!, c!, d!]) outbox.markDead('webhook', seq, 'HTTP 401');
      outbox.markDead('mqtt', b!, 'payload too large');
      const page = (output: string | undefined, after: number | undefined) =>
        outbox.deadLetters(output, { limit: 2, ...(after === undefined ? {} : { after }) }).map((letter) => [letter.output, letter.event.id]);
      expect(page(undefined, undefined)).toEqual([['webhook', 'a'], ['mqtt', 'b'], ['webhook', 'b']]);
      expect(page(undefined, b)).toEqual([['webhook', 'c'], ['webhook', 'd']]);
      expect(page('webhook', a)).toEqual([['webhook', 'b'], ['webhook', 'c']]);
      expect(page('webhook', d)).toEqual([]);
    });

    describe('retrying dead letters', () => {
      it("puts the output's dead letters back as new entries carrying the same events, pending for that output alone", async () => {
        outbox.registerOutputs(['hook', 'mqtt']);
        const { entries } = await outbox.append([event('a'), event('holdup', '1001', true), event('c')]);
        const [a, holdup, c] = seqsOf(entries);
        outbox.markDead('hook', a!, 'HTTP 401');
        outbox.markDead('hook', holdup!, 'HTTP 401');
        outbox.markDelivered('hook', [c!]);
        outbox.markDelivered('mqtt', [a!, holdup!, c!]);
        const appended = vi.fn();
        outbox.onAppend(appended);

        const { retried, remaining } = outbox.retryDeadLetters('hook');

        expect(retried.map((r) => r.deadSeq)).toEqual([a, holdup]);
        expect(idsOf(retried.map((r) => r.entry))).toEqual(['a', 'holdup']);
        expect(retried.map((r) => r.entry.event)).toEqual([entries[0]!.event, entries[1]!.event]);
        expect(Math.min(...retried.map((r) => r.entry.seq))).toBeGreaterThan(c!);
        expect(remaining).toBe(0);
        expect(outbox.deadLetters('hook')).toEqual([]);
        expect(outbox.deadLetterCount()).toBe(0);
        // Duress first, as for any pending entry; nothing for the output that delivered them.
        expect(idsOf(outbox.pending('hook', 10))).toEqual(['holdup', 'a']);
        expect(idsOf(outbox.pendingDuress('hook', 10))).toEqual(['holdup']);
        expect(outbox.backlog('hook')).toBe(2);
        expect(outbox.pending('mqtt', 10)).toEqual([]);
        expect(outbox.backlog('mqtt')).toBe(0);
        expect(appended).toHaveBeenCalledTimes(1);
        expect(appended).toHaveBeenCalledWith(retried.map((r) => r.entry), 'hook');
      });

      it('retries only the dead letters named, and names no other output\'s', async () => {
        outbox.registerOutputs(['hook', 'mqtt']);
        const { entries } = await outbox.append([event('a'), event('b'), event('c')]);
        const [a, b, c] = seqsOf(entries);
        for (const seq of [a!, b!]) outbox.markDead('hook', seq, 'HTTP 401');
        outbox.markDead('mqtt', c!, 'topic refused');

        const { retried, remaining } = outbox.retryDeadLetters('hook', [b!, c!, 999_999]);

        expect(retried.map((r) => r.deadSeq)).toEqual([b]);
        expect(remaining).toBe(1);
        expect(outbox.deadLetters().map((letter) => [letter.output, letter.event.id])).toEqual([['hook', 'a'], ['mqtt', 'c']]);
        expect(idsOf(outbox.pending('hook', 10))).toEqual(['c', 'b']);
        expect(outbox.retryDeadLetters('hook', []).retried).toEqual([]);
      });

      it(`retries at most ${DEAD_LETTER_RETRY_LIMIT} dead letters per call, the oldest first`, async () => {
        outbox.registerOutputs(['hook']);
        const { entries } = await outbox.append(Array.from({ length: DEAD_LETTER_RETRY_LIMIT + 2 }, (_, i) => event(`e${i}`)));
        for (const { seq } of entries) outbox.markDead('hook', seq, 'HTTP 401');

        const first = outbox.retryDeadLetters('hook');
        expect(first.retried).toHaveLength(DEAD_LETTER_RETRY_LIMIT);
        expect(first.retried[0]!.deadSeq).toBe(entries[0]!.seq);
        expect(first.remaining).toBe(2);
        expect(outbox.retryDeadLetters('hook').retried.map((r) => r.entry.event.id)).toEqual([`e${DEAD_LETTER_RETRY_LIMIT}`, `e${DEAD_LETTER_RETRY_LIMIT + 1}`]);
      });

      it('refuses an output it does not track: its entries would be pending nowhere', async () => {
        outbox.registerOutputs(['hook']);
        const { entries } = await outbox.append([event('a')]);
        outbox.markDead('hook', entries[0]!.seq, 'HTTP 401');
        expect(() => outbox.retryDeadLetters('gone')).toThrow(/gone/);
        expect(outbox.deadLetterCount('hook')).toBe(1);
      });

      it('keeps a retried entry pending for its output alone after a reopen, and a later output starts past it', async (context) => {
        if (subject.reopen === undefined) return context.skip();
        outbox.registerOutputs(['hook', 'mqtt']);
        const { entries } = await outbox.append([event('a'), event('b')]);
        outbox.markDead('hook', entries[0]!.seq, 'HTTP 401');
        outbox.markDelivered('mqtt', seqsOf(entries));
        const { retried } = outbox.retryDeadLetters('hook');

        outbox = await subject.reopen();
        outbox.registerOutputs(['hook', 'mqtt', 'added']);

        expect(idsOf(outbox.pending('hook', 10))).toEqual(['b', 'a']);
        expect(seqsOf(outbox.pending('hook', 10))[1]).toBe(retried[0]!.entry.seq);
        expect(outbox.pending('mqtt', 10)).toEqual([]);
        expect(outbox.pending('added', 10)).toEqual([]);
        expect(outbox.deadLetters()).toEqual([]);
        const next = await outbox.append([event('c')]);
        expect(next.entries[0]!.seq).toBeGreaterThan(retried[0]!.entry.seq);
        expect(idsOf(outbox.pending('mqtt', 10))).toEqual(['c']);
      });
    });

    it('reports backlog and the receivedAt of the oldest pending entry', async () => {
      outbox.registerOutputs(['mqtt']);
      expect(outbox.oldestPendingAt('mqtt')).toBeNull();
      const firstAt = clock.now();
      const first = await outbox.append([event('a')]);
      clock.advance(1_000);
      await outbox.append([event('b')]);

      expect(outbox.backlog('mqtt')).toBe(2);
      expect(outbox.oldestPendingAt('mqtt')).toBe(firstAt);
      outbox.markDelivered('mqtt', seqsOf(first.entries));
      expect(outbox.oldestPendingAt('mqtt')).toBe(firstAt + 1_000);
      expect(outbox.maxBacklog()).toBe(1);
    });

    it('calls onAppend listeners after new entries are stored, not for duplicates or after unsubscribe', async () => {
      const listener = vi.fn();
      const unsubscribe = outbox.onAppend(listener);
      await outbox.append([event('a')], { dedupeKey: 'k' });
      expect(listener).toHaveBeenCalledTimes(1);
      await outbox.append([event('a-again')], { dedupeKey: 'k' });
      expect(listener).toHaveBeenCalledTimes(1);
      unsubscribe();
      await outbox.append([event('b')]);
      expect(listener).toHaveBeenCalledTimes(1);
    });

    it('rejects appends after close with OUTBOX_WRITE_FAILED', async () => {
      outbox.close();
      await expect(outbox.append([event('late')])).rejects.toMatchObject({ code: 'OUTBOX_WRITE_FAILED' });
    });

    it('resumes every output where it stopped after a reopen', async (context) => {
      if (subject.reopen === undefined) return context.skip();
      outbox.registerOutputs(['mqtt', 'webhook']);
      const { entries } = await outbox.append([event('a'), event('b', '1001', true), event('c'), event('d')], {
        dedupeKey: 'frame-1',
      });
      const [a, b, c] = seqsOf(entries);
      outbox.markDelivered('mqtt', [a!, c!]);
      outbox.markDead('webhook', b!, 'rejected');
      const pendingBefore = { mqtt: outbox.pending('mqtt', 10), webhook: outbox.pending('webhook', 10) };
      const deadBefore = outbox.deadLetters();

      outbox = await subject.reopen();
      outbox.registerOutputs(['mqtt', 'webhook']);

      expect(outbox.pending('mqtt', 10)).toEqual(pendingBefore.mqtt);
      expect(outbox.pending('webhook', 10)).toEqual(pendingBefore.webhook);
      expect(idsOf(outbox.pendingDuress('mqtt', 10))).toEqual(['b']);
      expect(outbox.pendingDuress('webhook', 10)).toEqual([]);
      expect(idsOf(outbox.deadDuress('webhook', 10))).toEqual(['b']);
      expect(outbox.deadLetters()).toEqual(deadBefore);
      expect(outbox.oldestPendingAt('mqtt')).toBe(clock.now());
      expect(idsOf(outbox.pendingEntries(outbox.oldestPending('webhook', 10)))).toEqual(['a', 'c', 'd']);
      const retransmit = await outbox.append([event('a-again')], { dedupeKey: 'frame-1' });
      expect(retransmit).toEqual({ duplicate: true, entries });
      const next = await outbox.append([event('e')]);
      expect(next.entries[0]!.seq).toBeGreaterThan(Math.max(...seqsOf(entries)));
    });

    it('rejects every waiting append with OUTBOX_WRITE_FAILED when the store fails, and stores none of them', async (context) => {
      if (subject.breakWrites === undefined) return context.skip();
      outbox.registerOutputs(['mqtt']);
      const restore = subject.breakWrites();
      const outcomes = await Promise.allSettled([
        outbox.append([event('a')]),
        outbox.append([event('b'), event('c')], { dedupeKey: 'k' }),
      ]);
      restore();

      for (const outcome of outcomes) {
        expect(outcome.status).toBe('rejected');
        const reason: unknown = outcome.status === 'rejected' ? outcome.reason : undefined;
        expect(isGatewayError(reason) && reason.code).toBe('OUTBOX_WRITE_FAILED');
        expect((reason as Error).cause).toBeDefined();
      }
      expect(outbox.backlog('mqtt')).toBe(0);
      const retry = await outbox.append([event('b'), event('c')], { dedupeKey: 'k' });
      expect(retry.duplicate).toBe(false);
      expect(idsOf(outbox.pending('mqtt', 10))).toEqual(['b', 'c']);
    });
  });
}
