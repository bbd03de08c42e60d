import net from 'node:net';
import { connect, connectAsync, type IConnackPacket } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedBroker } from '../../adapters/outputs/embedded-broker.js';
import { eventTopic, joinWrites, MqttOutput, topicMatches, topicSegment, type MqttOutputOptions } from '../../adapters/outputs/mqtt.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { Dispatcher } from '../../src/pipeline/dispatcher.js';
import { silentLogger, systemClock } from '../../src/ports.js';
import { freePort, getTestBroker, MessageLog, startOpenBroker, startTcpProxy, uniquePrefix, type TestBroker } from '../helpers/broker.js';
import { testEvent } from '../helpers/output-events.js';
import { recordingLogger } from '../helpers/recording-logger.js';

const gateway = { id: 'gw-test', version: '9.9.9-test' };

function mqttOutput(url: string, topicPrefix: string, extra: Partial<MqttOutputOptions> = {}, reconnectPeriodMs = 100): MqttOutput {
  return new MqttOutput(
    { name: 'broker', url, topicPrefix, audience: 'central', embeddedPort: 1884, ...extra },
    { clock: systemClock, logger: silentLogger, gateway, reconnectPeriodMs, connectTimeoutMs: 2_000 },
  );
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('topics', () => {
  it('puts an event under its site, else its account, else "unknown", with wildcard characters neutralised', () => {
    expect(eventTopic('pb', testEvent({ account: '1234', category: 'duress', siteId: 'bank-7' }))).toBe('pb/events/bank-7/duress');
    expect(eventTopic('pb', testEvent({ account: '12/+#4', category: 'fire' }))).toBe('pb/events/12___4/fire');
    expect(eventTopic('pb', testEvent({ account: null, category: 'unrecognized' }))).toBe('pb/events/unknown/unrecognized');
  });

  it('turns what a broker refuses as malformed UTF-8 (controls, lone surrogates, noncharacters) into "_"', () => {
    // An access-XML account `77&#1;01` decodes to a control character; Mosquitto drops the connection on such a topic.
    expect(['77\u000101', 'a\tb\u007f\u0085', 'x\ud800y\udfff', '\ufdd0\ufffe\u{1ffff}', '\u0000'].map(topicSegment)).toEqual([
      '77_01', 'a_b__', 'x_y_', '___', '_',
    ]);
    expect(['bank-7', 'Zürich Nord', '😀'].map(topicSegment)).toEqual(['bank-7', 'Zürich Nord', '😀']);
  });

  it('bounds a long level to 64 characters and a hash, so distinct long values keep distinct topics', () => {
    const [a, b] = [`${'é'.repeat(33_000)}1`, `${'é'.repeat(33_000)}2`].map(topicSegment);
    expect(a).toMatch(/^é{64}~[0-9a-f]{12}$/);
    expect(b).toMatch(/^é{64}~[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
    expect(topicSegment('😀'.repeat(65))).toMatch(/^(😀){64}~[0-9a-f]{12}$/); // not cut inside a surrogate pair
    expect(topicSegment('7'.repeat(64))).toBe('7'.repeat(64));
  });

  it('matches MQTT topic filters', () => {
    expect(topicMatches('a/+/c', 'a/b/c')).toBe(true);
    expect(topicMatches('a/#', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+', 'a/b/c')).toBe(false);
    expect(topicMatches('a/b', 'a/b/c')).toBe(false);
    expect(topicMatches('a/b/c', 'a/b')).toBe(false);
  });
});

describe('socket writes', () => {
  it('sends a burst of small chunks, strings in their encodings and buffers, as one write of the same bytes', async () => {
    const received: Buffer[] = [];
    const server = net.createServer((socket) => socket.on('data', (data: Buffer) => received.push(data)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    joinWrites(socket);
    const writes: Buffer[] = [];
    const write = socket._write.bind(socket);
    socket._write = (chunk: Buffer, encoding, callback) => {
      writes.push(chunk);
      write(chunk, encoding, callback);
    };
    // More chunks than one writev system call takes (IOV_MAX, 1,024), as a burst of publishes is.
    const expected: Buffer[] = [];
    socket.cork();
    for (let i = 0; i < 3_000; i++) {
      const text = `{"n":${i},"zone":"Tür ${i} €"}`;
      if (i % 2 === 0) {
        socket.write(text, 'utf8');
        expected.push(Buffer.from(text, 'utf8'));
      } else {
        socket.write(Buffer.from(text, 'latin1'));
        expected.push(Buffer.from(text, 'latin1'));
      }
    }
    socket.uncork();
    const total = Buffer.concat(expected);
    await until(() => received.reduce((sum, data) => sum + data.length, 0) >= total.length);
    socket.destroy();
    await new Promise((resolve) => server.close(resolve));
    expect(writes).toHaveLength(1);
    expect(Buffer.concat(received).equals(total)).toBe(true);
  });
});

describe('MQTT output against a broker (MQTT_URL or in-process aedes)', () => {
  let broker: TestBroker;
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    broker = await getTestBroker();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await broker.close();
  });

  async function subscriber(filter: string): Promise<MessageLog> {
    const log = await MessageLog.subscribe(broker.url, filter);
    cleanups.push(() => log.close());
    return log;
  }

  /** Removes the retained status so a shared broker does not keep test leftovers. */
  function clearRetainedStatus(prefix: string): void {
    cleanups.push(async () => {
      const client = await connectAsync(broker.url, { reconnectPeriod: 0 });
      await client.publishAsync(`${prefix}/status`, '', { qos: 1, retain: true });
      await client.endAsync();
    });
  }

  async function startedOutput(url: string, prefix: string): Promise<MqttOutput> {
    const output = mqttOutput(url, prefix);
    clearRetainedStatus(prefix);
    await output.start();
    cleanups.push(() => output.stop());
    return output;
  }

  it('publishes a duress event once, QoS 1, to {prefix}/events/{site}/duress via the dispatcher', async () => {
    const prefix = uniquePrefix('duress');
    const duressFeed = await subscriber('+/events/+/duress');
    const everything = await subscriber(`${prefix}/events/#`);
    const output = await startedOutput(broker.url, prefix);
    const outbox = new MemoryOutbox();
    const dispatcher = new Dispatcher({ outbox, outputs: [output], clock: systemClock, logger: silentLogger });
    dispatcher.start();
    cleanups.push(() => dispatcher.stop());

    const duress = testEvent({ account: '1234', category: 'duress', siteId: 'branch-9' });
    const later = testEvent({ account: '1234', category: 'opening', siteId: 'branch-9' });
    await outbox.append([duress]);
    const received = await duressFeed.waitFor((m) => m.topic === `${prefix}/events/branch-9/duress`);
    expect(JSON.parse(received.payload)).toEqual(duress);

    await outbox.append([later]);
    await everything.waitFor((m) => m.topic === `${prefix}/events/branch-9/opening`);
    expect(everything.messages.filter((m) => JSON.parse(m.payload).id === duress.id)).toHaveLength(1);
    await until(() => outbox.backlog('broker') === 0);
  });

  it('delivers a burst larger than the broker\'s Receive Maximum completely, once each, in order per account', async () => {
    // What the broker announces (Mosquitto 2: max_inflight_messages, 20 by default; aedes speaks 3.1.1 and has none).
    const probe = connect(broker.url, { protocolVersion: broker.protocolVersion, reconnectPeriod: 0 });
    const connack = await new Promise<IConnackPacket>((resolve) => probe.once('connect', resolve));
    await probe.endAsync();
    const receiveMaximum = connack.properties?.receiveMaximum;

    const prefix = uniquePrefix('burst');
    const feed = await subscriber(`${prefix}/events/#`);
    const output = await startedOutput(broker.url, prefix);
    const outbox = new MemoryOutbox();
    const dispatcher = new Dispatcher({ outbox, outputs: [output], clock: systemClock, logger: silentLogger });
    dispatcher.start();
    cleanups.push(() => dispatcher.stop());

    // 60 accounts, 3 events each: 60 in flight at once, three times Mosquitto's 20; one account reports a duress.
    const events = Array.from({ length: 3 }, (_, round) =>
      Array.from({ length: 60 }, (_, i) => testEvent({ account: `${5000 + i}`, category: round === 1 && i === 42 ? 'duress' : 'burglary' })),
    ).flat();
    expect(events.length).toBeGreaterThan(receiveMaximum ?? 0);
    await outbox.append(events);

    await until(() => feed.messages.length >= events.length && outbox.backlog('broker') === 0, 10_000);
    const received = feed.messages.map((m) => JSON.parse(m.payload) as { id: string; account: string });
    const idsByAccount = (list: ReadonlyArray<{ id: string; account: string | null }>) => {
      const byAccount = new Map<string | null, string[]>();
      for (const { id, account } of list) byAccount.set(account, [...(byAccount.get(account) ?? []), id]);
      return byAccount;
    };
    expect({ count: received.length, byAccount: idsByAccount(received) }, `broker Receive Maximum ${receiveMaximum}`).toEqual({
      count: events.length,
      byAccount: idsByAccount(events),
    });
  });

  it('keeps a retained online status with the gateway id and version, and leaves offline on a clean stop', async () => {
    const prefix = uniquePrefix('status');
    const output = mqttOutput(broker.url, prefix);
    clearRetainedStatus(prefix);
    await output.start();

    const whileRunning = await subscriber(`${prefix}/status`);
    const online = await whileRunning.waitFor((m) => m.retain);
    expect(JSON.parse(online.payload)).toMatchObject({ state: 'online', gateway: 'gw-test', version: '9.9.9-test' });
    expect(Number.isNaN(Date.parse(JSON.parse(online.payload).since))).toBe(false);

    await output.stop();
    const afterStop = await subscriber(`${prefix}/status`);
    const offline = await afterStop.waitFor((m) => m.retain);
    expect(JSON.parse(offline.payload)).toMatchObject({ state: 'offline', gateway: 'gw-test', version: '9.9.9-test' });
  });

  it('has the broker publish the offline last will when the connection dies, then comes back online', async () => {
    const prefix = uniquePrefix('will');
    const proxy = await startTcpProxy(broker.url);
    cleanups.push(() => proxy.close());
    const output = await startedOutput(proxy.url, prefix);
    const status = await subscriber(`${prefix}/status`);
    await status.waitFor((m) => JSON.parse(m.payload).state === 'online');

    proxy.cut();
    const will = await status.waitFor((m) => JSON.parse(m.payload).state === 'offline');
    expect(JSON.parse(will.payload)).toMatchObject({ gateway: 'gw-test', version: '9.9.9-test' });

    const willAt = status.messages.indexOf(will);
    await status.waitFor((m) => status.messages.indexOf(m) > willAt && JSON.parse(m.payload).state === 'online');
    await until(() => output.health().state === 'up');
  });

  it('gives up on a publish whose connection drops before the PUBACK, and does not resend it itself', async () => {
    const prefix = uniquePrefix('inflight');
    const proxy = await startTcpProxy(broker.url);
    cleanups.push(() => proxy.close());
    const output = await startedOutput(proxy.url, prefix);
    const feed = await subscriber(`${prefix}/events/#`);

    proxy.holdUpstream();
    const lostEvent = testEvent({ account: 'acct-lost' });
    const delivery = output.deliver(lostEvent);
    proxy.cut();
    expect(await delivery).toEqual({ ok: false, retryable: true, error: 'connection lost before PUBACK' });

    await until(() => output.health().state === 'up');
    const sentinel = testEvent({ account: 'acct-sentinel' });
    expect(await output.deliver(sentinel)).toEqual({ ok: true });
    await feed.waitFor((m) => m.topic === `${prefix}/events/acct-sentinel/burglary`);
    expect(feed.messages.map((m) => JSON.parse(m.payload).id)).toEqual([sentinel.id]);
  });

  it('delivers an event whose account holds a control character, and stays connected for every other event', async () => {
    const prefix = uniquePrefix('ctl');
    const status = await subscriber(`${prefix}/status`);
    const feed = await subscriber(`${prefix}/events/#`);
    const output = await startedOutput(broker.url, prefix);
    const outbox = new MemoryOutbox();
    const dispatcher = new Dispatcher({ outbox, outputs: [output], clock: systemClock, logger: silentLogger, backoff: { initialMs: 100, maxMs: 200 } });
    dispatcher.start();
    cleanups.push(() => dispatcher.stop());

    const poisoned = testEvent({ account: '77\u000101', category: 'duress' });
    const duress = testEvent({ account: '4321', category: 'duress' });
    await outbox.append([poisoned, duress]);
    await feed.waitFor((m) => m.topic === `${prefix}/events/4321/duress`);
    await until(() => outbox.backlog('broker') === 0);
    expect(feed.messages.map((m) => [m.topic, JSON.parse(m.payload).id])).toEqual([
      [`${prefix}/events/77_01/duress`, poisoned.id],
      [`${prefix}/events/4321/duress`, duress.id],
    ]);
    expect(status.messages.filter((m) => JSON.parse(m.payload).state === 'offline')).toEqual([]);
  });

  it('fails a publish that mqtt-packet cannot write (a topic over 65,535 bytes) and carries on on a clean connection', async () => {
    const prefix = uniquePrefix('long');
    const status = await subscriber(`${prefix}/status`);
    const feed = await subscriber(`${prefix}/events/#`);
    const output = await startedOutput(broker.url, prefix);
    await expect(output.publishRetained('é'.repeat(33_000), 'x')).rejects.toThrow(/publish not written/);

    // The half-written packet's connection is dropped and a new one made: online a second time.
    await until(() => status.messages.filter((m) => JSON.parse(m.payload).state === 'online').length === 2 && output.connected);
    const event = testEvent({ account: '5678' });
    expect(await output.deliver(event)).toEqual({ ok: true });
    expect(JSON.parse((await feed.waitFor((m) => m.topic === `${prefix}/events/5678/burglary`)).payload).id).toBe(event.id);
  });

  it('publishes retained messages under the prefix and hands subscribed messages to their handler', async () => {
    const prefix = uniquePrefix('extras');
    const output = await startedOutput(broker.url, prefix);
    const received: string[] = [];
    const unsubscribe = await output.subscribe('incidents/+/ack', (topic, payload) => received.push(`${topic}=${payload.toString()}`));

    const operator = await connectAsync(broker.url, { reconnectPeriod: 0 });
    cleanups.push(() => operator.endAsync());
    await operator.publishAsync(`${prefix}/incidents/inc-1/ack`, 'ok', { qos: 1 });
    await until(() => received.length === 1);
    expect(received).toEqual([`${prefix}/incidents/inc-1/ack=ok`]);

    await output.publishRetained('devices/pendant-3', { state: 'tested' });
    cleanups.push(() => operator.publishAsync(`${prefix}/devices/pendant-3`, '', { qos: 1, retain: true }));
    const devices = await subscriber(`${prefix}/devices/#`);
    const retained = await devices.waitFor((m) => m.retain);
    expect(JSON.parse(retained.payload)).toEqual({ state: 'tested' });

    await unsubscribe();
    await operator.publishAsync(`${prefix}/incidents/inc-2/ack`, 'ok', { qos: 1 });
    await output.publishRetained('devices/pendant-4', 'x'); // a round trip after the publish above
    cleanups.push(() => operator.publishAsync(`${prefix}/devices/pendant-4`, '', { qos: 1, retain: true }));
    expect(received).toHaveLength(1);
  });
});

describe('MQTT output when the broker goes away (aedes on a fixed port)', () => {
  it('fails deliveries fast while the broker is down, keeps nothing back for later, and delivers once it is back', async () => {
    const port = await freePort();
    let broker = await startOpenBroker(port);
    const prefix = uniquePrefix('outage');
    // Slow enough reconnects that the test's subscriber is in place before the output returns.
    const output = mqttOutput(broker.url, prefix, { protocolVersion: 4 }, 500);
    await output.start();
    try {
      expect(await output.deliver(testEvent())).toEqual({ ok: true });

      await broker.close();
      await until(() => output.health().state === 'down');
      const refused = testEvent({ account: '5678', category: 'burglary' });
      expect(await output.deliver(refused)).toMatchObject({ ok: false, retryable: true });

      broker = await startOpenBroker(port);
      const feed = await MessageLog.subscribe(broker.url, `${prefix}/events/#`);
      await until(() => output.health().state === 'up');
      const event = testEvent({ account: '5678', category: 'panic' });
      expect(await output.deliver(event)).toEqual({ ok: true });
      const received = await feed.waitFor((m) => m.topic === `${prefix}/events/5678/panic`);
      expect(JSON.parse(received.payload).id).toBe(event.id);
      // The refused event stays the outbox's business: mqtt.js must not have queued it and sent it on reconnect.
      expect(feed.messages.map((m) => JSON.parse(m.payload).id)).toEqual([event.id]);
      await feed.close();
    } finally {
      await output.stop();
      await broker.close();
    }
  });

  it('logs a client the embedded broker refuses (a local account trying to read the events), at most once a minute', async () => {
    const { logger, lines } = recordingLogger();
    const port = await freePort();
    const output = new MqttOutput(
      { name: 'broker', url: 'embedded', topicPrefix: uniquePrefix('embedded-refused'), audience: 'central', embeddedPort: port },
      { clock: systemClock, logger, gateway, embeddedSubscriberPassword: () => 'subscriber-secret-0123456789' },
    );
    await output.start();
    try {
      for (const password of [undefined, 'a-guess']) {
        await expect(connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, clientId: 'snoop', ...(password === undefined ? {} : { username: 'x', password }) })).rejects.toThrow(/Not authorized/i);
      }
      expect(lines.filter((l) => l.message === 'embedded MQTT broker refused a client')).toEqual([
        expect.objectContaining({ level: 'warn', fields: expect.objectContaining({ clientId: 'snoop', why: expect.stringContaining('mqtt-password') }) }),
      ]);
    } finally {
      await output.stop();
    }
  });

  it('runs its own broker for url "embedded" and names the setting to change when the port is taken', async () => {
    const port = await freePort();
    const output = mqttOutput('embedded', uniquePrefix('embedded'), { embeddedPort: port });
    await output.start();
    try {
      expect(output.health().state).toBe('up');
      expect(await output.deliver(testEvent())).toEqual({ ok: true });
      await expect(startEmbeddedBroker({ port, configKey: 'outputs[0].embeddedPort' })).rejects.toThrow(
        new RegExp(`port ${port} .*already in use.*outputs\\[0\\]\\.embeddedPort`),
      );
    } finally {
      await output.stop();
    }
    // The output's broker is gone with it: the port is free again.
    const probe = net.createServer().listen(port, '127.0.0.1');
    await new Promise((resolve) => probe.once('listening', resolve));
    await new Promise((resolve) => probe.close(resolve));
  });
});
