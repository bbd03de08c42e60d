import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { MqttOutput } from '../../adapters/outputs/mqtt.js';
import { WebhookOutput } from '../../adapters/outputs/webhook.js';
import { Dc09Output } from '../../adapters/outputs/dc09.js';
import { Dc09Framer } from '../../src/codecs/dc09/framer.js';
import { decodeDc09Frame } from '../../src/codecs/dc09/frame.js';
import { encodeAck } from '../../src/codecs/dc09/responses.js';
import type { NormalizedEvent } from '../../src/model/event.js';
import { eventJson } from '../../src/model/event-json.js';
import { silentLogger, systemClock } from '../../src/ports.js';
import { wireAssurance } from '../../adapters/cli/assurance-wiring.js';
import { AssuranceStore } from '../../src/assurance/store.js';
import { EventBus } from '../../src/bus.js';
import { createIdSource, seededRandom } from '../../src/model/ids.js';
import { Counters } from '../../src/observability/counters.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { eventFromSignal, VERIFIED } from '../../src/pipeline/event-builder.js';
import { Recorder } from '../../src/pipeline/recorder.js';
import { settingsSchema } from '../../src/settings/settings.js';
import type { Signal } from '../../src/model/signal.js';
import { cid, FakeClock, harness, SITES } from '../helpers/assurance-harness.js';
import { getTestBroker, startTcpProxy, uniquePrefix } from '../helpers/broker.js';

/**
 * An observer of the gateway's encrypted links to central (MQTT over TLS, webhooks over HTTPS, DC-09 under AES) reads
 * no content, but sees how many bytes each message takes. Everything a duress adds to its event (the category's
 * reasons, the silent flag, the `incident` id, a substitute code's note in DC-09's [I] text) and to the site's events
 * after it while its incident stays open must not show there: each output pads what it sends to a size bucket.
 *
 * The events come from the real classification and incident annotation of one site (tests/helpers/assurance-harness):
 * an ordinary burglary on the back door is the baseline every other must match in size.
 */
async function siteEvents(): Promise<Record<string, NormalizedEvent>> {
  const h = harness();
  const burglary = await h.receive(cid('130', 3));
  const holdupButton = await h.receive(cid('122', 5));
  const burglaryDuringIncident = await h.receive(cid('130', 3));
  const duressUser = await h.receive(cid('121', 12));
  // A plain burglary code on the zone typed `holdup`: a site rule makes it a hold-up, and DC-09 notes the panel's code.
  const burglaryOnHoldupZone = await h.receive(cid('130', 5));
  const holdupOnBackDoor = await h.receive(cid('122', 3));
  expect(burglaryDuringIncident.incident).toBeDefined();
  return { burglary, holdupButton, burglaryDuringIncident, duressUser, burglaryOnHoldupZone, holdupOnBackDoor };
}

/** The distinct sizes `sizeOf` gives the events, by which events have each: one entry when nothing tells them apart. */
async function sizesByEvent(events: Record<string, NormalizedEvent>, sizeOf: (event: NormalizedEvent) => Promise<number>): Promise<Record<number, string[]>> {
  const sizes: Record<number, string[]> = {};
  for (const [name, event] of Object.entries(events)) (sizes[await sizeOf(event)] ??= []).push(name);
  return sizes;
}

/**
 * The MQTT packets a client writes, read from the bytes it sends (fixed header, Remaining Length, for a PUBLISH its
 * topic): what the TLS records around them let an observer count and measure.
 */
class MqttWire {
  readonly publishes: Array<{ topic: string; bytes: number }> = [];
  private pending = Buffer.alloc(0);

  take(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    for (;;) {
      let remaining = 0;
      let multiplier = 1;
      let at = 1;
      for (; at < this.pending.length; at++) {
        remaining += (this.pending[at]! & 0x7f) * multiplier;
        multiplier *= 128;
        if ((this.pending[at]! & 0x80) === 0) break;
      }
      if (at >= this.pending.length || this.pending.length < at + 1 + remaining) return;
      const packet = this.pending.subarray(0, at + 1 + remaining);
      this.pending = this.pending.subarray(packet.length);
      if (packet[0]! >> 4 === 3) {
        const topicLength = packet.readUInt16BE(at + 1);
        this.publishes.push({ topic: packet.toString('utf8', at + 3, at + 3 + topicLength), bytes: packet.length });
      }
    }
  }
}

describe('what a duress changes in the bytes a central output sends', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('MQTT: every event of the site is the same PUBLISH size on the wire', async () => {
    const events = await siteEvents();
    const broker = await getTestBroker();
    cleanups.push(() => broker.close());
    const wire = new MqttWire();
    const proxy = await startTcpProxy(broker.url, (chunk) => wire.take(chunk));
    cleanups.push(() => proxy.close());
    const prefix = uniquePrefix('sizes');
    const output = new MqttOutput(
      { name: 'central', url: proxy.url, topicPrefix: prefix, audience: 'central', embeddedPort: 1884, protocolVersion: broker.protocolVersion },
      { clock: systemClock, logger: silentLogger, gateway: { id: 'gw', version: '0' } },
    );
    await output.start();
    cleanups.push(() => output.stop());
    const sizes = await sizesByEvent(events, async (event) => {
      expect(await output.deliver(event)).toEqual({ ok: true });
      const sent = wire.publishes.filter((p) => p.topic.startsWith(`${prefix}/events/`));
      return sent.at(-1)!.bytes;
    });
    expect(sizes).toEqual({ [Object.keys(sizes)[0]!]: Object.keys(events) });
  });

  it('MQTT: a duress causes as many retained-state publishes, of the same sizes, as an ordinary alarm of its site', async () => {
    const broker = await getTestBroker();
    cleanups.push(() => broker.close());
    const wire = new MqttWire();
    const proxy = await startTcpProxy(broker.url, (chunk) => wire.take(chunk));
    cleanups.push(() => proxy.close());
    const prefix = uniquePrefix('counts');
    const output = new MqttOutput(
      { name: 'central', url: proxy.url, topicPrefix: prefix, audience: 'central', embeddedPort: 1884, protocolVersion: broker.protocolVersion },
      { clock: systemClock, logger: silentLogger, gateway: { id: 'gw', version: '0' } },
    );
    await output.start();
    cleanups.push(() => output.stop());
    // The gateway's assurance on the output, as wired at start: retained incident and device states.
    const clock = new FakeClock();
    const outbox = new MemoryOutbox({ clock });
    outbox.registerOutputs(['central']);
    const bus = new EventBus({ logger: silentLogger });
    const builder = { ids: createIdSource(clock, seededRandom(11)), sites: () => SITES };
    const recorder = new Recorder({ outbox, counters: new Counters(), logger: silentLogger, backlogLimit: 10_000, bus });
    const settings = settingsSchema.parse({ dataDir: '/nonexistent-not-used', inputs: [], outputs: [{ type: 'stdout', name: 'unused' }] });
    const wiring = wireAssurance({ recorder, api: undefined, outputs: [output], outbox, builder, bus }, settings, {
      clock,
      logger: silentLogger,
      store: AssuranceStore.open(':memory:'),
      tickMs: 3_600_000,
    });
    cleanups.push(() => wiring.stop());
    await wiring.tick();

    /** The retained-state publishes (kind of state and bytes, in order) that receiving `signal` causes. */
    const statesAfter = async (signal: Signal): Promise<string[]> => {
      const before = wire.publishes.length;
      clock.advance(60_000);
      const origin = { input: 'panel', transport: 'tcp' as const, receivedAt: clock.now(), raw: new Uint8Array([0x31]), trust: VERIFIED };
      const stored = await recorder.record([eventFromSignal(signal, origin, builder)]);
      if (!stored.ok) throw stored.error;
      // Delivered to central at once, as on a working link: no delivery deadline passes.
      for (const event of stored.events) wiring.assurance.delivered('central', event);
      await new Promise((resolve) => setImmediate(resolve));
      await wiring.tick();
      return wire.publishes.slice(before).map((p) => `${p.topic.split('/')[1]} ${p.bytes}`);
    };
    const burglary = await statesAfter(cid('130', 3));
    expect(await statesAfter(cid('122', 5)), 'the hold-up button').toEqual(burglary);
    expect(await statesAfter(cid('121', 12)), 'a duress code while the incident is open').toEqual(burglary);
    expect(await statesAfter(cid('130', 3)), 'a burglary while the incident is open').toEqual(burglary);
  });

  it('webhook: every event of the site is the same body size', async () => {
    const events = await siteEvents();
    const bodies: number[] = [];
    const server = http.createServer((req, res) => {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => {
        expect(Number(req.headers['content-length'])).toBe(bytes);
        bodies.push(bytes);
        res.writeHead(204).end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    cleanups.push(() => server.closeAllConnections());
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hook`;
    const output = new WebhookOutput({ name: 'cloud', url, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', timeout: 2_000, audience: 'central' }, { clock: systemClock });
    await output.start();
    const sizes = await sizesByEvent(events, async (event) => {
      expect(await output.deliver(event)).toEqual({ ok: true });
      return bodies.at(-1)!;
    });
    expect(sizes).toEqual({ [Object.keys(sizes)[0]!]: Object.keys(events) });
  });

  it.each(['adm-cid', 'sia-dcs'] as const)('DC-09 under AES (%s): every event of the site is the same frame length', async (format) => {
    const events = await siteEvents();
    const key = Buffer.from('000102030405060708090A0B0C0D0E0F', 'hex');
    const frames: number[] = [];
    const server = net.createServer((socket) => {
      const framer = new Dc09Framer();
      socket.on('data', (chunk) => {
        for (const out of framer.push(chunk)) {
          if (out.kind !== 'frame') continue;
          const decoded = decodeDc09Frame(out.bytes, { keyFor: () => key });
          if (!decoded.ok) throw new Error(decoded.error.message);
          frames.push(out.bytes.length);
          socket.write(encodeAck(decoded.value, { now: Date.now(), random: randomBytes, key }));
        }
      });
      socket.on('error', () => socket.destroy());
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const output = new Dc09Output(
      { name: 'arc', primary: `tcp://127.0.0.1:${port}`, account: '9876', line: '0', format, supervision: 0, ackTimeout: 2_000, retries: 1, audience: 'central', key: key.toString('hex'), keyEncoding: 'hex' },
      { clock: systemClock, logger: silentLogger },
    );
    await output.start();
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    cleanups.push(() => output.stop());
    const sizes = await sizesByEvent(events, async (event) => {
      expect(await output.deliver(event)).toEqual({ ok: true });
      return frames.at(-1)!;
    });
    expect(sizes).toEqual({ [Object.keys(sizes)[0]!]: Object.keys(events) });
  });
});

describe('padding is for central outputs', () => {
  it('a local output, and a central one with pad: 0, send the event text as it is', async () => {
    const events = await siteEvents();
    const bodies: string[] = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        bodies.push(body);
        res.writeHead(204).end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/hook`;
      const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
      for (const settings of [{ audience: 'local' as const }, { audience: 'central' as const, pad: 0 }]) {
        const output = new WebhookOutput({ name: 'hook', url, secret, timeout: 2_000, ...settings }, { clock: systemClock });
        await output.start();
        expect(await output.deliver(events.burglary!)).toEqual({ ok: true });
        expect(bodies.at(-1)).toBe(eventJson(events.burglary!));
      }
      // A padded body is the same event to a JSON parser.
      const central = new WebhookOutput({ name: 'hook', url, secret, timeout: 2_000, audience: 'central' }, { clock: systemClock });
      await central.start();
      expect(await central.deliver(events.duressUser!)).toEqual({ ok: true });
      expect(Buffer.byteLength(bodies.at(-1)!)).toBe(1_024);
      expect(JSON.parse(bodies.at(-1)!)).toEqual(JSON.parse(eventJson(events.duressUser!)));
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
