import { describe, expect, it } from 'vitest';
import { Dispatcher } from '../../../src/pipeline/dispatcher.js';
import { silentLogger } from '../../../src/ports.js';
import type { Signal } from '../../../src/model/signal.js';
import { RecordingOutput } from '../../helpers/recording-output.js';
import { cid, FakeClock, harness, sia } from '../../helpers/assurance-harness.js';

/** What a `local` output (keypad, owner's phone) receives for a sequence of panel signals. */
async function localView(signals: readonly Signal[]) {
  const clock = new FakeClock();
  const h = harness({ clock });
  const central = new RecordingOutput('central', 'central');
  const keypad = new RecordingOutput('keypad', 'local');
  h.outbox.registerOutputs(['central', 'keypad']);
  const dispatcher = new Dispatcher({ outbox: h.outbox, outputs: [central, keypad], clock, logger: silentLogger });
  dispatcher.start();
  for (const signal of signals) await h.receive(signal);
  for (let round = 0; round < 200 && (h.outbox.backlog('keypad') > 0 || h.outbox.backlog('central') > 0); round++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  await dispatcher.stop();
  return { keypad: keypad.delivered, central: central.delivered };
}

describe('covert routing: the restore of a generic alarm on a zone typed holdup', () => {
  // README "Classification": a generic 130 burglary alarm on the teller button (zone typed holdup) is a hold-up.
  // The panel reports the button's return to normal as Contact ID 3 130 on the same zone.
  it('a local output cannot tell that the teller hold-up button (zone 5, typed holdup) was pressed', async () => {
    const pressed = await localView([cid('130', 5), cid('130', 5, { qualifier: 'restore' })]);
    // The hold-up itself reached the centre as a hold-up…
    expect(pressed.central.map((e) => [e.category, e.qualifier, e.duress])).toContainEqual(['holdup', 'new', true]);
    // …and the keypad must see exactly what it sees when nothing happened: nothing.
    const quiet = await localView([]);
    expect(quiet.keypad).toEqual([]);
    expect(pressed.keypad.map((e) => ({ category: e.category, qualifier: e.qualifier, zone: e.zone }))).toEqual([]);
  });

  it('the same for SIA: PA then PR (panic restoral) on zone 5 typed holdup', async () => {
    const pressed = await localView([{ ...sia('PA', 5), partition: 1 }, { ...sia('PR', 5), partition: 1 }]);
    expect(pressed.central.map((e) => [e.category, e.qualifier, e.duress])).toContainEqual(['holdup', 'new', true]);
    expect(pressed.keypad.map((e) => ({ code: e.code?.value, category: e.category, qualifier: e.qualifier, zone: e.zone }))).toEqual([]);
  });
});
