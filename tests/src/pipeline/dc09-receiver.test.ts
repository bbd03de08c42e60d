import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Dc09Receiver } from '../../../src/pipeline/dc09-receiver.js';
import { UNVERIFIED_EVENTS_PER_INPUT, UNVERIFIED_EVENTS_PER_PEER } from '../../../src/pipeline/unverified-frames.js';
import { Recorder, type EventAnnotator } from '../../../src/pipeline/recorder.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Counters } from '../../../src/observability/counters.js';
import { createIdSource, seededRandom } from '../../../src/model/ids.js';
import { eventJson } from '../../../src/model/event-json.js';
import { GatewayError } from '../../../src/errors.js';
import { silentLogger, systemClock, type Logger } from '../../../src/ports.js';
import { recordingLogger } from '../../helpers/recording-logger.js';
import { panelFrame, parseAnswer, wrap } from '../../helpers/panel.js';
import { decodeDc09Frame } from '../../../src/codecs/dc09/frame.js';
import { crc16 } from '../../../src/codecs/dc09/crc16.js';
import { FakeClock } from '../../helpers/fake-clock.js';

function receiver(outbox: MemoryOutbox, backlogLimit = 1000, annotator?: EventAnnotator, retransmitEvents?: boolean, logger: Logger = silentLogger) {
  const counters = new Counters();
  const recorder = new Recorder({ outbox, counters, logger: silentLogger, backlogLimit });
  recorder.setAnnotator(annotator);
  return {
    counters,
    receiver: new Dc09Receiver({
      input: 'ip',
      accounts: [{ account: '1234' }],
      window: { past: 40_000, future: 20_000 },
      strict: false,
      clock: systemClock,
      random: randomBytes,
      recorder,
      builder: { ids: createIdSource(systemClock), sites: () => [] },
      counters,
      logger,
      ...(retransmitEvents === undefined ? {} : { retransmitEvents }),
    }),
  };
}

const hex3 = (n: number): string => n.toString(16).toUpperCase().padStart(3, '0');

const HOLDUP = panelFrame({ token: 'ADM-CID', seq: '0001', account: '1234', data: '#1234|1122 01 005' });

describe('DC-09 receiver answering in the sender\'s CRC form', () => {
  it('NAKs a binary-CRC frame it cannot decrypt with a binary CRC, as it would ACK one', async () => {
    const body = `"*ADM-CID"0001L0#1234[${'00'.repeat(32)}`;
    const crc = crc16(Buffer.from(body, 'latin1'));
    const frame = Buffer.concat([Buffer.from([0x0a, crc >> 8, crc & 0xff]), Buffer.from(`0${hex3(body.length)}${body}\r`, 'latin1')]);
    const { receiver: r } = receiver(new MemoryOutbox()); // account 1234 has no key
    const outcome = await r.handleFrame(frame, 'tcp');
    expect(outcome).toMatchObject({ answer: 'nak', error: { code: 'DC09_KEY_MISSING' } });
    const answer = decodeDc09Frame(outcome.reply!);
    expect(answer.ok && [answer.value.token, answer.value.crcForm]).toEqual(['NAK', 'binary']);
  });

  it('leaves a receiver\'s answer sent to it unanswered and stores nothing (public vector 36, an ACK)', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['central']);
    const { receiver: r } = receiver(outbox);
    const outcome = await r.handleFrame(Buffer.from('\n59890012"ACK"0000L0#1409[]\r', 'latin1'), 'tcp');
    expect(outcome).toMatchObject({ answer: 'none', reply: null, events: [], error: { code: 'DC09_ID_UNSUPPORTED', message: 'unexpected ACK from a panel' } });
    expect(outbox.backlog('central')).toBe(0);
  });
});

/** Never a false ACK: when the event cannot be stored, the panel is told to retry. */
describe('DC-09 receiver when the store cannot take the event', () => {
  it('answers NAK when the outbox write fails (disk full, I/O error)', async () => {
    const outbox = new MemoryOutbox();
    outbox.append = () => Promise.reject(new GatewayError('OUTBOX_WRITE_FAILED', 'disk full'));
    const { receiver: r, counters } = receiver(outbox);
    const outcome = await r.handleFrame(HOLDUP, 'tcp');
    expect(outcome.answer).toBe('nak');
    expect(parseAnswer(Buffer.from(outcome.reply!)).token).toBe('NAK');
    expect(counters.get('outbox_rejections_total', { code: 'OUTBOX_WRITE_FAILED' })).toBe(1);
  });

  it('answers NAK, not DUH, to a hold-up in an ID token it does not read when the store fails: the panel sends it again', async () => {
    const outbox = new MemoryOutbox();
    outbox.append = () => Promise.reject(new GatewayError('OUTBOX_WRITE_FAILED', 'disk full'));
    const { receiver: r } = receiver(outbox);
    const outcome = await r.handleFrame(wrap('"VIS-BBA"0001L0#1234[#1234|Nri1/HA01]'), 'tcp');
    expect(outcome.answer).toBe('nak');
    expect(parseAnswer(Buffer.from(outcome.reply!)).token).toBe('NAK');
  });

  /** A memory outbox with one output, and an annotator that throws (a bug in the ledger) until mended. */
  function brokenAnnotator() {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['central']);
    let broken = true;
    const annotator: EventAnnotator = {
      annotate() {
        if (broken) throw new Error('ledger bug');
      },
    };
    return { outbox, annotator, mend: () => (broken = false) };
  }

  it('answers NAK when the annotator fails, stores nothing, and stores the retransmit once the annotator works again', async () => {
    const { outbox, annotator, mend } = brokenAnnotator();
    const { receiver: r } = receiver(outbox, 1000, annotator);
    expect((await r.handleFrame(HOLDUP, 'tcp')).answer).toBe('nak');
    expect(outbox.backlog('central')).toBe(0);
    mend();
    expect((await r.handleFrame(HOLDUP, 'tcp')).answer).toBe('ack');
    expect(outbox.backlog('central')).toBe(1);
  });

  it('still NAKs a frame it cannot decrypt when the event saying so cannot be stored, and raises it on the next such frame', async () => {
    const { outbox, annotator, mend } = brokenAnnotator();
    const { receiver: r } = receiver(outbox, 1000, annotator);
    const unreadable = (seq: string) => panelFrame({ token: 'ADM-CID', seq, account: '1234', data: '#1234|1122 01 005', key: Buffer.alloc(16, 7) });
    expect(await r.handleFrame(unreadable('0001'), 'tcp')).toMatchObject({ answer: 'nak', error: { code: 'DC09_KEY_MISSING' } });
    expect(outbox.backlog('central')).toBe(0);
    mend();
    expect((await r.handleFrame(unreadable('0002'), 'tcp')).answer).toBe('nak');
    expect(outbox.pending('central', 10).map((e) => [e.event.category, e.event.account, e.event.reasons[0]])).toEqual([
      ['supervisory', '1234', expect.stringMatching(/2 frames NAKed since/)],
    ]);
  });

  it('answers NAK once the backlog limit is reached, and ACK again when it drains', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['slow']);
    const { receiver: r } = receiver(outbox, 1);
    expect((await r.handleFrame(HOLDUP, 'tcp')).answer).toBe('ack');
    const second = panelFrame({ token: 'ADM-CID', seq: '0002', account: '1234', data: '#1234|1130 01 006' });
    expect((await r.handleFrame(second, 'tcp')).answer).toBe('nak');
    outbox.markDelivered('slow', outbox.pending('slow', 10).map((e) => e.seq));
    expect((await r.handleFrame(second, 'tcp')).answer).toBe('ack');
  });
});

describe('DC-09 receiver retransmits with extended data', () => {
  it('stores a frame once per content: the same extended fields are a retransmit, other ones a new frame', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['central']);
    const { receiver: r } = receiver(outbox);
    const located = (x: string) => panelFrame({ token: 'ADM-CID', seq: '0003', account: '1234', data: `#1234|1122 01 005][X${x}` });
    const first = await r.handleFrame(located('E100W200'), 'tcp');
    expect(first.events[0]!.extended).toEqual({ X: 'E100W200' });
    expect((await r.handleFrame(located('E100W200'), 'tcp')).duplicate).toBe(true);
    expect((await r.handleFrame(located('E100W201'), 'tcp')).duplicate).toBe(false);
    expect((await r.handleFrame(HOLDUP, 'tcp')).duplicate).toBe(false);
    expect((await r.handleFrame(HOLDUP, 'tcp')).duplicate).toBe(true);
    expect(outbox.backlog('central')).toBe(3);
  });

  it('tells frames apart by a repeated field\'s later values (the second [X] of two positions)', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['central']);
    const { receiver: r } = receiver(outbox);
    const moved = (x: string) => panelFrame({ token: 'ADM-CID', seq: '0004', account: '1234', data: `#1234|1122 01 005][XE100W200][X${x}` });
    const first = await r.handleFrame(moved('E100W300'), 'tcp');
    expect(first.events[0]!.extendedRepeated).toEqual({ X: ['E100W200', 'E100W300'] });
    expect((await r.handleFrame(moved('E100W300'), 'tcp')).duplicate).toBe(true);
    expect((await r.handleFrame(moved('E100W301'), 'tcp')).duplicate).toBe(false);
    expect(outbox.backlog('central')).toBe(2);
  });
});

describe('DC-09 receiver answering a retransmit', () => {
  /** The reads of a retransmit's earlier events from the outbox, counted (not those an append makes itself). */
  function countingReadBacks(outbox: MemoryOutbox): { readBacks: number } {
    const counted = { readBacks: 0 };
    let appending = false;
    const append = outbox.append.bind(outbox);
    outbox.append = (events, options) => {
      appending = true;
      try {
        return append(events, options);
      } finally {
        appending = false;
      }
    };
    const storedUnder = outbox.storedUnder.bind(outbox);
    outbox.storedUnder = (dedupeKey) => {
      if (!appending) counted.readBacks += 1;
      return storedUnder(dedupeKey);
    };
    return counted;
  }

  it('ACKs it as the first copy was ACKed, without reading the earlier events back', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['central']);
    const counted = countingReadBacks(outbox);
    const { receiver: r, counters } = receiver(outbox);
    const first = await r.handleFrame(HOLDUP, 'tcp');
    const again = await r.handleFrame(HOLDUP, 'tcp');
    expect(again).toMatchObject({ answer: 'ack', duplicate: true, events: [] });
    expect(parseAnswer(Buffer.from(again.reply!)).token).toBe(parseAnswer(Buffer.from(first.reply!)).token);
    expect(counted.readBacks).toBe(0);
    expect(counters.get('events_duplicate_total')).toBe(1);
    expect(outbox.backlog('central')).toBe(1);
  });

  it('carries the first copy\'s events when asked to (the simulator prints them)', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['central']);
    const counted = countingReadBacks(outbox);
    const { receiver: r } = receiver(outbox, 1000, undefined, true);
    const first = await r.handleFrame(HOLDUP, 'tcp');
    const again = await r.handleFrame(HOLDUP, 'tcp');
    expect(again.duplicate).toBe(true);
    expect(again.events.map((event) => event.id)).toEqual(first.events.map((event) => event.id));
    expect(counted.readBacks).toBe(2); // one lookup per frame: the first finds nothing, the retransmit its events
  });
});

describe('DC-09 receiver folding a flood of refused frames', () => {
  it('stores one event for an unknown account whose frames arrive together, before the first is stored', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['central']);
    const { receiver: r } = receiver(outbox);
    const frames = Array.from({ length: 20 }, (_, i) =>
      panelFrame({ token: 'ADM-CID', seq: String(i + 1).padStart(4, '0'), account: '9999', data: `#9999|1130 01 ${String(i + 1).padStart(3, '0')}` }),
    );
    const outcomes = await Promise.all(frames.map((frame) => r.handleFrame(frame, 'tcp', '10.0.0.9:4000')));
    expect(outcomes.every((outcome) => outcome.answer === 'nak')).toBe(true);
    const stored = outbox.pending('central', 100).map((entry) => entry.event);
    expect(stored).toHaveLength(1);
    expect(stored[0]!.unverifiedCount).toBe(1);
    // The frames folded meanwhile are counted in the next event the account's frames store, a span later.
  });

  it('stores at most UNVERIFIED_EVENTS_PER_PEER events for a peer naming a new account in every frame, all at once', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['central']);
    const { receiver: r } = receiver(outbox);
    const frames = Array.from({ length: 3 * UNVERIFIED_EVENTS_PER_PEER }, (_, i) =>
      panelFrame({ token: 'ADM-CID', seq: '0001', account: String(5000 + i), data: `#${5000 + i}|1130 01 001` }),
    );
    await Promise.all(frames.map((frame) => r.handleFrame(frame, 'tcp', '10.0.0.9:4000')));
    expect(outbox.backlog('central')).toBe(UNVERIFIED_EVENTS_PER_PEER);
  });

  it('logs a bounded number of lines for a peer naming a new account in every frame, however many frames it sends', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['central']);
    const { logger, lines } = recordingLogger();
    const { receiver: r, counters } = receiver(outbox, 1000, undefined, undefined, logger);
    const flood = 20_000;
    for (let i = 0; i < flood; i++) {
      const account = String(100_000 + i);
      await r.handleFrame(panelFrame({ token: 'ADM-CID', seq: '0001', account, data: `#${account}|1130 01 001` }), 'tcp', '10.0.0.9:4000');
    }
    expect(counters.get('frames_rejected_total', { code: 'DC09_ACCOUNT_UNKNOWN' })).toBe(flood);
    // One line per account at first (a misconfigured panel is named), then one per kind, then one for the rest.
    expect(lines.length).toBeLessThan(1_100);
  });

  it('stores at most UNVERIFIED_EVENTS_PER_INPUT such events however many peer addresses send them (UDP senders can be forged)', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['central']);
    const { receiver: r } = receiver(outbox);
    let n = 0;
    for (let peer = 0; peer < 4 * (UNVERIFIED_EVENTS_PER_INPUT / UNVERIFIED_EVENTS_PER_PEER); peer++) {
      const frames = Array.from({ length: UNVERIFIED_EVENTS_PER_PEER }, () => {
        const account = String(10_000 + n++);
        return panelFrame({ token: 'ADM-CID', seq: '0001', account, data: `#${account}|1130 01 001` });
      });
      await Promise.all(frames.map((frame) => r.handleFrame(frame, 'udp', `10.0.${peer}.1:4000`)));
    }
    expect(outbox.backlog('central')).toBe(UNVERIFIED_EVENTS_PER_INPUT);
    // A duress is never held back by it.
    await r.handleFrame(panelFrame({ token: 'ADM-CID', seq: '0001', account: '7777', data: '#7777|1122 01 005' }), 'udp', '10.9.9.9:4000');
    expect(outbox.pending('central', 1).map((entry) => entry.event.category)).toEqual(['holdup']);
  });
});

describe('DC-09 receiver whose answers nobody sends (replay)', () => {
  const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');

  /** The same frames through a receiver that sends its answers and one that does not, on one clock and seed each. */
  async function bothWays() {
    const run = async (answersSent: boolean) => {
      const clock = new FakeClock();
      const random = seededRandom(7);
      const outbox = new MemoryOutbox({ clock });
      outbox.registerOutputs(['central']);
      const counters = new Counters();
      const r = new Dc09Receiver({
        input: 'ip',
        accounts: [{ account: '1234' }, { account: '5678', key: KEY }],
        window: { past: 40_000, future: 20_000 },
        strict: false,
        clock,
        random,
        recorder: new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 1000, answersSent }),
        builder: { ids: createIdSource(clock, random), sites: () => [] },
        counters,
        logger: silentLogger,
        answersSent,
      });
      const frames = [
        HOLDUP,
        panelFrame({ token: 'NULL', seq: '0002', account: '1234', data: '' }),
        panelFrame({ token: 'ADM-CID', seq: '0003', account: '5678', data: '#5678|1130 01 004', key: KEY, time: clock.now() }),
        HOLDUP,
        panelFrame({ token: 'SIA-DCS', seq: '0004', account: '1234', data: '#1234|Nri1/BA05' }),
      ];
      const outcomes = [];
      for (const frame of frames) {
        outcomes.push(await r.handleFrame(frame, 'tcp'));
        clock.advance(1_000);
      }
      return { outcomes, stored: outbox.pending('central', 10).map((entry) => eventJson(entry.event)), duplicates: counters.get('events_duplicate_total') };
    };
    return { sent: await run(true), discarded: await run(false) };
  }

  it('decides the same answers and stores the same events, ids included, building only the encrypted ACK', async () => {
    const { sent, discarded } = await bothWays();
    expect(discarded.outcomes.map((o) => o.answer)).toEqual(['ack', 'ack', 'ack', 'ack', 'ack']);
    expect(discarded.outcomes.map((o) => o.answer)).toEqual(sent.outcomes.map((o) => o.answer));
    expect(discarded.outcomes.map((o) => o.reply === null)).toEqual([true, true, false, true, true]);
    expect(parseAnswer(Buffer.from(discarded.outcomes[2]!.reply!), KEY).token).toBe('*ACK');
    expect(discarded.stored).toHaveLength(3);
    expect(discarded.stored).toEqual(sent.stored);
  });

  it('recognises a retransmit without reading its earlier events back', async () => {
    const { sent, discarded } = await bothWays();
    expect(discarded.outcomes[3]).toMatchObject({ answer: 'ack', duplicate: true, events: [] });
    expect(sent.outcomes[3]).toMatchObject({ answer: 'ack', duplicate: true, events: [] });
    expect(discarded.duplicates).toBe(1);
  });
});
