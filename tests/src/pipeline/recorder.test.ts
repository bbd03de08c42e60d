import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../../src/bus.js';
import type { NormalizedEvent } from '../../../src/model/event.js';
import { createIdSource } from '../../../src/model/ids.js';
import { Counters } from '../../../src/observability/counters.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Dc09Receiver } from '../../../src/pipeline/dc09-receiver.js';
import { Recorder } from '../../../src/pipeline/recorder.js';
import { silentLogger, systemClock } from '../../../src/ports.js';
import { panelFrame, parseAnswer } from '../../helpers/panel.js';

class BrokenConsole {}
class Ledger {
  readonly heard: NormalizedEvent[] = [];
}

describe('Recorder: frameStored on the bus', () => {
  it('stores and ACKs a frame when a frameStored listener throws; the failure is counted and later listeners still hear it', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['central']);
    const counters = new Counters();
    const bus = new EventBus({ logger: silentLogger, counters });
    const ledger = new Ledger();
    bus.onFrameStored(new BrokenConsole(), () => {
      throw new Error('console bug');
    });
    bus.onFrameStored(ledger, (events) => ledger.heard.push(...events));
    const receiver = new Dc09Receiver({
      input: 'ip',
      accounts: [{ account: '1234' }],
      window: { past: 40_000, future: 20_000 },
      strict: false,
      clock: systemClock,
      random: randomBytes,
      recorder: new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 1000, bus }),
      builder: { ids: createIdSource(systemClock), sites: () => [] },
      counters,
      logger: silentLogger,
    });

    const outcome = await receiver.handleFrame(panelFrame({ token: 'ADM-CID', seq: '0001', account: '1234', data: '#1234|1122 01 005' }), 'tcp');

    expect(outcome.answer).toBe('ack');
    expect(parseAnswer(Buffer.from(outcome.reply!)).token).toBe('ACK');
    expect(outbox.backlog('central')).toBe(1);
    expect(ledger.heard.map((e) => e.id)).toEqual(outcome.events.map((e) => e.id));
    expect(counters.get('bus_listener_errors_total', { event: 'frameStored', listener: 'BrokenConsole' })).toBe(1);
  });
});
