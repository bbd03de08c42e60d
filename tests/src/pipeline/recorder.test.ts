import { describe, expect, it, vi } from 'vitest';
import { EventBus } from '../../../src/bus.js';
import type { NormalizedEvent } from '../../../src/model/event.js';
import { Counters } from '../../../src/observability/counters.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Recorder } from '../../../src/pipeline/recorder.js';
import { silentLogger } from '../../../src/ports.js';
import { outboxTestEvent } from '../../helpers/outbox-events.js';
import { testDc09Receiver } from '../../helpers/dc09-receiver.js';
import { panelFrame, parseAnswer } from '../../helpers/panel.js';

class BrokenConsole {}
class Ledger {
  readonly heard: NormalizedEvent[] = [];
}

describe('Recorder: frameStored on the bus', () => {
  it('stores and ACKs a frame when a frameStored listener throws; the failure is counted and later listeners still hear it', async () => {
    const busCounters = new Counters();
    const bus = new EventBus({ logger: silentLogger, counters: busCounters });
    const ledger = new Ledger();
    bus.onFrameStored(new BrokenConsole(), () => {
      throw new Error('console bug');
    });
    bus.onFrameStored(ledger, (events) => ledger.heard.push(...events));
    const { receiver, outbox } = testDc09Receiver({ input: 'ip', accounts: [{ account: '1234' }] }, { bus });

    const outcome = await receiver.handleFrame(panelFrame({ token: 'ADM-CID', seq: '0001', account: '1234', data: '#1234|1122 01 005' }), 'tcp');

    expect(outcome.answer).toBe('ack');
    expect(parseAnswer(Buffer.from(outcome.reply!)).token).toBe('ACK');
    expect(outbox.backlog('probe')).toBe(1);
    expect(ledger.heard.map((e) => e.id)).toEqual(outcome.events.map((e) => e.id));
    expect(busCounters.get('bus_listener_errors_total', { event: 'frameStored', listener: 'BrokenConsole' })).toBe(1);
  });
});

describe('Recorder whose answers nobody sends (replay)', () => {
  const event = (id: string) => outboxTestEvent({ id, account: '1234', receivedAt: Date.now() });

  it('stores a retransmit once and answers it without reading the earlier events back from the outbox', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['central']);
    const counters = new Counters();
    const recorder = new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 1000, answersSent: false });

    const first = await recorder.record([event('e1')], 'frame-1');
    // The stored texts are read back by parsing them.
    const parse = vi.spyOn(JSON, 'parse');
    let parsed: number;
    const again = await recorder.record([event('e1-again')], 'frame-1').finally(() => {
      parsed = parse.mock.calls.length;
      parse.mockRestore();
    });

    expect(first).toMatchObject({ ok: true, duplicate: false });
    expect(again).toEqual({ ok: true, duplicate: true, events: [] });
    expect(parsed!).toBe(0);
    expect(outbox.pending('central', 10).map((entry) => entry.event.id)).toEqual(['e1']);
    expect(counters.get('events_duplicate_total')).toBe(1);
  });
});

describe('Recorder at the backlog limit', () => {
  it("refuses panel traffic but stores the gateway's own events (recordRaised) and a duress", async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['central']);
    const counters = new Counters();
    const recorder = new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 2 });
    const event = (id: string, duress = false) => outboxTestEvent({ id, account: '1234', duress, receivedAt: Date.now() });
    for (const id of ['e1', 'e2']) expect(await recorder.record([event(id)])).toMatchObject({ ok: true });

    expect(await recorder.record([event('e3')])).toMatchObject({ ok: false, error: { code: 'OUTBOX_BACKLOG_FULL' } });
    expect(await recorder.recordRaised([event('control')])).toMatchObject({ ok: true });
    expect(await recorder.record([event('duress', true)])).toMatchObject({ ok: true });
    expect(outbox.pending('central', 10).map((entry) => entry.event.id)).toEqual(['e1', 'e2', 'control', 'duress']);
    expect(counters.get('outbox_rejections_total', { code: 'OUTBOX_BACKLOG_FULL' })).toBe(1);
  });
});
