import { describe, expect, it } from 'vitest';
import { recordDecodedFrame } from '../../../src/replay/decoded-input.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Recorder } from '../../../src/pipeline/recorder.js';
import { Counters } from '../../../src/observability/counters.js';
import { createIdSource, seededRandom } from '../../../src/model/ids.js';
import { silentLogger } from '../../../src/ports.js';
import { VERIFIED, type FrameOrigin } from '../../../src/pipeline/event-builder.js';

const AT = Date.UTC(2024, 4, 1, 8, 3, 0);

function pipeline() {
  const clock = { now: () => AT };
  const outbox = new MemoryOutbox({ clock });
  outbox.registerOutputs(['out']);
  const counters = new Counters();
  const recorder = new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 1000 });
  const deps = { recorder, counters, builder: { ids: createIdSource(clock, seededRandom(7)), sites: () => [] } };
  return { outbox, counters, deps };
}

const origin = (text: string): FrameOrigin => ({ input: 'old-receiver', transport: 'serial', peer: '/dev/ttyS0', receivedAt: AT, raw: Buffer.from(text, 'latin1'), trust: VERIFIED });

describe('recordDecodedFrame (frames no configured input takes)', () => {
  it('stores the events of a frame decoded by detection, keeping the recorded source (public vector 51, Sur-Gard duress)', async () => {
    const { outbox, deps } = pipeline();
    const outcome = await recordDecodedFrame(origin('501100 181234E12101001\u0014'), undefined, deps);
    if (!outcome.ok) return expect.unreachable(outcome.message);
    expect(outcome.events.map((e) => [e.category, e.account, e.source, e.receivedAt])).toEqual([
      ['duress', '1234', { input: 'old-receiver', transport: 'serial', peer: '/dev/ttyS0' }, '2024-05-01T08:03:00.000Z'],
    ]);
    expect(outbox.backlog('out')).toBe(1);
  });

  it('does not store a link heartbeat, as the DC-09 input does not (public vector 52)', async () => {
    const { outbox, counters, deps } = pipeline();
    const outcome = await recordDecodedFrame(origin('1011           @    \u0014'), 'surgard', deps);
    expect(outcome).toEqual({ ok: true, events: [] });
    expect(outbox.backlog('out')).toBe(0);
    expect(counters.get('heartbeats_total', { input: 'old-receiver' })).toBe(1);
  });

  it('counts a frame that does not decode under its error code and stores nothing', async () => {
    const { outbox, counters, deps } = pipeline();
    // Public vector 43 with its check digit changed.
    const outcome = await recordDecodedFrame(origin('1234181131010159'), 'contact-id', deps);
    expect(outcome).toMatchObject({ ok: false, code: 'CID_CHECKSUM_INVALID' });
    expect(counters.get('frames_rejected_total', { input: 'old-receiver', code: 'CID_CHECKSUM_INVALID' })).toBe(1);
    expect(outbox.backlog('out')).toBe(0);
  });

  it('refuses a receiver\'s answer, as the DC-09 input does, and stores nothing (public vector 36, an ACK)', async () => {
    const { outbox, counters, deps } = pipeline();
    const outcome = await recordDecodedFrame(origin('\n59890012"ACK"0000L0#1409[]\r'), undefined, deps);
    expect(outcome).toMatchObject({ ok: false, code: 'DC09_ID_UNSUPPORTED' });
    expect(counters.get('frames_rejected_total', { input: 'old-receiver', code: 'DC09_ID_UNSUPPORTED' })).toBe(1);
    expect(outbox.backlog('out')).toBe(0);
  });

  // artis101/sia-dc09-dev-receiver's ACK, which `decode` prints as an answer: a replay still takes no answer.
  it('refuses a receiver\'s answer without account and data block, and stores nothing', async () => {
    const { outbox, deps } = pipeline();
    const outcome = await recordDecodedFrame(origin('"ACK"0042L0'), 'dc09', deps);
    expect(outcome).toMatchObject({ ok: false });
    expect(outbox.backlog('out')).toBe(0);
  });
});
