import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../src/model/event.js';
import type { Signal } from '../../../src/model/signal.js';
import { Dispatcher } from '../../../src/pipeline/dispatcher.js';
import { outputLinkEvent } from '../../../src/pipeline/event-builder.js';
import { silentLogger } from '../../../src/ports.js';
import { RecordingOutput } from '../../helpers/recording-output.js';
import { cid, FakeClock, harness, MINUTE, sia } from '../../helpers/assurance-harness.js';

type Step = { kind: 'signal'; signal: Signal } | { kind: 'wait'; ms: number };

const ACCOUNTS = ['1234', '5678', '4321']; // site bank-1, site shop-2, no site

/** Everyday panel traffic: alarms, openings and closings, troubles, test reports, walk tests of other zones. */
const everyday: fc.Arbitrary<Step> = fc.oneof(
  fc
    .record({ code: fc.constantFrom('130', '401', '402', '380', '602', '611', '131'), address: fc.integer({ min: 1, max: 20 }), account: fc.constantFrom(...ACCOUNTS) })
    .filter(({ code, address }) => !(code === '611' && [5, 9, 20, 1].includes(address))) // not a walk test of a duress device
    .map(({ code, address, account }): Step => ({ kind: 'signal', signal: cid(code, address, { account }) })),
  fc.integer({ min: 1, max: 15 * MINUTE }).map((ms): Step => ({ kind: 'wait', ms })),
);

/** The centre opening a listen-in on the site, as it does to verify a silent alarm: announced, begun, ended. */
const listenIn = fc.constantFrom(cid('606', 0), sia('LF', null), sia('LE', null));

/**
 * A real activation of a duress device (a hold-up button, the duress code, a till button, a site-less panic duress),
 * perhaps followed by the listen-in it brings.
 */
const duress: fc.Arbitrary<Step[]> = fc
  .tuple(
    fc.constantFrom(cid('122', 5), cid('121', 12), cid('122', 1, { account: '5678' }), cid('121', 3, { account: '4321' }), cid('122', 5, { qualifier: 'restore' })),
    fc.option(listenIn, { nil: undefined }),
  )
  .map(([activation, listen]) => [activation, ...(listen === undefined ? [] : [listen])].map((signal): Step => ({ kind: 'signal', signal })));

/**
 * A forwarder to a centre that does not answer. Like a DC-09 output on a quiet site, it finds its link down only
 * when it first has something to send, and reports it as the gateway does: the first send may be a duress.
 */
class UnreachableCentre extends RecordingOutput {
  private reported = false;
  constructor(private readonly reportLinkDown: () => void) {
    super('arc', 'central');
    this.failing = true;
  }
  override async deliver(event: NormalizedEvent) {
    if (!this.reported) {
      this.reported = true;
      this.reportLinkDown();
    }
    return super.deliver(event);
  }
}

/**
 * What a local output receives for a sequence: the assurance (incidents, deadlines, supervision, ledger) and the
 * dispatcher as the gateway wires them, a central output that never confirms in time (so deadline alerts fire)
 * and a forwarder whose centre is unreachable.
 */
async function localView(steps: readonly Step[]): Promise<Record<string, string[]>> {
  const clock = new FakeClock();
  const h = harness({ clock, autoDeliver: false, supervision: { global: 10 * MINUTE }, duressDeadlineMs: 10_000 });
  const central = new RecordingOutput('central', 'central');
  const keypad = new RecordingOutput('keypad', 'local');
  const forwarder = new UnreachableCentre(() => {
    const down = { output: 'arc', account: '9999', qualifier: 'new' as const, reasons: ['DC-09 output arc: no receiver path answers'] };
    void h.recorder.recordRaised([outputLinkEvent(down, clock.now(), h.builder)]);
  });
  h.outbox.registerOutputs(['central', 'keypad', 'arc']);
  const dispatcher = new Dispatcher({ outbox: h.outbox, outputs: [central, keypad, forwarder], clock, logger: silentLogger });
  dispatcher.start();
  for (const step of steps) {
    if (step.kind === 'signal') await h.receive(step.signal);
    else {
      clock.advance(step.ms);
      await h.tick();
    }
  }
  for (let round = 0; round < 200 && (h.outbox.backlog('keypad') > 0 || h.outbox.backlog('central') > 0); round++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  await dispatcher.stop();
  expect(h.outbox.backlog('keypad')).toBe(0);
  // Delivery order is kept per account only (deliveries of different accounts run in parallel). An id tells its
  // millisecond, and the rest of it is random: drawn from a source the duress also drew from, so it differs
  // between the runs without saying anything.
  const byAccount: Record<string, string[]> = {};
  for (const { id, ...event } of keypad.delivered) (byAccount[event.account ?? '-'] ??= []).push(JSON.stringify({ idTime: id.slice(0, 13), ...event }));
  return byAccount;
}

describe('covert routing (property)', () => {
  it('a local output cannot tell a sequence with a duress from the same sequence without it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(everyday, { minLength: 1, maxLength: 14 }),
        fc.array(duress, { minLength: 1, maxLength: 2 }).map((activations) => activations.flat()),
        fc.nat(),
        async (steps, activations, at) => {
          const position = at % (steps.length + 1);
          const withDuress = [...steps.slice(0, position), ...activations, ...steps.slice(position)];
          expect(await localView(withDuress)).toEqual(await localView(steps));
        },
      ),
      {
        numRuns: 40,
        examples: [
          // A quiet site and one hold-up: only the duress makes the forwarder find its link down.
          [[{ kind: 'wait', ms: MINUTE }], [{ kind: 'signal', signal: cid('122', 5) }], 0],
          // A hold-up and the listen-in that verifies it: the listen-in alone would tell the site.
          [[{ kind: 'wait', ms: MINUTE }], [{ kind: 'signal', signal: cid('122', 5) }, { kind: 'signal', signal: sia('LF', null) }], 0],
        ],
      },
    );
  });
});
