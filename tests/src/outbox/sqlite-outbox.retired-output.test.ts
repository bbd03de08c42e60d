import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteOutbox } from '../../../src/outbox/sqlite-outbox.js';
import type { Audience } from '../../../src/ports.js';
import { FakeClock, outboxTestEvent } from '../../helpers/outbox-events.js';

/**
 * README "Retention": "An event an output has not delivered is never pruned." README "Outputs and delivery": every
 * stored event is delivered to every output at least once; the promise: nothing is silently dropped.
 *
 * An output renamed (or removed) in the configuration while events are pending for it is retired: its undelivered
 * events go to the outputs added in its place with its audience, or become its dead letters; never pending nowhere,
 * listed nowhere and then pruned.
 */
describe('an output renamed while events are pending for it', () => {
  let dataDir: string;
  let clock: FakeClock;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'panelbridge-review-retired-'));
    clock = new FakeClock();
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  async function storeDuressFor(output: string, audiences?: ReadonlyMap<string, Audience>): Promise<void> {
    const outbox = SqliteOutbox.open({ dataDir, clock });
    outbox.registerOutputs([output], audiences);
    await outbox.append([outboxTestEvent({ id: 'duress-1', account: '1234', duress: true, receivedAt: clock.now() })], { dedupeKey: 'k1' });
    // The broker was down: never delivered, never dead.
    expect(outbox.backlog(output)).toBe(1);
    outbox.close();
  }

  it('does not leave an undelivered duress pending nowhere and listed nowhere', async () => {
    await storeDuressFor('central');
    // Restart with the output renamed ("central" -> "central-mqtt").
    const outbox = SqliteOutbox.open({ dataDir, clock });
    outbox.registerOutputs(['central-mqtt']);
    const visible =
      outbox.pendingDuress('central-mqtt', 10).length + outbox.backlog('central-mqtt') + outbox.deadLetterCount();
    outbox.close();
    expect(visible, 'the acknowledged duress is neither pending for a configured output nor a dead letter').toBeGreaterThan(0);
  });

  it('never prunes an event no output has delivered (README: Retention)', async () => {
    await storeDuressFor('central');
    const outbox = SqliteOutbox.open({ dataDir, clock, retentionMs: 30 * 86_400_000 });
    outbox.registerOutputs(['central-mqtt']);
    clock.advance(31 * 86_400_000);
    outbox.prune();
    const kept = outbox.storage().entries;
    outbox.close();
    expect(kept, 'the undelivered duress was deleted by retention').toBe(1);
  });

  it('hands the undelivered events to the output added in its place, and says so', async () => {
    await storeDuressFor('central');
    const outbox = SqliteOutbox.open({ dataDir, clock });
    const { retired } = outbox.registerOutputs(['central-mqtt', 'keypad'], new Map([['keypad', 'local']]));
    const pending = outbox.pendingDuress('central-mqtt', 10).map((entry) => entry.event.id);
    const keypadBacklog = outbox.backlog('keypad');
    outbox.close();
    expect(retired).toEqual([{ output: 'central', undelivered: 1, duress: 1, handedTo: ['central-mqtt'] }]);
    expect(pending).toEqual(['duress-1']);
    expect(keypadBacklog, 'a local output never takes over a central one').toBe(0);
  });

  it('makes them its dead letters when no output of its audience was added, and keeps them past retention', async () => {
    await storeDuressFor('central');
    const outbox = SqliteOutbox.open({ dataDir, clock, retentionMs: 30 * 86_400_000 });
    const { retired } = outbox.registerOutputs(['keypad'], new Map([['keypad', 'local']]));
    clock.advance(31 * 86_400_000);
    outbox.prune();
    const letters = outbox.deadLetters('central').map((letter) => ({ id: letter.event.id, reason: letter.reason }));
    const kept = outbox.storage().entries;
    outbox.close();
    expect(retired).toEqual([{ output: 'central', undelivered: 1, duress: 1, handedTo: [] }]);
    expect(letters).toEqual([{ id: 'duress-1', reason: expect.stringMatching(/removed from the configuration/) }]);
    expect(kept).toBe(1);
  });

  it('retires an output once: a later restart reports nothing more', async () => {
    await storeDuressFor('central');
    const first = SqliteOutbox.open({ dataDir, clock });
    first.registerOutputs(['other']);
    first.close();
    const second = SqliteOutbox.open({ dataDir, clock });
    const { retired } = second.registerOutputs(['other']);
    const backlog = second.backlog('other');
    second.close();
    expect(retired).toEqual([]);
    expect(backlog, 'still pending for the output that took it over').toBe(1);
  });

  it('retires no output a second call of the same process leaves out', async () => {
    const outbox = SqliteOutbox.open({ dataDir, clock });
    outbox.registerOutputs(['a']);
    await outbox.append([outboxTestEvent({ id: 'e1', account: '1234', receivedAt: clock.now() })]);
    const { retired } = outbox.registerOutputs(['b']);
    const backlog = outbox.backlog('a');
    outbox.close();
    expect(retired).toEqual([]);
    expect(backlog).toBe(1);
  });
});
