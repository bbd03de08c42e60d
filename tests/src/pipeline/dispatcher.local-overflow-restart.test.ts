import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteOutbox } from '../../../src/outbox/sqlite-outbox.js';
import { Dispatcher } from '../../../src/pipeline/dispatcher.js';
import { silentLogger } from '../../../src/ports.js';
import { FakeClock, outboxTestEvent } from '../../helpers/outbox-events.js';
import { RecordingOutput } from '../../helpers/recording-output.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const storedEvent = (id: string, clock: FakeClock) =>
  outboxTestEvent({ id, account: id === 'duress' ? '9999' : `10${id}`, duress: id === 'duress', receivedAt: clock.now() });

/**
 * A local output's maxBacklog counts ordinary events only (README "Back-pressure"): what it sheds must not depend on
 * a duress. The dispatcher passes over covert entries as they are stored, but covert entries can also be pending for
 * a local output when it starts: its heir takes over a renamed output's backlog from its lowest pending seq, covert
 * entries above it included; a crash loses the lazy skip mark; a database predates the skip at append. Counted at
 * start (Dispatcher.wake -> shedOverflow), each made the output skip one more ordinary event.
 */
describe('covert routing: a local output over its maxBacklog at start', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
  });

  async function heirView(withDuress: boolean): Promise<string[]> {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'panelbridge-handover-'));
    dirs.push(dataDir);
    const clock = new FakeClock();
    // First run: the local keypad bridge is down (the attacker holds it), maxBacklog 3.
    let outbox = SqliteOutbox.open({ dataDir, clock });
    const cms = new RecordingOutput('cms', 'central');
    const keypad = new RecordingOutput('keypad', 'local');
    keypad.failing = true;
    let dispatcher = new Dispatcher({
      outbox, outputs: [cms, keypad], clock, logger: silentLogger,
      backoff: { initialMs: 60_000, maxMs: 60_000, jitter: 0 },
      localMaxBacklog: new Map([['keypad', 3]]),
    });
    dispatcher.start();
    for (const id of ['o1', 'o2', ...(withDuress ? ['duress'] : []), 'o3']) {
      await outbox.append([storedEvent(id, clock)]);
      await sleep(5);
    }
    for (let i = 0; i < 40 && outbox.backlog('cms') > 0; i++) await sleep(25);
    await dispatcher.stop();
    expect(outbox.backlog('keypad')).toBe(3); // o1, o2, o3: the duress was passed over at append
    outbox.close();

    // Restart with the keypad output renamed (same audience), its bridge back up.
    outbox = SqliteOutbox.open({ dataDir, clock });
    const keypad2 = new RecordingOutput('keypad-2', 'local');
    dispatcher = new Dispatcher({
      outbox, outputs: [cms, keypad2], clock, logger: silentLogger,
      localMaxBacklog: new Map([['keypad-2', 3]]),
    });
    dispatcher.start();
    for (let i = 0; i < 40 && outbox.backlog('keypad-2') > 0; i++) await sleep(25);
    await dispatcher.stop();
    outbox.close();
    return keypad2.delivered.map((e) => e.id);
  }

  it('the heir of a renamed local output receives the same ordinary events whether or not a duress was stored', async () => {
    const without = await heirView(false);
    const withDuress = await heirView(true);
    expect(without).toEqual(['o1', 'o2', 'o3']);
    expect(withDuress, 'the local heir lost an ordinary event because a duress happened').toEqual(without);
  });

  /** The process died before the dispatcher's skip mark reached the disk: the covert entry is pending at start. */
  async function afterRestart(stored: readonly string[]): Promise<string[]> {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'panelbridge-restart-covert-'));
    dirs.push(dataDir);
    const clock = new FakeClock();
    let outbox = SqliteOutbox.open({ dataDir, clock });
    outbox.registerOutputs(['keypad'], new Map([['keypad', 'local' as const]]));
    for (const id of stored) await outbox.append([storedEvent(id, clock)]);
    outbox.close();
    outbox = SqliteOutbox.open({ dataDir, clock });
    const keypad = new RecordingOutput('keypad', 'local');
    const dispatcher = new Dispatcher({ outbox, outputs: [keypad], clock, logger: silentLogger, localMaxBacklog: new Map([['keypad', 3]]) });
    dispatcher.start();
    for (let i = 0; i < 40 && outbox.backlog('keypad') > 0; i++) await sleep(25);
    await dispatcher.stop();
    outbox.close();
    return keypad.delivered.map((e) => e.id);
  }

  it('after a restart, a covert entry pending on disk does not cost the local output an ordinary event', async () => {
    const without = await afterRestart(['o1', 'o2', 'o3']);
    const withDuress = await afterRestart(['o1', 'o2', 'duress', 'o3']);
    expect(without).toEqual(['o1', 'o2', 'o3']);
    expect(withDuress, 'the local output lost an ordinary event because a duress was pending at the restart').toEqual(without);
  });

  it('nor does one behind the entries shed: every covert entry pending is left out of the count', async () => {
    const without = await afterRestart(['o1', 'o2', 'o3', 'o4', 'o5']);
    const withDuress = await afterRestart(['o1', 'o2', 'o3', 'o4', 'duress', 'o5']);
    expect(without).toEqual(['o3', 'o4', 'o5']);
    expect(withDuress, 'a duress behind the oldest entries made the local output shed one more').toEqual(without);
  });
});
