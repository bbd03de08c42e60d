import { describe, expect, it } from 'vitest';
import { Dc09Receiver, type Dc09Account } from '../../../src/pipeline/dc09-receiver.js';
import { Recorder } from '../../../src/pipeline/recorder.js';
import { EventBus } from '../../../src/bus.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { Counters } from '../../../src/observability/counters.js';
import { createIdSource, seededRandom } from '../../../src/model/ids.js';
import { silentLogger } from '../../../src/ports.js';
import { UNVERIFIED_AGGREGATION_MS, UNVERIFIED_EVENTS_PER_PEER } from '../../../src/pipeline/unverified-frames.js';
import { UNREADABLE_REPORT_INTERVAL_MS } from '../../../src/pipeline/dc09-receiver.js';
import { gateAppends } from '../../helpers/gated-outbox.js';
import { panelFrame, parseAnswer, wrap } from '../../helpers/panel.js';
import { FakeClock, harness, SITES } from '../../helpers/assurance-harness.js';
import { incidentViews } from '../../../adapters/api/assurance-views.js';

const KEY = Buffer.from('00112233445566778899AABBCCDDEEFF', 'hex');
const ACCOUNTS: Dc09Account[] = [{ account: '1234' }, { account: '5678', key: KEY }];

/** A receiver over the real Recorder and assurance (incidents, ledger, supervision) of the test harness. */
function setup(options: { accounts?: Dc09Account[] | null; supervision?: number } = {}) {
  const clock = new FakeClock(Date.UTC(2024, 0, 1, 9, 0, 0));
  const h = harness({ clock, ...(options.supervision === undefined ? {} : { supervision: { global: options.supervision } }) });
  const counters = new Counters();
  const traffic: string[] = [];
  const receiver = new Dc09Receiver({
    input: 'ip',
    accounts: options.accounts === undefined ? ACCOUNTS : options.accounts,
    window: { past: 40_000, future: 20_000 },
    strict: false,
    clock,
    random: seededRandom(1),
    recorder: h.recorder,
    builder: h.builder,
    counters,
    logger: silentLogger,
    onTraffic: (account, at) => {
      traffic.push(account);
      h.assurance.traffic(account, at);
    },
  });
  const send = async (frame: Buffer, peer = '10.0.0.9:4000') => receiver.handleFrame(frame, 'tcp', peer);
  const panelEvents = () => h.events.filter((e) => e.source.input === 'ip');
  return { ...h, counters, traffic, receiver, send, panelEvents };
}

/** Contact ID 122 silent hold-up, zone 5 of site bank-1 (account 1234). */
const holdup = (seq: string, time?: number, account = '1234') =>
  panelFrame({ token: 'ADM-CID', seq, account, data: `#${account}|1122 01 005`, ...(time === undefined ? {} : { time }) });

describe('retransmit rule: account, sequence, content and timestamp', () => {
  it('stores two presses with the same sequence and different panel timestamps, and ACKs both', async () => {
    const t = setup();
    const first = await t.send(holdup('0001', t.clock.now() - 30_000));
    const second = await t.send(holdup('0001', t.clock.now()));
    expect([first.answer, second.answer]).toEqual(['ack', 'ack']);
    expect(t.panelEvents().map((e) => e.category)).toEqual(['holdup', 'holdup']);
    expect(t.counters.get('events_duplicate_total')).toBe(0);
  });

  it('stores the exact same bytes once and ACKs both', async () => {
    const t = setup();
    const frame = holdup('0002', t.clock.now());
    expect((await t.send(frame)).answer).toBe('ack');
    const again = await t.send(frame);
    expect(again).toMatchObject({ answer: 'ack', duplicate: true });
    expect(parseAnswer(Buffer.from(again.reply!)).token).toBe('ACK');
    expect(t.panelEvents()).toHaveLength(1);
  });

  it('recognises an encrypted replay with a rewritten sequence, receiver and line by its decrypted content and timestamp', async () => {
    const t = setup();
    const time = t.clock.now();
    const frame = (seq: string, receiver: string, line: string) =>
      panelFrame({ token: 'ADM-CID', seq, receiver, line, account: '5678', data: '#5678|1122 01 001', key: KEY, time });
    expect((await t.send(frame('0010', '1', '1'))).answer).toBe('ack');
    expect((await t.send(frame('0011', '2', '9'))).answer).toBe('ack');
    expect(t.panelEvents()).toHaveLength(1);
  });

  it('recognises an encrypted replay whose header account differs only in letter case (the key is looked up either way)', async () => {
    const t = setup({ accounts: [{ account: 'ABCD', key: KEY }] });
    const time = t.clock.now();
    const frame = (account: string) => panelFrame({ token: 'ADM-CID', seq: '0001', account, data: '#ABCD|1121 01 012', key: KEY, time });
    expect((await t.send(frame('ABCD'))).answer).toBe('ack');
    expect(await t.send(frame('abcd'), '203.0.113.5:4000')).toMatchObject({ answer: 'ack', duplicate: true });
    expect(t.panelEvents()).toHaveLength(1);
  });

  it('tells a second press from a retransmit by its sequence when an encrypted frame carries no timestamp', async () => {
    const t = setup();
    const press = (seq: string) => panelFrame({ token: 'ADM-CID', seq, account: '5678', data: '#5678|1122 01 001', key: KEY, time: null });
    await t.send(press('0001'));
    t.clock.advance(5 * 60_000);
    expect(await t.send(press('0002'))).toMatchObject({ answer: 'nak', duplicate: false });
    expect(await t.send(press('0002'))).toMatchObject({ answer: 'nak', duplicate: true });
    expect(t.panelEvents().map((e) => e.category)).toEqual(['holdup', 'holdup']);
  });

  it('lets no retransmit reach the annotator or frameStored, even one that arrives while the first copy is still being stored', async () => {
    const outbox = new MemoryOutbox();
    const seen: string[] = [];
    const bus = new EventBus({ logger: silentLogger });
    bus.onFrameStored(seen, (es) => void seen.push(`stored ${es.length}`));
    const counters = new Counters();
    const clock = new FakeClock();
    const recorder = new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 1000, bus });
    recorder.setAnnotator({ annotate: (e) => void seen.push(`annotate ${e.id}`) });
    const receiver = new Dc09Receiver({
      input: 'ip', accounts: ACCOUNTS, window: { past: 40_000, future: 20_000 }, strict: false, clock, random: seededRandom(2),
      recorder,
      builder: { ids: createIdSource(clock), sites: () => SITES }, counters, logger: silentLogger,
    });
    const gate = gateAppends(outbox);
    const frame = holdup('0003', clock.now());
    const first = receiver.handleFrame(frame, 'tcp');
    const second = receiver.handleFrame(frame, 'udp');
    await gate.appending;
    gate.release();
    const outcomes = await Promise.all([first, second]);
    expect(outcomes.map((o) => o.answer)).toEqual(['ack', 'ack']);
    expect(outcomes[1]!.events[0]!.id).toBe(outcomes[0]!.events[0]!.id);
    expect(seen).toHaveLength(2); // one annotate, one stored: the first copy only
    expect((await receiver.handleFrame(frame, 'tcp')).duplicate).toBe(true);
    expect(seen).toHaveLength(2);
  });

  it('opens an incident on the press that was stored, and counts no retransmit toward it', async () => {
    const t = setup();
    const frame = holdup('0004', t.clock.now());
    await t.send(frame);
    await t.send(frame);
    await t.send(frame);
    await t.send(panelFrame({ token: 'ADM-CID', seq: '0005', account: '1234', data: '#1234|1401 01 004' }));
    const [incident] = incidentViews(t.assurance);
    expect(incident).toMatchObject({ openingEventId: t.panelEvents()[0]!.id, eventCount: 2 });
  });

  it('marks a device tested once for a retransmitted walk test', async () => {
    const t = setup();
    const walk = panelFrame({ token: 'ADM-CID', seq: '0006', account: '1234', data: '#1234|1611 01 005' });
    await t.send(walk);
    await t.send(walk);
    const device = t.assurance.deviceReport().devices.find((d) => d.site === 'bank-1' && d.device === 'zone-5');
    expect(device?.testCount).toBe(1);
  });
});

describe('unverified frames: NAK, no trust earned, content published', () => {
  it('NAKs a hold-up from an unknown account and publishes it once as a hold-up, duress and unverified', async () => {
    const t = setup();
    const frame = holdup('0001', undefined, '9999');
    const outcome = await t.send(frame);
    expect(outcome.answer).toBe('nak');
    expect(parseAnswer(Buffer.from(outcome.reply!)).token).toBe('NAK');
    expect((await t.send(frame)).answer).toBe('nak');
    const events = t.panelEvents();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ category: 'holdup', duress: true, verified: false, unverifiedReason: 'unknown-account', account: '9999' });
    expect(t.traffic).toEqual([]);
    expect(incidentViews(t.assurance)).toEqual([]);
  });

  it('NAKs a plaintext frame for a keyed account: no supervision credit, no test credit, content published unverified', async () => {
    const t = setup({ supervision: 60_000 });
    t.clock.advance(30_000);
    const plainNull = panelFrame({ token: 'NULL', seq: '0000', account: '5678', data: '' });
    const plainWalk = panelFrame({ token: 'ADM-CID', seq: '0007', account: '5678', data: '#5678|1611 01 001' });
    const plainHoldup = panelFrame({ token: 'ADM-CID', seq: '0008', account: '5678', data: '#5678|1122 01 001' });
    for (const frame of [plainNull, plainWalk, plainHoldup]) expect((await t.send(frame)).answer).toBe('nak');
    expect(t.traffic).toEqual([]);
    const devices = t.assurance.deviceReport().devices.filter((d) => d.site === 'shop-2');
    expect(devices.every((d) => d.testCount === 0)).toBe(true);
    const holdups = t.panelEvents().filter((e) => e.duress);
    expect(holdups).toHaveLength(1);
    expect(holdups[0]).toMatchObject({ category: 'holdup', verified: false, unverifiedReason: 'plaintext-for-keyed-account', test: false });
    expect(holdups[0]!.incident).toBeUndefined();
    // The link stays lost: plaintext NULLs hide no cut line.
    t.clock.advance(60_000);
    await t.tick();
    expect(t.assurance.health().lostLinks.map((l) => l.account)).toContain('5678');
  });

  it('stores at most one non-duress event per account a minute, with the count, and every duress', async () => {
    const t = setup();
    for (let seq = 1; seq <= 50; seq++) {
      const frame = panelFrame({ token: 'ADM-CID', seq: String(seq).padStart(4, '0'), account: '9999', data: `#9999|1130 01 ${String(seq).padStart(3, '0')}` });
      expect((await t.send(frame)).answer).toBe('nak');
    }
    expect((await t.send(holdup('0051', undefined, '9999'))).answer).toBe('nak');
    expect((await t.send(holdup('0052', undefined, '9999'))).answer).toBe('nak');
    expect(t.panelEvents().map((e) => [e.category, e.unverifiedCount])).toEqual([['burglary', 1], ['holdup', undefined], ['holdup', undefined]]);
    expect(t.counters.get('unverified_frames_folded_total', { input: 'ip' })).toBe(49);
    t.clock.advance(UNVERIFIED_AGGREGATION_MS);
    await t.send(panelFrame({ token: 'ADM-CID', seq: '0060', account: '9999', data: '#9999|1130 01 060' }));
    expect(t.panelEvents().at(-1)).toMatchObject({ category: 'burglary', unverifiedCount: 50, verified: false });
  });

  it('bounds the non-duress events one peer host stores a minute, however many accounts it invents, and no duress', async () => {
    const t = setup();
    for (let n = 0; n < 40; n++) {
      const account = String(7000 + n);
      await t.send(panelFrame({ token: 'ADM-CID', seq: '0001', account, data: `#${account}|1130 01 001` }), `10.9.9.9:${5000 + n}`);
    }
    await t.send(holdup('0002', undefined, '7999'), '10.9.9.9:6000');
    await t.send(panelFrame({ token: 'ADM-CID', seq: '0001', account: '8000', data: '#8000|1130 01 001' }), '10.8.8.8:5000');
    const fromFlooder = t.panelEvents().filter((e) => e.source.peer?.startsWith('10.9.9.9:'));
    expect(fromFlooder.filter((e) => !e.duress)).toHaveLength(UNVERIFIED_EVENTS_PER_PEER);
    expect(fromFlooder.filter((e) => e.duress)).toHaveLength(1);
    expect(t.panelEvents().filter((e) => e.source.peer === '10.8.8.8:5000')).toHaveLength(1);
    // A folded account's next stored event counts the frame it folded.
    t.clock.advance(UNVERIFIED_AGGREGATION_MS);
    await t.send(panelFrame({ token: 'ADM-CID', seq: '0003', account: '7039', data: '#7039|1130 01 001' }), '10.9.9.9:7000');
    expect(t.panelEvents().at(-1)).toMatchObject({ account: '7039', unverifiedCount: 2 });
  });

  it('folds frames without an account by their peer host', async () => {
    const t = setup();
    const noAccount = (seq: string) => wrap(`"SIA-DCS"${seq}L0[Nri1/BA01]`);
    for (const [seq, peer] of [['0001', '10.1.1.1:5000'], ['0002', '10.1.1.1:5001'], ['0003', '10.2.2.2:5000']] as const) {
      expect((await t.send(noAccount(seq), peer)).answer).toBe('nak');
    }
    expect(t.panelEvents().map((e) => [e.source.peer, e.unverifiedReason])).toEqual([
      ['10.1.1.1:5000', 'unknown-account'],
      ['10.2.2.2:5000', 'unknown-account'],
    ]);
  });

  it('publishes the events of an input without an allowlist, ACKed, as unauthenticated', async () => {
    const t = setup({ accounts: null });
    expect((await t.send(holdup('0001'))).answer).toBe('ack');
    expect(t.panelEvents()[0]).toMatchObject({ verified: false, unverifiedReason: 'unauthenticated-source', category: 'holdup' });
    expect(t.traffic).toEqual(['1234']);
  });

  it('marks the events of an allowlisted account verified', async () => {
    const t = setup();
    await t.send(holdup('0001'));
    await t.send(panelFrame({ token: 'ADM-CID', seq: '0002', account: '5678', data: '#5678|1122 01 001', key: KEY, time: t.clock.now() }));
    expect(t.panelEvents().map((e) => [e.verified, e.unverifiedReason])).toEqual([[true, undefined], [true, undefined]]);
  });
});

describe('encrypted frames outside the timestamp window', () => {
  const offHour = 3_600_000;
  const encrypted = (t: ReturnType<typeof setup>, seq: string, code: string, offset = -offHour) =>
    panelFrame({ token: 'ADM-CID', seq, account: '5678', data: `#5678|1${code} 01 001`, key: KEY, time: t.clock.now() + offset });

  it('NAKs the first with the receiver time and stores nothing but its duress content', async () => {
    const t = setup();
    const outcome = await t.send(encrypted(t, '0001', '401'));
    expect(outcome.answer).toBe('nak');
    expect(parseAnswer(Buffer.from(outcome.reply!)).body).toMatch(/_\d{2}:\d{2}:\d{2},\d{2}-\d{2}-\d{4}$/);
    expect(t.events).toHaveLength(0);
  });

  // The window stops replays; a duress is published at once, unverified, not only once the panel has resent.
  it('publishes the duress of the very first out-of-window frame, unverified, and NAKs it', async () => {
    const t = setup();
    const outcome = await t.send(encrypted(t, '0001', '122'));
    expect(outcome.answer).toBe('nak');
    expect(t.panelEvents().map((e) => [e.category, e.verified, e.unverifiedReason])).toEqual([['holdup', false, 'timestamp-out-of-window']]);
    expect(t.counters.get('frames_rejected_total', { input: 'ip', code: 'DC09_TIMESTAMP_OUT_OF_WINDOW' })).toBe(1);
  });

  it('publishes the duress of an encrypted frame without a timestamp, unverified, and NAKs it', async () => {
    const t = setup();
    const outcome = await t.send(panelFrame({ token: 'ADM-CID', seq: '0001', account: '5678', data: '#5678|1122 01 001', key: KEY, time: null }));
    expect(outcome).toMatchObject({ answer: 'nak', error: { code: 'DC09_TIMESTAMP_INVALID' } });
    expect(parseAnswer(Buffer.from(outcome.reply!)).token).toBe('NAK');
    expect(t.panelEvents().map((e) => [e.category, e.verified, e.quirks])).toEqual([['holdup', false, ['timestamp-missing']]]);
    expect(t.counters.get('frames_rejected_total', { input: 'ip', code: 'DC09_TIMESTAMP_INVALID' })).toBe(1);
    expect(t.traffic).toEqual([]);
  });

  it('after that NAK, publishes duress content unverified and says once that the clock is off, and by how much', async () => {
    const t = setup();
    await t.send(encrypted(t, '0001', '130'));
    expect((await t.send(encrypted(t, '0002', '130'))).answer).toBe('nak');
    expect((await t.send(encrypted(t, '0003', '122'))).answer).toBe('nak');
    expect((await t.send(encrypted(t, '0004', '122'))).answer).toBe('nak');
    const panel = t.panelEvents();
    const clockOff = panel.filter((e) => e.category === 'supervisory');
    expect(clockOff).toHaveLength(1);
    expect(clockOff[0]!.reasons.join(' ')).toMatch(/clock of account 5678 is off by 1h/);
    const duress = panel.filter((e) => e.duress);
    expect(duress).toHaveLength(2);
    expect(duress.map((e) => [e.verified, e.unverifiedReason])).toEqual([[false, 'timestamp-out-of-window'], [false, 'timestamp-out-of-window']]);
    expect(panel.some((e) => e.category === 'burglary')).toBe(false);
    expect(t.traffic).toEqual([]);
  });

  it('reports a clock again after it was right in between', async () => {
    const t = setup();
    await t.send(encrypted(t, '0001', '130'));
    await t.send(encrypted(t, '0002', '130'));
    await t.send(encrypted(t, '0003', '130', 0));
    await t.send(encrypted(t, '0004', '130'));
    await t.send(encrypted(t, '0005', '130'));
    expect(t.panelEvents().filter((e) => e.category === 'supervisory')).toHaveLength(2);
  });
});

describe('back-pressure never NAKs a duress for a backlog', () => {
  function receiverWith(outbox: MemoryOutbox, backlogOutputs: string[]) {
    const counters = new Counters();
    const clock = new FakeClock();
    return new Dc09Receiver({
      input: 'ip', accounts: ACCOUNTS, window: { past: 40_000, future: 20_000 }, strict: false, clock, random: seededRandom(3),
      recorder: new Recorder({ outbox, counters, logger: silentLogger, backlogLimit: 2, backlogOutputs }),
      builder: { ids: createIdSource(clock), sites: () => SITES }, counters, logger: silentLogger,
    });
  }
  const burglary = (seq: number) => panelFrame({ token: 'ADM-CID', seq: String(seq).padStart(4, '0'), account: '1234', data: `#1234|1130 01 00${seq}` });

  it('over the central limit, NAKs other frames but stores and ACKs a hold-up', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['central']);
    const receiver = receiverWith(outbox, ['central']);
    expect((await receiver.handleFrame(burglary(1), 'tcp')).answer).toBe('ack');
    expect((await receiver.handleFrame(burglary(2), 'tcp')).answer).toBe('ack');
    expect((await receiver.handleFrame(burglary(3), 'tcp')).answer).toBe('nak');
    expect((await receiver.handleFrame(holdup('0004'), 'tcp')).answer).toBe('ack');
    expect(outbox.backlog('central')).toBe(3);
  });

  it('stores the input\'s own capacity alarm over the central limit: the gateway\'s events are not panel traffic', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['central']);
    const receiver = receiverWith(outbox, ['central']);
    for (let seq = 1; seq <= 3; seq++) await receiver.handleFrame(burglary(seq), 'tcp');
    await receiver.capacityAlarm('maxConnections reached', 'tcp');
    expect(outbox.pending('central', 10).map((e) => e.event.category)).toEqual(['burglary', 'burglary', 'supervisory']);
  });

  it('does not count a local output toward the limit', async () => {
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['central', 'keypad']);
    const receiver = receiverWith(outbox, ['central']);
    for (let seq = 1; seq <= 5; seq++) {
      expect((await receiver.handleFrame(burglary(seq), 'tcp')).answer).toBe('ack');
      outbox.markDelivered('central', outbox.pending('central', 10).map((e) => e.seq));
    }
    expect(outbox.backlog('keypad')).toBe(5);
  });
});

/**
 * NULL is DC-09's link test, and the Hikvision hub sends it with a data block that carries no event
 * (`[#0000|0000 00 000]`, https://github.com/eavanvalkenburg/sia/issues/17, whose reporter found Hikvision putting
 * NULL where other panels put SIA-DCS). A NULL whose block does carry an event must not be ACKed away: the panel
 * then never sends it again, and a duress in it would reach no one.
 */
describe('a NULL message never carries a duress away', () => {
  it('stores a Contact ID duress sent in a NULL, labelled duress, and ACKs only then', async () => {
    const t = setup();
    const outcome = await t.send(panelFrame({ token: 'NULL', seq: '0000', account: '1234', data: '#1234|1121 01 003' }));
    expect(outcome.answer).toBe('ack');
    expect(t.panelEvents()).toHaveLength(1);
    expect(t.panelEvents()[0]).toMatchObject({ duress: true, code: { value: '121' }, user: { number: 3 }, quirks: expect.arrayContaining(['null-with-event']) });
    expect(t.traffic).toEqual(['1234']);
  });

  it('stores a SIA hold-up sent in a NULL', async () => {
    const t = setup();
    expect((await t.send(panelFrame({ token: 'NULL', seq: '0000', account: '1234', data: '#1234|Nri1/HA05' }))).answer).toBe('ack');
    expect(t.panelEvents().map((e) => [e.code?.value, e.duress])).toEqual([['HA', true]]);
  });

  it('keeps the Hikvision link test a link test: ACKed, counted as a heartbeat, nothing stored', async () => {
    const t = setup({ accounts: null });
    const outcome = await t.send(Buffer.from('\n821F003A"NULL"0000R0L0#AAAB[#0000|0000 00 000]_18:25:49,07-05-2020\r', 'latin1'));
    expect([outcome.answer, outcome.events]).toEqual(['ack', []]);
    expect(t.panelEvents()).toEqual([]);
    expect(t.counters.get('heartbeats_total', { input: 'ip' })).toBe(1);
  });

  it('refuses a NULL with a duress from an unknown account as any frame, and still publishes the duress', async () => {
    const t = setup();
    const outcome = await t.send(panelFrame({ token: 'NULL', seq: '0000', account: '9999', data: '#9999|1121 01 003' }));
    expect(outcome.answer).toBe('nak');
    expect(t.panelEvents().map((e) => [e.duress, e.verified])).toEqual([[true, false]]);
  });
});

/**
 * A message whose further "[#acct|…]" blocks carry more events (read so by an Osborne-Hoffman receiver written
 * against ATS panels: public GitHub Go receiver, parseEvents). Refusing the frame for them would have lost the first
 * block's events too, a hold-up among them, with no answer for the panel but to send it again.
 */
describe('a hold-up in a further data block', () => {
  it('is stored with the first block\'s events, labelled duress, before the ACK (SIA-DCS and ADM-CID)', async () => {
    const t = setup();
    const sia = await t.send(panelFrame({ token: 'SIA-DCS', seq: '0001', account: '1234', data: '#1234|Nri1/BA01][#1234|Nri1/HA05' }));
    const cid = await t.send(panelFrame({ token: 'ADM-CID', seq: '0002', account: '1234', data: '#1234|1130 01 001][#1234|1122 01 005' }));
    expect([sia.answer, cid.answer]).toEqual(['ack', 'ack']);
    expect(t.panelEvents().map((e) => [e.code?.value, e.duress])).toEqual([['BA', false], ['HA', true], ['130', false], ['122', true]]);
  });

  it('tells two frames apart by their further blocks: neither is taken for a retransmit of the other', async () => {
    const t = setup();
    await t.send(panelFrame({ token: 'ADM-CID', seq: '0003', account: '1234', data: '#1234|1130 01 001][#1234|1130 01 002' }));
    await t.send(panelFrame({ token: 'ADM-CID', seq: '0003', account: '1234', data: '#1234|1130 01 001][#1234|1122 01 005' }));
    expect(t.panelEvents().filter((e) => e.duress)).toHaveLength(1);
  });
});

/**
 * An allowlisted panel that encrypts under a key the input lacks (none configured, or a wrong one) is NAKed on every
 * frame, a hold-up among them. Nothing can read the content, so central is told at once that this account's frames
 * cannot be read: one covert supervisory event per account, not one per frame.
 */
describe('encrypted frames the input cannot read', () => {
  const PANEL_KEY = Buffer.from('0F0E0D0C0B0A09080706050403020100', 'hex');
  const encryptedHoldup = (t: ReturnType<typeof setup>, seq: string, account: string, key = PANEL_KEY) =>
    panelFrame({ token: 'ADM-CID', seq, account, data: `#${account}|1122 01 005`, key, time: t.clock.now() });
  const unreadable = (t: ReturnType<typeof setup>) => t.panelEvents().filter((e) => e.category === 'supervisory');

  it('tells central at once that an allowlisted account without a key sends encrypted frames, and NAKs them', async () => {
    const t = setup();
    const outcome = await t.send(encryptedHoldup(t, '0001', '1234'));
    expect(outcome).toMatchObject({ answer: 'nak', error: { code: 'DC09_KEY_MISSING' } });
    expect(parseAnswer(Buffer.from(outcome.reply!)).token).toBe('NAK');
    const events = unreadable(t);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ account: '1234', covert: true, duress: false, verified: false, unverifiedReason: 'undecryptable-frame' });
    const reasons = events[0]!.reasons.join(' ');
    expect(reasons).toMatch(/account 1234/);
    expect(reasons).toMatch(/no key/);
    expect(reasons).toMatch(/DC09_KEY_MISSING/);
    expect(reasons).toMatch(/may have been a duress or hold-up/);
    expect(reasons).toMatch(/inputs\.ip\.accounts/);
    expect(t.traffic).toEqual([]);
  });

  it('tells central when a keyed account\'s frames do not decrypt under its key (changed or mistyped)', async () => {
    const t = setup();
    const outcome = await t.send(encryptedHoldup(t, '0001', '5678'));
    expect(outcome).toMatchObject({ answer: 'nak', error: { code: 'DC09_DECRYPT_FAILED' } });
    const events = unreadable(t);
    expect(events).toHaveLength(1);
    expect(events[0]!.reasons.join(' ')).toMatch(/account 5678.*does not decrypt.*DC09_DECRYPT_FAILED/);
  });

  it('says it once per account, again with the count of frames after an hour, and again after the account\'s frames were read', async () => {
    const t = setup();
    for (let seq = 1; seq <= 5; seq++) expect((await t.send(encryptedHoldup(t, String(seq).padStart(4, '0'), '5678'))).answer).toBe('nak');
    await t.send(encryptedHoldup(t, '0001', '1234'));
    expect(unreadable(t).map((e) => e.account)).toEqual(['5678', '1234']);
    t.clock.advance(UNREADABLE_REPORT_INTERVAL_MS);
    await t.send(encryptedHoldup(t, '0006', '5678'));
    expect(unreadable(t)).toHaveLength(3);
    expect(unreadable(t)[2]!.reasons.join(' ')).toMatch(/6 frames NAKed since/);
    // The key is put right: the account's frames are read again, and a later fault is news.
    expect((await t.send(encryptedHoldup(t, '0007', '5678', KEY))).answer).toBe('ack');
    await t.send(encryptedHoldup(t, '0008', '5678'));
    expect(unreadable(t)).toHaveLength(4);
    expect(unreadable(t)[3]!.reasons.join(' ')).toMatch(/1 frame NAKed since/);
  });

  it('counts a frame read under the key but outside the window as read: a later unreadable one is news again', async () => {
    const t = setup();
    await t.send(encryptedHoldup(t, '0001', '5678'));
    const late = panelFrame({ token: 'ADM-CID', seq: '0002', account: '5678', data: '#5678|1130 01 001', key: KEY, time: t.clock.now() - 3_600_000 });
    expect(await t.send(late)).toMatchObject({ answer: 'nak', error: { code: 'DC09_TIMESTAMP_OUT_OF_WINDOW' } });
    await t.send(encryptedHoldup(t, '0003', '5678'));
    expect(unreadable(t).map((e) => e.reasons[0])).toEqual([expect.stringMatching(/1 frame NAKed/), expect.stringMatching(/1 frame NAKed/)]);
  });

  const unlisted = (t: ReturnType<typeof setup>) => unreadable(t).filter((e) => e.account === null);

  it('tells central once that encrypted frames from an account not on the allowlist cannot be read (a panel never added), and NAKs them', async () => {
    const t = setup();
    for (let seq = 1; seq <= 3; seq++) expect((await t.send(encryptedHoldup(t, String(seq).padStart(4, '0'), '4321')))).toMatchObject({ answer: 'nak', error: { code: 'DC09_KEY_MISSING' } });
    const events = unlisted(t);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ category: 'supervisory', covert: true, duress: false, verified: false, unverifiedReason: 'undecryptable-frame' });
    const reasons = events[0]!.reasons.join(' ');
    expect(reasons).toMatch(/1 frame from 1 account not in the allowlist.*DC09_KEY_MISSING/);
    expect(reasons).toMatch(/accounts: 4321 \(1\)/);
    expect(reasons).toMatch(/may have been a duress or hold-up/);
    expect(reasons).toMatch(/inputs\.ip\.accounts/);
    expect(t.traffic).toEqual([]);
  });

  it('summarises a flood of encrypted junk naming accounts not on the allowlist in one event an hour: how many frames and accounts, the most frequent', async () => {
    const t = setup();
    for (let n = 0; n < 300; n++) {
      const account = String(20000 + n);
      expect((await t.send(encryptedHoldup(t, '0001', account), `10.9.9.9:${5000 + n}`)).answer).toBe('nak');
      // A real panel among them retries its frame.
      if (n % 100 === 0) await t.send(encryptedHoldup(t, '0001', '4321'));
    }
    for (let n = 0; n < 50; n++) await t.send(encryptedHoldup(t, String(n).padStart(4, '0'), '5678'), `10.9.8.${n}:5000`);
    expect(t.panelEvents().map((e) => e.account)).toEqual([null, '5678']);
    expect(t.counters.get('frames_rejected_total', { input: 'ip', code: 'DC09_KEY_MISSING' })).toBe(303);
    t.clock.advance(UNREADABLE_REPORT_INTERVAL_MS);
    await t.send(encryptedHoldup(t, '0002', '4321'));
    const events = unlisted(t);
    expect(events).toHaveLength(2);
    // Since the first report: the 299 other made-up accounts, and the panel's 3 frames and this one, most frequent first.
    expect(events[1]!.reasons[0]).toMatch(/303 frames from 300 accounts not in the allowlist/);
    expect(events[1]!.reasons[0]).toMatch(/accounts: 4321 \(4\), 20001 \(1\)/);
  });

  it('tells central once an hour on an input without an allowlist, where any account may be named', async () => {
    const t = setup({ accounts: null });
    for (let n = 0; n < 20; n++) await t.send(encryptedHoldup(t, '0001', String(30000 + n)));
    expect(t.panelEvents()).toHaveLength(1);
    expect(t.panelEvents()[0]).toMatchObject({ category: 'supervisory', account: null, covert: true });
    t.clock.advance(UNREADABLE_REPORT_INTERVAL_MS - 1);
    await t.send(encryptedHoldup(t, '0001', '30000'));
    expect(t.panelEvents()).toHaveLength(1);
  });
});

/**
 * A CRC-valid frame whose ID token the gateway does not read (DC-09 carries DC-07 message types, DC09-2007 p.23
 * C.2.3.6; a panel set to a vendor format) is answered DUH, "received but cannot be processed", which the panel
 * does not repeat (DC09-2007 p.22 C.1.3.14). Whatever it carried, a duress perhaps, reaches central before the DUH.
 * The frames are made up for the test, in DC-09 framing with a token the gateway does not know.
 */
describe('frames whose ID token the gateway does not read', () => {
  const vendor = (seq: string, account: string, data: string, token = 'VIS-BBA') => wrap(`"${token}"${seq}L0#${account}[${data}]`);
  const supervisory = (t: ReturnType<typeof setup>) => t.panelEvents().filter((e) => e.category === 'supervisory');

  it('stores a hold-up its text carries from an allowlisted account, labelled, and answers DUH only then', async () => {
    const t = setup();
    const gate = gateAppends(t.outbox);
    let answered = false;
    const pending = t.send(vendor('0001', '1234', '#1234|Nri1/HA01')).then((outcome) => ((answered = true), outcome));
    await gate.appending;
    expect(answered).toBe(false);
    gate.release();
    const outcome = await pending;
    expect(outcome).toMatchObject({ answer: 'duh', error: { code: 'DC09_ID_UNSUPPORTED' } });
    expect(parseAnswer(Buffer.from(outcome.reply!))).toMatchObject({ token: 'DUH', seq: '0001', crcValid: true });
    const duress = t.panelEvents().filter((e) => e.duress);
    expect(duress).toHaveLength(1);
    expect(duress[0]).toMatchObject({
      account: '1234', category: 'holdup', code: { value: 'HA' }, verified: false, unverifiedReason: 'unsupported-token',
      quirks: expect.arrayContaining([expect.stringMatching(/^duress-suspected: SIA HA/), expect.stringMatching(/^content-unparsed: .*VIS-BBA/)]),
    });
    expect(duress[0]!.text).toContain('Nri1/HA01');
    expect(outcome.events.map((e) => e.id)).toContain(duress[0]!.id);
  });

  it('stores a Contact ID duress from an input without an allowlist, and one from an account off the allowlist', async () => {
    const open = setup({ accounts: null });
    expect((await open.send(vendor('0002', '4321', '#4321|1121 01 003', 'CID2'))).answer).toBe('duh');
    expect(open.panelEvents().filter((e) => e.duress)).toMatchObject([{ account: '4321', code: { value: '121' }, user: { number: 3 }, verified: false }]);
    const listed = setup();
    expect((await listed.send(vendor('0003', '9999', '#9999|1121 01 003', 'CID2'))).answer).toBe('duh');
    expect(listed.panelEvents().filter((e) => e.duress)).toMatchObject([{ account: '9999', code: { value: '121' }, verified: false }]);
  });

  it('tells central at once, covertly, that an allowlisted account sends a token it does not read, with the token and text; again after an hour', async () => {
    const t = setup();
    for (let seq = 1; seq <= 4; seq++) expect((await t.send(vendor(`000${seq}`, '1234', '#1234|Nri1/BA01'))).answer).toBe('duh');
    expect(t.panelEvents()).toHaveLength(1);
    expect(supervisory(t)[0]).toMatchObject({ account: '1234', covert: true, duress: false, verified: false, unverifiedReason: 'unsupported-token' });
    const reasons = supervisory(t)[0]!.reasons.join(' ');
    expect(reasons).toMatch(/account 1234/);
    expect(reasons).toMatch(/"VIS-BBA"/);
    expect(reasons).toMatch(/Nri1\/BA01/);
    expect(reasons).toMatch(/DUH/);
    expect(reasons).toMatch(/may have been a duress or hold-up/);
    expect(t.traffic).toEqual([]);
    t.clock.advance(UNREADABLE_REPORT_INTERVAL_MS);
    await t.send(vendor('0005', '1234', '#1234|Nri1/BA02'));
    expect(supervisory(t)).toHaveLength(2);
    expect(supervisory(t)[1]!.reasons[0]).toMatch(/5 frames answered DUH since/);
  });

  it('summarises such frames from accounts off the allowlist in one event an hour', async () => {
    const t = setup();
    for (let n = 0; n < 50; n++) expect((await t.send(vendor('0001', String(20000 + n), 'Nri1/BA01'), `10.9.9.9:${5000 + n}`)).answer).toBe('duh');
    expect(t.panelEvents()).toHaveLength(1);
    expect(t.panelEvents()[0]).toMatchObject({ category: 'supervisory', account: null, covert: true, unverifiedReason: 'unsupported-token' });
    expect(t.panelEvents()[0]!.reasons[0]).toMatch(/1 frame from 1 account not in the allowlist.*DC09_ID_UNSUPPORTED/);
  });

  it('reads no code into an encrypted token\'s ciphertext, and still tells central', async () => {
    const t = setup();
    const outcome = await t.send(wrap(`"*VIS-BBA"0001L0#1234[1121013003A1B2C3D4E5F60718293A4B5C]`));
    expect(outcome.answer).toBe('duh');
    expect(t.panelEvents().map((e) => [e.category, e.duress])).toEqual([['supervisory', false]]);
  });
});
