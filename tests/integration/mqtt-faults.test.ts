import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { connectAsync, type IPublishPacket, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { MqttOutput, type MqttOutputDeps, type MqttOutputOptions } from '../../adapters/outputs/mqtt.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { Dispatcher } from '../../src/pipeline/dispatcher.js';
import { silentLogger, systemClock } from '../../src/ports.js';
import { startTcpProxy } from '../helpers/broker.js';
import { mosquittoInstalled, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { testEvent } from '../helpers/output-events.js';
import { freePort } from '../helpers/broker.js';
import { GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { panelFrame, parseAnswer, TcpPanel } from '../helpers/panel.js';

/**
 * MQTT faults against a real Mosquitto each test starts for itself (password file, ACL file, TLS with
 * certificates made by the test): refused credentials, ACL denials, dropped connections, a stalled network.
 */

const GATEWAY_USER = 'gateway';
const GATEWAY_PASSWORD = 'gateway-Pa55-right';
const WATCHER = { user: 'watcher', password: 'watcher-Pa55' };
const PREFIX = 'pbfault';
/** The gateway may write its status and the events of site `allowed`; not those of site `denied`. */
const ACL = `user ${GATEWAY_USER}
topic write ${PREFIX}/status
topic write ${PREFIX}/events/allowed/#
topic readwrite ${PREFIX}/devices/#

user ${WATCHER.user}
topic read #
`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}

describe.skipIf(!mosquittoInstalled)('MQTT output against a real Mosquitto with passwords, ACL and TLS', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function broker(): Promise<Mosquitto> {
    const mosquitto = await startMosquitto({ users: { [GATEWAY_USER]: GATEWAY_PASSWORD, [WATCHER.user]: WATCHER.password }, acl: ACL, tls: true });
    cleanups.push(() => mosquitto.close());
    return mosquitto;
  }

  async function started(url: string, extra: Partial<MqttOutputOptions>, deps: Partial<MqttOutputDeps> = {}): Promise<MqttOutput> {
    const output = new MqttOutput(
      { name: 'central', url, topicPrefix: PREFIX, audience: 'central', embeddedPort: 1884, username: GATEWAY_USER, password: GATEWAY_PASSWORD, ...extra },
      { clock: systemClock, logger: silentLogger, gateway: { id: 'gw-fault', version: '0' }, reconnectPeriodMs: 200, reconnectMaxMs: 1_000, connectTimeoutMs: 2_000, ...deps },
    );
    await output.start();
    cleanups.push(() => output.stop());
    return output;
  }

  /** An MQTT 5 subscriber (as `watcher`) that keeps every packet it gets. */
  async function watch(mosquitto: Mosquitto, filter: string): Promise<{ packets: IPublishPacket[]; client: MqttClient }> {
    const client = await connectAsync(mosquitto.url, {
      protocolVersion: 5,
      username: WATCHER.user,
      password: WATCHER.password,
      ca: readFileSync(mosquitto.tls!.ca),
      reconnectPeriod: 0,
    });
    cleanups.push(() => client.endAsync(true));
    const packets: IPublishPacket[] = [];
    client.on('message', (_topic, _payload, packet) => packets.push(packet));
    await client.subscribeAsync(filter, { qos: 1 });
    return { packets, client };
  }

  function dispatching(output: MqttOutput): { outbox: MemoryOutbox; dispatcher: Dispatcher } {
    const outbox = new MemoryOutbox();
    const dispatcher = new Dispatcher({ outbox, outputs: [output], clock: systemClock, logger: silentLogger, backoff: { initialMs: 50, maxMs: 200 } });
    dispatcher.start();
    cleanups.push(() => dispatcher.stop());
    return { outbox, dispatcher };
  }

  it('after a refused login keeps trying; once the broker is fixed (SIGHUP) the kept events flow, without a restart', async () => {
    const mosquitto = await broker();
    await mosquitto.reconfigure({ users: { [GATEWAY_USER]: 'another-password', [WATCHER.user]: WATCHER.password } });
    const output = await started(mosquitto.url, { ca: mosquitto.tls!.ca });
    const { outbox, dispatcher } = dispatching(output);
    const duress = testEvent({ account: '1234', category: 'duress', siteId: 'allowed' });
    await outbox.append([duress]);
    await until(() => /not authori[sz]ed|bad user/i.test(output.health().detail ?? ''));
    expect(output.health().state).toBe('down');
    // Several refusals in a row: mqtt.js on its own stops after the first CONNACK refusal.
    await sleep(1_500);
    expect(dispatcher.stats().central!.delivered).toBe(0);

    const feed = await watch(mosquitto, `${PREFIX}/events/#`);
    await mosquitto.reconfigure({ users: { [GATEWAY_USER]: GATEWAY_PASSWORD, [WATCHER.user]: WATCHER.password } });
    await until(() => feed.packets.some((p) => p.topic === `${PREFIX}/events/allowed/duress`));
    expect(JSON.parse(feed.packets[0]!.payload.toString()).id).toBe(duress.id);
    expect(output.health().state).toBe('up');
    await until(() => outbox.backlog('central') === 0);
  });

  it('a running gateway (panelbridge run) refused by the broker delivers once the broker is fixed with SIGHUP', async () => {
    const mosquitto = await broker();
    await mosquitto.reconfigure({ users: { [GATEWAY_USER]: 'another-password', [WATCHER.user]: WATCHER.password } });
    const dir = tempDir('mqtt-sighup');
    const port = await freePort();
    const gateway = GatewayProcess.spawn(
      writeConfig(dir, {
        dataDir: `${dir}/var`,
        inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port, udp: false }],
        outputs: [{ type: 'mqtt', name: 'cms', url: mosquitto.url, topicPrefix: PREFIX, username: GATEWAY_USER, password: GATEWAY_PASSWORD, ca: mosquitto.tls!.ca }],
        sites: [{ id: 'allowed', accounts: ['1234'] }],
      }),
    );
    cleanups.push(async () => {
      gateway.kill('SIGKILL');
      await gateway.exited;
    });
    await gateway.ready;
    const panel = await TcpPanel.connect(port);
    expect(parseAnswer((await panel.send(panelFrame({ token: 'SIA-DCS', seq: '0001', account: '1234', data: '#1234|Nri1/HA05' })))!).token).toBe('ACK');
    panel.close();
    await until(() => gateway.stdout.some((line) => /not authori[sz]ed|bad user/i.test(line)));

    const feed = await watch(mosquitto, `${PREFIX}/events/#`);
    await sleep(1_000);
    expect(feed.packets).toHaveLength(0);
    await mosquitto.reconfigure({ users: { [GATEWAY_USER]: GATEWAY_PASSWORD, [WATCHER.user]: WATCHER.password } });
    await until(() => feed.packets.some((p) => p.topic === `${PREFIX}/events/allowed/holdup`), 15_000);
    expect(gateway.child.exitCode).toBeNull();
  }, 30_000);

  it('never counts an event on an ACL-denied topic as delivered: retried, then a dead letter, degraded health naming the topic', async () => {
    const mosquitto = await broker();
    const output = await started(mosquitto.url, { ca: mosquitto.tls!.ca, maxAttempts: 3 });
    const feed = await watch(mosquitto, `${PREFIX}/events/#`);
    const { outbox, dispatcher } = dispatching(output);
    const denied = testEvent({ account: '1234', category: 'duress', siteId: 'denied' });
    const allowed = testEvent({ account: '5678', category: 'holdup', siteId: 'allowed' });
    await outbox.append([denied, allowed]);

    await until(() => outbox.deadLetters('central').length === 1);
    await until(() => feed.packets.length === 1);
    const stats = dispatcher.stats().central!;
    expect(stats).toMatchObject({ delivered: 1, dead: 1, failed: 2 });
    expect(outbox.deadLetters('central')[0]).toMatchObject({ event: { id: denied.id } });
    expect(feed.packets.map((p) => JSON.parse(p.payload.toString()).id)).toEqual([allowed.id]);
    expect(output.health()).toMatchObject({ state: 'degraded', detail: expect.stringContaining(`${PREFIX}/events/denied/duress`) });

    // The ACL is fixed: the next event on that topic gets through and the output is healthy again.
    await mosquitto.reconfigure({ acl: `${ACL}\nuser ${GATEWAY_USER}\ntopic write ${PREFIX}/events/denied/#\n` });
    expect(await output.deliver(testEvent({ account: '1234', category: 'duress', siteId: 'denied' }))).toEqual({ ok: true });
    expect(output.health().state).toBe('up');
  });

  it('with protocolVersion 4 (MQTT 3.1.1) the broker acknowledges a publish its ACL dropped: why 5 is the default', async () => {
    const mosquitto = await broker();
    const output = await started(mosquitto.url, { ca: mosquitto.tls!.ca, protocolVersion: 4 });
    expect(await output.deliver(testEvent({ siteId: 'denied' }))).toEqual({ ok: true });
  });

  it('publishes events and status with MQTT 5 content type application/json', async () => {
    const mosquitto = await broker();
    const feed = await watch(mosquitto, `${PREFIX}/#`);
    const output = await started(mosquitto.url, { ca: mosquitto.tls!.ca });
    expect(await output.deliver(testEvent({ siteId: 'allowed' }))).toEqual({ ok: true });
    await until(() => feed.packets.some((p) => p.topic.includes('/events/')) && feed.packets.some((p) => p.topic.endsWith('/status')));
    for (const packet of feed.packets) expect(packet.properties?.contentType).toBe('application/json');
  });

  it('keeps the retained status honest: online since its connection, a will that does not claim when it dropped', async () => {
    const mosquitto = await broker();
    const proxy = await startTcpProxy(mosquitto.url);
    cleanups.push(() => proxy.close());
    const feed = await watch(mosquitto, `${PREFIX}/status`);
    const startedAt = Date.now();
    // Through the proxy, TLS still ends at Mosquitto: the server name is checked against 127.0.0.1.
    await started(proxy.url.replace('mqtt://', 'mqtts://'), { ca: mosquitto.tls!.ca });
    const states = () => feed.packets.map((p) => JSON.parse(p.payload.toString()) as { state: string; since: string | null; connectedAt?: string });
    await until(() => states().some((s) => s.state === 'online'));
    await sleep(300);
    proxy.cut();
    await until(() => states().filter((s) => s.state === 'online').length === 2);
    const reconnectedAt = Date.now();
    await sleep(300);
    proxy.cut();
    await until(() => states().filter((s) => s.state === 'offline').length === 2);

    const [firstOnline, secondOnline] = states().filter((s) => s.state === 'online');
    const wills = states().filter((s) => s.state === 'offline');
    expect(Date.parse(firstOnline!.since!)).toBeGreaterThanOrEqual(startedAt - 5);
    expect(Date.parse(secondOnline!.since!)).toBeGreaterThan(Date.parse(firstOnline!.since!) + 250);
    for (const will of wills) expect(will.since).toBeNull();
    // The second will belongs to the second connection, not to the start of the run.
    expect(Date.parse(wills[1]!.connectedAt!)).toBeGreaterThan(Date.parse(firstOnline!.since!) + 250);
    expect(Date.parse(wills[1]!.connectedAt!)).toBeLessThanOrEqual(reconnectedAt);
  });
});

describe('MQTT output: reconnect backoff and publishes that cannot hang', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('backs off between reconnect attempts, doubling from the first delay', async () => {
    let attempts = 0;
    const server = net.createServer((socket) => {
      attempts += 1;
      socket.destroy();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const { port } = server.address() as net.AddressInfo;
    const output = new MqttOutput(
      { name: 'central', url: `mqtt://127.0.0.1:${port}`, topicPrefix: PREFIX, audience: 'central', embeddedPort: 1884 },
      { clock: systemClock, logger: silentLogger, gateway: { id: 'gw', version: '0' }, reconnectPeriodMs: 100, connectTimeoutMs: 500 },
    );
    await output.start();
    cleanups.push(() => output.stop());
    const from = attempts;
    await sleep(2_000);
    // 100, 200, 400, 800 ms (±20 %): about four more attempts; a fixed 100 ms period would have made twenty.
    expect(attempts - from).toBeGreaterThanOrEqual(2);
    expect(attempts - from).toBeLessThanOrEqual(6);
  });

  it('ends a retained publish whose connection stalls: with the timeout, and at once when the connection drops', async () => {
    const mosquitto = await startMosquitto();
    cleanups.push(() => mosquitto.close());
    const proxy = await startTcpProxy(mosquitto.url);
    cleanups.push(() => proxy.close());
    const output = new MqttOutput(
      { name: 'central', url: proxy.url, topicPrefix: PREFIX, audience: 'central', embeddedPort: 1884 },
      { clock: systemClock, logger: silentLogger, gateway: { id: 'gw', version: '0' }, reconnectPeriodMs: 100, publishTimeoutMs: 500 },
    );
    await output.start();
    cleanups.push(() => output.stop());
    expect(output.health().state).toBe('up');
    // The online status goes out at connect; acknowledged with this one, it cannot time out first and end the
    // connection under the publish this test holds.
    await output.publishRetained('devices/a/a', { state: 'ready' });

    proxy.holdUpstream();
    const started = Date.now();
    await expect(output.publishRetained('devices/a/b', { state: 'x' })).rejects.toThrow(/no PUBACK within 500 ms/);
    expect(Date.now() - started).toBeLessThan(2_000);

    // The timeout ended that connection (its publish is still in flight for the broker); the next one is held too.
    await until(() => output.health().state === 'up');
    proxy.holdUpstream();
    const pending = output.publishRetained('devices/a/c', { state: 'y' });
    proxy.cut();
    await expect(pending).rejects.toThrow(/connection lost before PUBACK/);
    await until(() => output.health().state === 'up');
    await output.publishRetained('devices/a/d', '');
  });
});
