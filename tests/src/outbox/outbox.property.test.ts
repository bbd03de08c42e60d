import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AppendResult, Outbox, OutboxEntry } from '../../../src/outbox/outbox.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { SqliteOutbox } from '../../../src/outbox/sqlite-outbox.js';
import { FakeClock, outboxTestEvent } from '../../helpers/outbox-events.js';

const DEDUPE_WINDOW_MS = 1_000;
const OUTPUTS = ['mqtt', 'webhook', 'late'] as const;
type OutputName = (typeof OUTPUTS)[number];

const appendArb = fc.record({
  account: fc.constantFrom('1001', '1002', '1003', null),
  duress: fc.boolean(),
  count: fc.integer({ min: 0, max: 3 }),
  dedupeKey: fc.option(fc.constantFrom('k1', 'k2', 'k3'), { nil: undefined }),
});
const outputArb = fc.constantFrom<OutputName>(...OUTPUTS);

/** `append` issues all its appends in one macrotask, so SqliteOutbox commits them as one batch. */
const opArb = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('append' as const), appends: fc.array(appendArb, { minLength: 1, maxLength: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('pending' as const), output: outputArb, limit: fc.integer({ min: 0, max: 6 }), excludePicks: fc.array(fc.nat(), { maxLength: 2 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('deliver' as const), output: outputArb, picks: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dead' as const), output: outputArb, pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 1_500 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'registerLate' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);
type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never;

const summarizeEntries = (entries: readonly OutboxEntry[]) => entries.map((entry) => `${entry.seq}:${entry.event.id}`);
const summarizeAppend = (result: AppendResult) => ({ duplicate: result.duplicate, entries: summarizeEntries(result.entries) });

/** Everything a caller can observe, for every output. */
function observe(outbox: Outbox) {
  return {
    maxBacklog: outbox.maxBacklog(),
    outputs: OUTPUTS.map((output) => ({
      output,
      pending: summarizeEntries(outbox.pending(output, 1_000)),
      backlog: outbox.backlog(output),
      oldestPendingAt: outbox.oldestPendingAt(output),
    })),
    deadLetters: outbox.deadLetters().map((letter) => ({ ...letter, event: letter.event.id })),
  };
}

/** Picks seqs from the reference's pending list, so both stores get the same (valid) marks. */
function pickSeqs(model: Outbox, output: OutputName, picks: readonly number[]): number[] {
  const pending = model.pending(output, 1_000);
  return pending.length === 0 ? [] : picks.map((pick) => pending[pick % pending.length]!.seq);
}

async function runAgainstModel(ops: readonly Op[]): Promise<void> {
  const clock = new FakeClock();
  const dataDir = await mkdtemp(path.join(tmpdir(), 'panelbridge-outbox-model-'));
  const open = () => SqliteOutbox.open({ dataDir, clock, dedupeWindowMs: DEDUPE_WINDOW_MS });
  const model = new MemoryOutbox({ clock, dedupeWindowMs: DEDUPE_WINDOW_MS });
  let real: Outbox = open();
  const registered: OutputName[] = ['mqtt', 'webhook'];
  for (const outbox of [model, real]) outbox.registerOutputs(registered);
  let nextId = 0;
  try {
    for (const op of ops) {
      switch (op.kind) {
        case 'append': {
          const calls = op.appends.map(({ account, duress, count, dedupeKey }) => ({
            events: Array.from({ length: count }, () => outboxTestEvent({ id: `ev${nextId++}`, account, duress, receivedAt: clock.now() })),
            options: dedupeKey === undefined ? {} : { dedupeKey },
          }));
          const appendAll = (outbox: Outbox) => Promise.all(calls.map(({ events, options }) => outbox.append(events, options)));
          const [expected, actual] = await Promise.all([appendAll(model), appendAll(real)]);
          expect(actual.map(summarizeAppend)).toEqual(expected.map(summarizeAppend));
          break;
        }
        case 'pending': {
          const exclude = new Set(pickSeqs(model, op.output, op.excludePicks));
          expect(summarizeEntries(real.pending(op.output, op.limit, exclude))).toEqual(
            summarizeEntries(model.pending(op.output, op.limit, exclude)),
          );
          break;
        }
        case 'deliver': {
          const seqs = pickSeqs(model, op.output, op.picks);
          for (const outbox of [model, real]) outbox.markDelivered(op.output, seqs);
          break;
        }
        case 'dead':
          for (const seq of pickSeqs(model, op.output, [op.pick])) {
            for (const outbox of [model, real]) outbox.markDead(op.output, seq, `refused ${seq}`);
          }
          break;
        case 'tick':
          clock.advance(op.ms);
          break;
        case 'registerLate':
          if (!registered.includes('late')) registered.push('late');
          for (const outbox of [model, real]) outbox.registerOutputs(registered);
          break;
        case 'reopen':
          real.close();
          real = open();
          real.registerOutputs(registered);
          break;
      }
      expect(observe(real)).toEqual(observe(model));
    }
  } finally {
    real.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

describe('SqliteOutbox against the MemoryOutbox model', () => {
  it('gives the same observable results for any sequence of operations, restarts included', async () => {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { maxLength: 30 }), runAgainstModel), { numRuns: 60 });
  });
});
