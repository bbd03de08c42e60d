import { connectAsync } from 'mqtt';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiServer } from '../../adapters/api/server.js';
import { TokenRegistry } from '../../adapters/api/tokens.js';
import { wireAssurance } from '../../adapters/cli/assurance-wiring.js';
import { incidentsCommand } from '../../adapters/cli/commands/incidents.js';
import { testCommand } from '../../adapters/cli/commands/test.js';
import { MqttOutput } from '../../adapters/outputs/mqtt.js';
import { AssuranceStore } from '../../src/assurance/store.js';
import { createIdSource, seededRandom } from '../../src/model/ids.js';
import type { NormalizedEvent } from '../../src/model/event.js';
import { EventBus } from '../../src/bus.js';
import { Counters } from '../../src/observability/counters.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { outboxWriteFailed } from '../../src/outbox/outbox-shared.js';
import { Dispatcher } from '../../src/pipeline/dispatcher.js';
import { eventFromSignal, VERIFIED } from '../../src/pipeline/event-builder.js';
import { Recorder } from '../../src/pipeline/recorder.js';
import { silentLogger, type Audience, type Logger, type OutputAdapter } from '../../src/ports.js';
import { recordingLogger } from '../helpers/recording-logger.js';
import { apiSchema, settingsSchema } from '../../src/settings/settings.js';
import { getTestBroker, MessageLog, uniquePrefix, type TestBroker } from '../helpers/broker.js';
import { cid, FakeClock, MINUTE } from '../helpers/assurance-harness.js';
import { RecordingOutput } from '../helpers/recording-output.js';
import { runInProcess } from '../helpers/cli-in-process.js';
import { gateAppends } from '../helpers/gated-outbox.js';
import { incidentViews } from '../../adapters/api/assurance-views.js';

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const SETTINGS = settingsSchema.parse({
  dataDir: '/nonexistent-not-used',
  duressDeadline: '10s',
  inputs: [],
  outputs: [{ type: 'stdout', name: 'unused' }],
  sites: [
    {
      id: 'bank-1',
      accounts: ['1234'],
      zones: [
        { number: 5, name: 'Teller 1 hold-up button', type: 'holdup', testEvery: '7d' },
        { number: 6, name: 'Teller 2 hold-up button', type: 'holdup', testEvery: '7d' },
      ],
      users: [
        { number: 4, name: 'Cleaner' },
        { number: 12, name: 'Manager duress code', duress: true, testEvery: '30d' },
      ],
    },
  ],
});

/** One token per role, inline (tests only). */
export const ROLE_TOKENS = {
  viewer: 'viewer-token-0123456789',
  operator: 'operator-token-0123456789',
  installer: 'installer-token-0123456789',
  admin: 'admin-token-0123456789',
} as const;
type Role = keyof typeof ROLE_TOKENS;

function roleTokens(): TokenRegistry {
  const tokens = Object.entries(ROLE_TOKENS).map(([role, token]) => ({ name: `${role}-1`, role, token }));
  const loaded = TokenRegistry.load(apiSchema.parse({ port: 0, tokens }), '/nonexistent-not-used');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.registry;
}

/** A gateway core on the real ApiServer, Recorder, Dispatcher and assurance wiring, with a fake clock. */
async function startGateway(outputs: OutputAdapter[], logger: Logger = silentLogger) {
  const clock = new FakeClock();
  const counters = new Counters();
  const outbox = new MemoryOutbox({ clock });
  const bus = new EventBus({ logger: silentLogger });
  const builder = { ids: createIdSource(clock, seededRandom(3)), sites: () => SETTINGS.sites };
  const recorder = new Recorder({ outbox, counters: new Counters(), logger: silentLogger, backlogLimit: 10_000, bus });
  const dispatcher = new Dispatcher({
    outbox,
    outputs,
    clock,
    logger: silentLogger,
    backoff: { initialMs: 5, maxMs: 20, jitter: 0 },
    onDelivered: (output, event) => bus.emitEventDelivered(output, event),
  });
  const api = new ApiServer({ host: '127.0.0.1', port: 0, logger: silentLogger, tokens: roleTokens() });
  for (const output of outputs) await output.start();
  dispatcher.start();
  const wiring = wireAssurance(
    { recorder, api, outputs, outbox, builder, bus, counters },
    SETTINGS,
    { clock, logger, store: AssuranceStore.open(':memory:'), tickMs: 3_600_000 },
  );
  await api.start();
  const base = `http://127.0.0.1:${api.address!.port}`;

  async function receive(signal: Parameters<typeof eventFromSignal>[0]): Promise<NormalizedEvent> {
    const event = eventFromSignal(signal, { input: 'panel', transport: 'tcp', receivedAt: clock.now(), raw: new Uint8Array([0x31]), trust: VERIFIED }, builder);
    const outcome = await recorder.record([event]);
    if (!outcome.ok) throw outcome.error;
    return outcome.events[0]!;
  }

  async function request(method: string, path: string, body?: unknown, role: Role = 'admin'): Promise<{ status: number; body: any }> {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${ROLE_TOKENS[role]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  }

  async function stop(): Promise<void> {
    await api.stop();
    await wiring.stop();
    await dispatcher.stop();
    for (const output of outputs) await output.stop();
  }

  return { clock, outbox, wiring, api, counters, base, receive, request, stop };
}

/** Runs `panelbridge test …` in-process against the API, as an installer. */
const runTestCommand = (args: string[]) => runInProcess(testCommand(), args, ROLE_TOKENS.installer);
/** Runs `panelbridge incidents …` in-process against the API, as an operator. */
const runIncidentsCommand = (args: string[]) => runInProcess(incidentsCommand(), args, ROLE_TOKENS.operator);

describe('duress assurance through the API', () => {
  let central: RecordingOutput;
  let keypad: RecordingOutput;
  let gateway: Awaited<ReturnType<typeof startGateway>>;

  beforeEach(async () => {
    central = new RecordingOutput('cms', 'central');
    keypad = new RecordingOutput('keypad', 'local');
    gateway = await startGateway([central, keypad]);
  });
  afterEach(async () => {
    await gateway.stop();
  });

  it('lets an installer open a window, press the buttons, and see which reported and which did not', async () => {
    const opened = await gateway.request('POST', '/test-windows', { site: 'bank-1', minutes: 30, devices: ['zone-5', 'zone-6', 'user-12'] });
    expect(opened.status).toBe(201);
    expect(opened.body).toMatchObject({ id: expect.any(String), endsAt: new Date(gateway.clock.now() + 30 * MINUTE).toISOString() });
    const { id } = opened.body as { id: string };

    const press = await gateway.receive(cid('130', 5));
    expect(press.test).toBe(true);
    await until(() => central.delivered.some((e) => e.id === press.id), 'the test event to be published');

    const listed = await runTestCommand(['list', '--api', gateway.base]);
    expect(listed.exitCode).toBe(0);
    expect(listed.out).toContain(`test window ${id} for site bank-1: open until`);
    expect(listed.out).toContain('reported (1/3): zone-5');
    expect(listed.out).toContain('not reported: zone-6, user-12');

    gateway.clock.advance(30 * MINUTE);
    await gateway.wiring.tick();
    await gateway.wiring.assurance.flush();
    expect((await gateway.request('GET', '/test-windows')).body).toEqual({ windows: [] });
    await until(() => central.delivered.some((e) => e.control?.action === 'test-window-expired'), 'the window summary to be published');
    const summaries = central.delivered.filter((e) => e.control?.action === 'test-window-expired');
    expect(summaries).toHaveLength(1);
    expect(summaries[0]!.control).toMatchObject({ by: 'gateway', role: 'system', channel: 'gateway', window: id });
    expect((summaries[0]!.devices as Array<{ device: string }>).map((d) => d.device)).toEqual(['zone-6', 'user-12']);
    expect((await gateway.request('GET', '/test-windows?all=1')).body.windows[0]).toMatchObject({ id, closeReason: 'expired', exercised: ['zone-5'] });
  });

  it('opens and stops windows from the CLI and explains refusals', async () => {
    const started = await runTestCommand(['start', '--site', 'bank-1', '--minutes', '15', '--device', 'zone-5,zone-6', '--api', gateway.base, '--json']);
    expect(started.exitCode).toBe(0);
    const window = JSON.parse(started.out) as { id: string; devices: string[] };
    expect(window.devices).toEqual(['zone-5', 'zone-6']);
    await gateway.receive(cid('130', 6));

    const stopped = await runTestCommand(['stop', window.id, '--api', gateway.base]);
    expect(stopped.out).toMatch(/closed .* \(stopped\)\n {2}reported \(1\/2\): zone-6\n {2}not reported: zone-5\n$/);

    // A retry (the answer was lost) is answered with the same outcome; a window nobody stopped so, not found.
    expect(await runTestCommand(['stop', window.id, '--api', gateway.base])).toEqual(stopped);
    const unknown = await runTestCommand(['stop', 'no-such-window', '--api', gateway.base]);
    expect(unknown).toMatchObject({ exitCode: 64, err: 'error WINDOW_NOT_FOUND: no open test window no-such-window\n' });
    expect((await gateway.request('POST', '/test-windows', { site: 'mars', minutes: 5 })).body.error.code).toBe('SITE_NOT_FOUND');
    const bad = await gateway.request('POST', '/test-windows', { site: 'bank-1', minutes: 'ten' });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST', message: 'minutes must be a number' } } });
    const unknownDevice = await gateway.request('POST', '/test-windows', { site: 'bank-1', minutes: 5, devices: ['zone-3'] });
    expect(unknownDevice.status).toBe(400);
  });

  it('keeps a real duress incident open through a disarm until it is acknowledged', async () => {
    const duress = await gateway.receive(cid('121', 12));
    gateway.clock.advance(MINUTE);
    const disarm = await gateway.receive(cid('401', 4));
    expect(disarm.incident).toBe(duress.incident);
    const open = await gateway.request('GET', '/incidents');
    expect(open.body.incidents).toEqual([expect.objectContaining({ id: duress.incident, category: 'duress', acknowledged: false, eventCount: 2 })]);

    const ack = await gateway.request('POST', `/incidents/${duress.incident}/ack`, { by: 'operator 7', note: 'police attended' }, 'operator');
    // Recorded under the token's name, whatever `by` claims.
    expect(ack).toMatchObject({ status: 200, body: { incident: { acknowledged: true, ackedBy: 'operator-1', note: 'police attended' } } });
    expect((await gateway.request('GET', '/incidents')).body).toEqual({ incidents: [] });
    expect((await gateway.request('GET', '/incidents?all=1')).body.incidents).toHaveLength(1);
    expect((await gateway.request('POST', `/incidents/${duress.incident}/ack`)).status).toBe(409);
    expect((await gateway.request('POST', '/incidents/nope/ack', { by: 7 })).status).toBe(400);
    expect((await gateway.request('POST', '/incidents/nope/ack')).body.error.code).toBe('INCIDENT_NOT_FOUND');
  });

  it('serves the device ledger, filtered', async () => {
    await gateway.receive(cid('615', 5));
    gateway.clock.advance(8 * 24 * 60 * MINUTE);
    const all = await gateway.request('GET', '/devices');
    expect(all.body.devices.map((d: { device: string }) => d.device)).toEqual(['zone-5', 'zone-6', 'user-12']);
    expect(all.body.devices[0]).toMatchObject({ site: 'bank-1', kind: 'zone', number: 5, testCount: 1, neverTested: false, overdue: true, testEvery: 7 * 24 * 60 * MINUTE });
    const neverTested = await gateway.request('GET', '/devices?neverTested=1');
    expect(neverTested.body.devices.map((d: { device: string }) => d.device)).toEqual(['zone-6', 'user-12']);
  });

  it('alarms when the central output has not confirmed a duress in time, and clears when it has', async () => {
    central.failing = true;
    const holdup = await gateway.receive(cid('122', 5));
    gateway.clock.advance(10_001);
    await gateway.wiring.tick();
    expect(gateway.wiring.health()).toMatchObject({ state: 'degraded', undeliveredDuress: [{ eventId: holdup.id }] });
    central.failing = false;
    await until(() => central.delivered.some((e) => e.id === holdup.id), 'the hold-up to be delivered');
    await until(() => gateway.wiring.health().state === 'up', 'the alert to clear');
    await until(() => central.delivered.filter((e) => e.category === 'supervisory').length === 2, 'the alert and its restore');
    expect(central.delivered.filter((e) => e.category === 'supervisory').map((e) => e.qualifier)).toEqual(['new', 'restore']);
  });

  it('delivers a hold-up the central output refused for good once an operator retries it, and clears its missed deadline', async () => {
    central.refusing = true; // the centre rotated its webhook secret: 401
    const holdup = await gateway.receive(cid('122', 5));
    await until(() => gateway.outbox.deadLetterCount('cms') === 1, 'the refusal to become a dead letter');
    gateway.clock.advance(10_001);
    await gateway.wiring.tick();
    expect(gateway.wiring.health()).toMatchObject({ state: 'degraded', undeliveredDuress: [{ eventId: holdup.id }] });

    central.refusing = false; // the new secret is configured
    expect((await gateway.request('POST', '/dead-letters/retry', { output: 'cms' }, 'viewer')).status).toBe(403);
    expect((await gateway.request('POST', '/dead-letters/retry', { output: 'cms' }, 'installer')).status).toBe(403);
    expect(gateway.outbox.deadLetterCount('cms')).toBe(1);
    const retry = await gateway.request('POST', '/dead-letters/retry', { output: 'cms', note: 'secret rotated' }, 'operator');
    expect(retry).toEqual({ status: 200, body: { retried: 1, remaining: 0 } });

    await until(() => central.delivered.some((e) => e.id === holdup.id), 'the retried hold-up to be delivered');
    await until(() => gateway.wiring.health().state === 'up', 'the missed deadline to clear');
    await until(() => central.delivered.some((e) => e.control?.action === 'dead-letters-retried'), 'the control event');
    expect(central.delivered.find((e) => e.control?.action === 'dead-letters-retried')!.control).toMatchObject({ by: 'operator-1', role: 'operator', output: 'cms', note: 'secret rotated' });
    await until(() => central.delivered.some((e) => e.qualifier === 'restore' && e.reasons[0]!.includes(holdup.id)), 'the restore of the missed deadline');
    expect(central.delivered.filter((e) => e.id === holdup.id)).toHaveLength(1);
    expect(keypad.delivered.some((e) => e.id === holdup.id || e.control != null || e.category === 'supervisory')).toBe(false);
  });
});

describe('a control action through the API', () => {
  let central: RecordingOutput;
  let gateway: Awaited<ReturnType<typeof startGateway>>;

  beforeEach(async () => {
    central = new RecordingOutput('cms', 'central');
    gateway = await startGateway([central]);
  });
  afterEach(async () => {
    await gateway.stop();
  });

  /** Sends a request while the outbox holds every append: true when the API answered before its store resolved. */
  async function answeredBeforeStored(method: string, path: string, body: unknown, role: Role): Promise<{ early: boolean; status: number }> {
    const { appending, release } = gateAppends(gateway.outbox);
    let answered = false;
    const reply = gateway.request(method, path, body, role).then((r) => ((answered = true), r));
    await appending;
    // Time for an answer already sent to arrive.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const early = answered;
    release();
    return { early, status: (await reply).status };
  }

  it('answers an acknowledgement, a window opened or stopped and a dead-letter retry only once its event for central is stored', async () => {
    const holdup = await gateway.receive(cid('122', 5));
    expect(await answeredBeforeStored('POST', `/incidents/${holdup.incident}/ack`, { note: 'police attended' }, 'operator')).toEqual({ early: false, status: 200 });

    const opened = await answeredBeforeStored('POST', '/test-windows', { site: 'bank-1', minutes: 30 }, 'installer');
    expect(opened).toEqual({ early: false, status: 201 });
    const [window] = (await gateway.request('GET', '/test-windows')).body.windows as Array<{ id: string }>;
    expect(await answeredBeforeStored('DELETE', `/test-windows/${window!.id}`, {}, 'installer')).toEqual({ early: false, status: 200 });

    central.refusing = true;
    const panic = await gateway.receive(cid('120', 9));
    await until(() => gateway.outbox.deadLetterCount('cms') > 0, 'a dead letter');
    central.refusing = false;
    expect(await answeredBeforeStored('POST', '/dead-letters/retry', { output: 'cms' }, 'operator')).toEqual({ early: false, status: 200 });
    await until(() => central.delivered.some((e) => e.id === panic.id), 'the retried event');
  });

  it('answers 503 CONTROL_NOT_STORED when the outbox refuses the event: the action stands, its event is stored at the next check, another acknowledgement is refused', async () => {
    const holdup = await gateway.receive(cid('122', 5));
    const append = gateway.outbox.append.bind(gateway.outbox);
    gateway.outbox.append = () => Promise.reject(new Error('SQLITE_FULL: database or disk is full'));
    const ack = await gateway.request('POST', `/incidents/${holdup.incident}/ack`, { note: 'police attended' }, 'operator');
    expect(ack.status).toBe(503);
    expect(ack.body.error.code).toBe('CONTROL_NOT_STORED');
    expect(ack.body.error.message).toContain(`incident ${holdup.incident} was acknowledged`);
    expect(ack.body.error.message).toContain('audit log');
    expect((await gateway.request('POST', `/incidents/${holdup.incident}/ack`, {}, 'operator')).body.error.code).toBe('ALREADY_ACKNOWLEDGED');

    gateway.outbox.append = append;
    await gateway.wiring.tick();
    await gateway.wiring.assurance.flush();
    await until(() => central.delivered.some((e) => e.control?.action === 'incident-acknowledged'), 'the control event');
    expect(central.delivered.filter((e) => e.control?.action === 'incident-acknowledged')).toHaveLength(1);
  });

  it('answers a control action under way when the API stops, instead of cutting its connection', async () => {
    const holdup = await gateway.receive(cid('122', 5));
    const { appending, release } = gateAppends(gateway.outbox);
    const reply = gateway.request('POST', `/incidents/${holdup.incident}/ack`, { note: 'police attended' }, 'operator');
    await appending;
    const stopping = gateway.api.stop();
    setTimeout(release, 50);
    expect((await reply).status).toBe(200);
    await stopping;
  });

  it('answers a dead-letter retry the outbox cannot write 503 OUTBOX_WRITE_FAILED: nothing was retried, so it may be repeated', async () => {
    gateway.outbox.retryDeadLetters = () => {
      throw outboxWriteFailed('the outbox transaction failed', new Error('database or disk is full'));
    };
    const retry = await gateway.request('POST', '/dead-letters/retry', { output: 'cms' }, 'operator');
    expect([retry.status, retry.body.error.code]).toEqual([503, 'OUTBOX_WRITE_FAILED']);
    expect(retry.body.error.message).toMatch(/nothing was retried.*database or disk is full/);
  });

  it('names the window that stands in a 503 CONTROL_NOT_STORED, and answers a repeated opening with it instead of opening a second', async () => {
    const append = gateway.outbox.append.bind(gateway.outbox);
    gateway.outbox.append = () => Promise.reject(new Error('SQLITE_FULL: database or disk is full'));
    const opening = { site: 'bank-1', minutes: 30, devices: ['zone-5'] };
    const first = await gateway.request('POST', '/test-windows', opening, 'installer');
    expect(first.status).toBe(503);
    expect(first.body.error.code).toBe('CONTROL_NOT_STORED');
    const id = first.body.result.id as string;
    expect(first.body.result).toMatchObject({ site: 'bank-1', devices: ['zone-5'] });
    // The retry a client makes after a 503: still not stored, so still 503, for the same window.
    const retried = await gateway.request('POST', '/test-windows', opening, 'installer');
    expect([retried.status, retried.body.result?.id]).toEqual([503, id]);

    gateway.outbox.append = append;
    await gateway.wiring.tick();
    await gateway.wiring.assurance.flush();
    const again = await gateway.request('POST', '/test-windows', opening, 'installer');
    expect([again.status, again.body.id]).toEqual([200, id]);
    // Another scope or length is another window.
    expect((await gateway.request('POST', '/test-windows', { ...opening, minutes: 60 }, 'installer')).status).toBe(201);
    expect((await gateway.request('GET', '/test-windows')).body.windows).toHaveLength(2);
    await until(() => central.delivered.filter((e) => e.control?.action === 'test-window-opened').length === 2, 'the opening events');
  });

  it('`test start` after a 503 CONTROL_NOT_STORED prints the window that stands and exits 74, not 69', async () => {
    gateway.outbox.append = () => Promise.reject(new Error('SQLITE_FULL: database or disk is full'));
    const started = await runTestCommand(['start', '--site', 'bank-1', '--minutes', '15', '--api', gateway.base]);
    const [window] = (await gateway.request('GET', '/test-windows')).body.windows as Array<{ id: string }>;
    expect(started.exitCode).toBe(74);
    expect(started.out).toContain(`test window ${window!.id} open for site bank-1`);
    expect(started.err).toMatch(/CONTROL_NOT_STORED.*need not be repeated/);
  });
  it('answers an acknowledgement repeated after a 503 CONTROL_NOT_STORED with the one that stands, and refuses a different one', async () => {
    const holdup = await gateway.receive(cid('122', 5));
    const append = gateway.outbox.append.bind(gateway.outbox);
    gateway.outbox.append = () => Promise.reject(new Error('SQLITE_FULL: database or disk is full'));
    const ack = ['ack', holdup.incident!, '--note', 'police attended', '--api', gateway.base];
    const first = await runIncidentsCommand(ack);
    expect([first.exitCode, first.err]).toEqual([74, expect.stringContaining('CONTROL_NOT_STORED')]);
    // The client's retry: the acknowledgement stands, its event is still not stored.
    const retried = await runIncidentsCommand(ack);
    expect([retried.exitCode, retried.out]).toEqual([74, expect.stringContaining('by operator-1 (police attended)')]);
    const path = `/incidents/${holdup.incident}/ack`;
    expect((await gateway.request('POST', path, { note: 'police attended' }, 'operator')).body.result.incident).toMatchObject({ ackedBy: 'operator-1', note: 'police attended' });
    // Another person, or another note, is another acknowledgement: refused.
    expect((await gateway.request('POST', path, { note: 'police attended' }, 'admin')).body.error.code).toBe('ALREADY_ACKNOWLEDGED');
    expect((await gateway.request('POST', path, { note: 'false alarm' }, 'operator')).body.error.code).toBe('ALREADY_ACKNOWLEDGED');

    gateway.outbox.append = append;
    await gateway.wiring.tick();
    await gateway.wiring.assurance.flush();
    const stored = await runIncidentsCommand(ack);
    expect(stored.exitCode).toBe(0);
    await until(() => central.delivered.some((e) => e.control?.action === 'incident-acknowledged'), 'the control event');
    expect(central.delivered.filter((e) => e.control?.action === 'incident-acknowledged')).toHaveLength(1);
  });

  it('answers a stop repeated after a 503 CONTROL_NOT_STORED with the window it closed, and refuses it to another person', async () => {
    const opened = await gateway.request('POST', '/test-windows', { site: 'bank-1', minutes: 30 }, 'installer');
    const append = gateway.outbox.append.bind(gateway.outbox);
    gateway.outbox.append = () => Promise.reject(new Error('SQLITE_FULL: database or disk is full'));
    const path = `/test-windows/${opened.body.id}`;
    const first = await gateway.request('DELETE', path, {}, 'installer');
    expect([first.status, first.body.error.code, first.body.result.closeReason]).toEqual([503, 'CONTROL_NOT_STORED', 'stopped']);
    const retried = await runTestCommand(['stop', opened.body.id, '--api', gateway.base]);
    expect([retried.exitCode, retried.err]).toEqual([74, expect.stringContaining('CONTROL_NOT_STORED')]);
    expect((await gateway.request('DELETE', path, {}, 'admin')).body.error.code).toBe('WINDOW_NOT_FOUND');

    gateway.outbox.append = append;
    await gateway.wiring.tick();
    await gateway.wiring.assurance.flush();
    const again = await gateway.request('DELETE', path, {}, 'installer');
    expect([again.status, again.body.closedAt, again.body.stoppedBy]).toEqual([200, first.body.result.closedAt, 'installer-1']);
    await until(() => central.delivered.some((e) => e.control?.action === 'test-window-stopped'), 'the control event');
    expect(central.delivered.filter((e) => e.control?.action === 'test-window-stopped')).toHaveLength(1);
  });
});

describe('duress assurance after a restart', () => {
  it('picks up duress events still waiting for every central output and holds them to the deadline', async () => {
    const clock = new FakeClock();
    const outbox = new MemoryOutbox({ clock });
    const builder = { ids: createIdSource(clock, seededRandom(5)), sites: () => SETTINGS.sites };
    outbox.registerOutputs(['cms', 'cms-backup', 'keypad']);
    const origin = { input: 'panel', transport: 'tcp' as const, receivedAt: clock.now(), raw: new Uint8Array([0x31]), trust: VERIFIED };
    const [confirmed, waiting] = (await outbox.append([eventFromSignal(cid('122', 5), origin, builder), eventFromSignal(cid('122', 6), origin, builder)])).entries;
    outbox.markDelivered('cms-backup', [confirmed!.seq]); // one central output has it: confirmed before the restart
    const outputs = [new RecordingOutput('cms', 'central'), new RecordingOutput('cms-backup', 'central'), new RecordingOutput('keypad', 'local')];
    const bus = new EventBus({ logger: silentLogger });
    const recorder = new Recorder({ outbox, counters: new Counters(), logger: silentLogger, backlogLimit: 10_000, bus });
    const wiring = wireAssurance(
      { recorder, api: undefined, outputs, outbox, builder, bus },
      SETTINGS,
      { clock, logger: silentLogger, store: AssuranceStore.open(':memory:'), tickMs: 3_600_000 },
    );
    try {
      clock.advance(10_001);
      await wiring.tick();
      expect(wiring.health().undeliveredDuress.map((u) => u.eventId)).toEqual([waiting!.event.id]);
    } finally {
      await wiring.stop();
    }
  });
});

describe('duress assurance over MQTT', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await getTestBroker();
  });
  afterAll(async () => {
    await broker.close();
  });

  function mqttOutput(name: string, prefix: string, audience: Audience): MqttOutput {
    return new MqttOutput(
      { name, url: broker.url, topicPrefix: prefix, audience, embeddedPort: 1884, incidentAcks: true },
      { clock: new FakeClock(), logger: silentLogger, gateway: { id: 'gw-test', version: 'test' }, reconnectPeriodMs: 100, connectTimeoutMs: 2_000 },
    );
  }

  it('keeps a retained state per device on central outputs only, and takes acknowledgements there', async () => {
    const prefix = uniquePrefix('assurance');
    const localPrefix = uniquePrefix('assurance-local');
    const gateway = await startGateway([mqttOutput('cms', prefix, 'central'), mqttOutput('owner-phone', localPrefix, 'local')]);
    const states = await MessageLog.subscribe(broker.url, `${prefix}/devices/#`);
    const local = await MessageLog.subscribe(broker.url, `${localPrefix}/#`);
    try {
      const press = await gateway.receive(cid('130', 5));
      await gateway.wiring.tick();
      const zone5 = await states.waitFor((m) => m.topic === `${prefix}/devices/bank-1/zone-5` && m.payload.includes(press.id));
      expect(JSON.parse(zone5.payload)).toMatchObject({ site: 'bank-1', device: 'zone-5', lastActivatedAt: press.receivedAt });
      await states.waitFor((m) => m.topic === `${prefix}/devices/bank-1/user-12`);
      const retained = await MessageLog.subscribe(broker.url, `${prefix}/devices/bank-1/zone-5`);
      expect((await retained.waitFor(() => true)).retain).toBe(true);
      await retained.close();
      expect(local.messages.filter((m) => m.topic.includes('/devices/'))).toEqual([]);

      const client = await connectAsync(broker.url, { reconnectPeriod: 0 });
      // The owner's phone (local) tries first: a local audience must never clear a duress.
      await client.publishAsync(`${localPrefix}/incidents/${press.incident}/ack`, '', { qos: 1 });
      await client.publishAsync(`${prefix}/incidents/${press.incident}/ack`, JSON.stringify({ by: 'cms operator', note: 'false alarm' }), { qos: 1 });
      await client.endAsync();
      await until(() => incidentViews(gateway.wiring.assurance).length === 0, 'the MQTT acknowledgement');
      expect(incidentViews(gateway.wiring.assurance, true)[0]).toMatchObject({ ackedBy: 'cms operator (mqtt:cms)', note: 'false alarm' });
    } finally {
      await states.close();
      await local.close();
      await gateway.stop();
    }
  });

  it('answers an MQTT acknowledgement on .../ack/result only once its event is stored, and with the API refusal when it is not', async () => {
    const prefix = uniquePrefix('assurance-ack');
    const { logger, lines } = recordingLogger();
    const gateway = await startGateway([mqttOutput('cms', prefix, 'central')], logger);
    const answers = await MessageLog.subscribe(broker.url, `${prefix}/incidents/+/ack/result`);
    const client = await connectAsync(broker.url, { reconnectPeriod: 0 });
    try {
      const first = await gateway.receive(cid('122', 5));
      const { appending, release } = gateAppends(gateway.outbox);
      await client.publishAsync(`${prefix}/incidents/${first.incident}/ack`, 'police attended', { qos: 1 });
      await appending;
      // Time for an answer sent early to arrive.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(answers.messages).toEqual([]);
      release();
      const stored = await answers.waitFor((m) => m.topic === `${prefix}/incidents/${first.incident}/ack/result`);
      expect(JSON.parse(stored.payload)).toMatchObject({ incident: { id: first.incident, note: 'police attended' } });

      await client.publishAsync(`${prefix}/incidents/${first.incident}/ack`, '', { qos: 1 });
      const repeated = await answers.waitFor((m) => m.topic === `${prefix}/incidents/${first.incident}/ack/result` && m.payload.includes('error'));
      expect(JSON.parse(repeated.payload).error.code).toBe('ALREADY_ACKNOWLEDGED');

      const second = await gateway.receive(cid('122', 6));
      expect(second.incident).not.toBe(first.incident);
      gateway.outbox.append = () => Promise.reject(new Error('SQLITE_FULL: database or disk is full'));
      await client.publishAsync(`${prefix}/incidents/${second.incident}/ack`, '', { qos: 1 });
      const refused = JSON.parse((await answers.waitFor((m) => m.topic === `${prefix}/incidents/${second.incident}/ack/result`)).payload);
      expect(refused.error.code).toBe('CONTROL_NOT_STORED');
      expect(refused.error.message).toContain(`incident ${second.incident} was acknowledged`);
      expect(refused.result).toMatchObject({ incident: { id: second.incident } });
      // Repeated by the same sender after that refusal, it is answered as the API answers a retry: what stands.
      await client.publishAsync(`${prefix}/incidents/${second.incident}/ack`, '', { qos: 1 });
      const secondAnswers = () => answers.messages.filter((m) => m.topic === `${prefix}/incidents/${second.incident}/ack/result`);
      await until(() => secondAnswers().length === 2, 'the answer to the repeat');
      expect(JSON.parse(secondAnswers()[1]!.payload)).toMatchObject({ error: { code: 'CONTROL_NOT_STORED' }, result: { incident: { id: second.incident } } });

      // Refusals are counted, and logged at most once in a while however many come.
      for (const id of ['nope-1', 'nope-2', 'nope-3']) await client.publishAsync(`${prefix}/incidents/${id}/ack`, '', { qos: 1 });
      const unknown = await answers.waitFor((m) => m.topic === `${prefix}/incidents/nope-3/ack/result`);
      expect(JSON.parse(unknown.payload).error.code).toBe('INCIDENT_NOT_FOUND');
      expect(gateway.counters.get('mqtt_acks_refused_total', { output: 'cms', code: 'INCIDENT_NOT_FOUND' })).toBe(3);
      expect(lines.filter((l) => l.message === 'incident acknowledgement over MQTT refused' && l.fields.code === 'INCIDENT_NOT_FOUND')).toHaveLength(1);
    } finally {
      await client.endAsync();
      await answers.close();
      await gateway.stop();
    }
  });
});
