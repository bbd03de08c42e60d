import { describe, expect, it } from 'vitest';
import { Dispatcher } from '../../../src/pipeline/dispatcher.js';
import { silentLogger } from '../../../src/ports.js';
import { RecordingOutput } from '../../helpers/recording-output.js';
import { cid, FakeClock, harness } from '../../helpers/assurance-harness.js';

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
