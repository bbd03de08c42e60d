import { describe, expect, it, vi } from 'vitest';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Dispatcher } from '../../../src/pipeline/dispatcher.js';
import { silentLogger } from '../../../src/ports.js';
import { RecordingOutput } from '../../helpers/recording-output.js';
import { cid, FakeClock, harness } from '../../helpers/assurance-harness.js';
import { testEvent } from '../../helpers/output-events.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The attacker holds the local output (their own broker / keypad bridge): they take it down for a while, keep
 * generating ordinary events at the panel, bring it back and look at what arrives. The local output's maxBacklog
 * must bound ordinary events only: what it sheds must not depend on a duress stored meanwhile.
 */
async function localView(withDuress: boolean): Promise<string[]> {
  const clock = new FakeClock();
  const h = harness({ clock });
  const central = new RecordingOutput('central', 'central');
  const keypad = new RecordingOutput('keypad', 'local');
  keypad.failing = true;
  h.outbox.registerOutputs(['central', 'keypad']);
  const dispatcher = new Dispatcher({
    outbox: h.outbox,
    outputs: [central, keypad],
    clock,
    logger: silentLogger,
    backoff: { initialMs: 400, maxMs: 400, jitter: 0 },
    localMaxBacklog: new Map([['keypad', 3]]),
  });
  dispatcher.start();
  await h.receive(cid('401', 1)); // opening by user 1: the keypad fails it, the account waits out its backoff
  await sleep(20);
  await h.receive(cid('402', 2));
  await h.receive(cid('401', 3));
  if (withDuress) await h.receive(cid('122', 5)); // teller hold-up button
  await h.receive(cid('402', 4));
  await h.receive(cid('401', 6));
  keypad.failing = false; // the attacker brings their side back up
  for (let i = 0; i < 60 && h.outbox.backlog('keypad') > 0; i++) await sleep(50);
  await dispatcher.stop();
  return keypad.delivered.map((e) => `${e.code?.value}/${e.user?.number ?? e.zone?.number}`);
}

describe('covert routing: a local output past its maxBacklog', () => {
  it('sheds the same ordinary events whether or not a duress was stored meanwhile', async () => {
    const without = await localView(false);
    const withDuress = await localView(true);
    expect(without.length).toBe(3);
    expect(withDuress).toEqual(without);
  });
});

/**
 * An outage's end releases the accounts waiting out a backoff, once: an entry released that fails again waits out its
 * whole backoff. When a local output sheds a released account's entries before they are tried again, that mark must
 * not outlive them, or the account's next failure, in a later outage, is taken for a second try and left waiting.
 */
describe('a local output shedding a released account', () => {
  it("retries the account's next failure at the end of a later outage, as any other", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    // The lane's scans run on setImmediate, which stays real: each step lets them run.
    const advance = async (ms: number) => {
      await vi.advanceTimersByTimeAsync(ms);
      for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
    };
    try {
      let up = false;
      const delivered: string[] = [];
      const keypad = new RecordingOutput('keypad', 'local');
      keypad.deliver = async (event) => {
        if (!up) return { ok: false, retryable: true, error: 'keypad bridge down' };
        delivered.push(event.account!);
        return { ok: true };
      };
      const outbox = new MemoryOutbox();
      outbox.registerOutputs(['keypad']);
      let shedOnce = true;
      let draws = 0;
      const dispatcher = new Dispatcher({
        outbox,
        outputs: [keypad],
        clock: { now: () => Date.now() },
        logger: silentLogger,
        // Of the two accounts failing together, the first drawn waits 1.5 s, the second 0.5 s.
        backoff: { initialMs: 1_000, maxMs: 1_000, factor: 2, jitter: 0.5 },
        random: () => (draws++ % 2 === 0 ? 0.999 : 0),
        localMaxBacklog: new Map([['keypad', 2]]),
        // Events arriving as B's success is recorded, before A is tried again, push A's only entry past maxBacklog.
        onDelivered: () => {
          if (shedOnce) void outbox.append([testEvent({ account: 'C' }), testEvent({ account: 'C' })]);
          shedOnce = false;
        },
      });
      dispatcher.start();
      await outbox.append([testEvent({ account: 'A' }), testEvent({ account: 'B' })]);
      await advance(10);
      up = true;
      await advance(600); // B's retry ends the outage and releases A, whose entry is then shed
      expect(delivered).toEqual(['B', 'C', 'C']);
      expect(dispatcher.stats().keypad).toMatchObject({ skippedOverflow: 1, backlog: 0 });

      up = false;
      await outbox.append([testEvent({ account: 'A' }), testEvent({ account: 'D' })]);
      await advance(10);
      up = true;
      await advance(600); // D's retry ends this outage: A goes at once, not after its 1.5 s
      expect(delivered.slice(3)).toEqual(['D', 'A']);
      await dispatcher.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
