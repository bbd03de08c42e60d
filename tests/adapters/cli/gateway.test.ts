import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Gateway } from '../../../adapters/cli/gateway.js';
import { createRootLogger } from '../../../adapters/system/logger.js';
import { decodeDc09Frame } from '../../../src/codecs/dc09/frame.js';
import { encodeDuh } from '../../../src/codecs/dc09/responses.js';
import type { NormalizedEvent } from '../../../src/model/event.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { pendingEntryHeapBytes } from '../../../src/outbox/pending-index.js';
import { systemClock } from '../../../src/ports.js';
import { parseSettings } from '../../../src/settings/settings.js';
import { freePort } from '../../helpers/broker.js';
import { tempDir } from '../../helpers/gateway-process.js';
import { outboxTestEvent } from '../../helpers/outbox-events.js';

const running: Gateway[] = [];
afterEach(async () => {
  for (const gateway of running.splice(0)) await gateway.stop();
});

async function startGateway(config: object, listen: boolean, outbox = new MemoryOutbox(), heapLimitBytes?: number): Promise<Gateway> {
  const parsed = parseSettings(JSON.stringify({ dataDir: tempDir('gateway'), outputs: [], ...config }));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const started = await Gateway.start({
    settings: parsed.settings,
    logger: createRootLogger({ level: 'silent' }),
    clock: systemClock,
    listen,
    outbox,
    ...(heapLimitBytes === undefined ? {} : { heapLimitBytes }),
  });
  if (!('gateway' in started)) throw new Error(JSON.stringify(started.issues));
  running.push(started.gateway);
  return started.gateway;
}

class Probe {
  readonly stored: NormalizedEvent[] = [];
}

describe('Gateway', () => {
  it('stores an output\'s link state change from the bus as a covert supervisory event (no local output gets it)', async () => {
    const gateway = await startGateway({ inputs: [] }, false);
    const probe = new Probe();
    gateway.bus.onFrameStored(probe, (events) => probe.stored.push(...events));
    gateway.bus.emitOutputStateChanged({ output: 'cms', account: '9000', qualifier: 'new', reasons: ['no answer from 192.0.2.1:12000'] });
    for (let waited = 0; probe.stored.length === 0 && waited < 2_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    expect(probe.stored).toMatchObject([
      { category: 'supervisory', account: '9000', source: { input: 'cms' }, reasons: ['no answer from 192.0.2.1:12000'], covert: true },
    ]);
  });

  it('counts in its metrics the answers a keyed DC-09 output does not trust (a man in the middle answering its NULL polls with a plain DUH)', async () => {
    const forger = dgram.createSocket('udp4');
    forger.bind(0, '127.0.0.1');
    await once(forger, 'listening');
    forger.on('message', (frame, from) => {
      const decoded = decodeDc09Frame(frame, { keyFor: () => Buffer.from('000102030405060708090A0B0C0D0E0F', 'hex') });
      if (decoded.ok) forger.send(encodeDuh(decoded.value), from.port, from.address);
    });
    const port = (forger.address() as net.AddressInfo).port;
    const gateway = await startGateway(
      { inputs: [], outputs: [{ type: 'dc09', name: 'arc', primary: `udp://127.0.0.1:${port}`, account: '9876', key: '000102030405060708090A0B0C0D0E0F', keyEncoding: 'hex', supervision: '1s', ackTimeout: '200ms' }] },
      false,
    );
    try {
      for (let waited = 0; gateway.counters.get('dc09_output_answers_distrusted_total') === 0 && waited < 5_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      expect(gateway.counters.get('dc09_output_answers_distrusted_total', { output: 'arc', path: 'primary', reason: 'plain-duh' })).toBeGreaterThan(0);
      expect(await gateway.metrics.render()).toMatch(/^panelbridge_dc09_output_answers_distrusted_total\{output="arc",path="primary",reason="plain-duh"\} [1-9]/m);
    } finally {
      forger.close();
    }
  });

  it('reports to central a store fault from its start, even when the first report after it found the disk full again', async () => {
    const outbox = new MemoryOutbox();
    const gateway = await startGateway({ inputs: [] }, false, outbox);
    const probe = new Probe();
    gateway.bus.onFrameStored(probe, (events) => probe.stored.push(...events));
    // The disk under dataDir as the appends find it, one after another: full, room for one frame, full, then room.
    const disk: Array<'full' | 'room'> = ['full', 'room', 'full'];
    const append = outbox.append.bind(outbox);
    outbox.append = (...args) => ((disk.shift() ?? 'room') === 'full' ? Promise.reject(new Error('database or disk is full')) : append(...args));
    const frame = (id: string) => gateway.recorder.record([outboxTestEvent({ id, account: '1234', receivedAt: Date.now() })]);

    const faultBegan = Date.now();
    expect(await frame('refused')).toMatchObject({ ok: false });
    await new Promise((r) => setTimeout(r, 300));
    expect(await frame('stored')).toMatchObject({ ok: true }); // its report found the disk full again
    await vi.waitFor(() => expect(probe.stored.filter((e) => e.category === 'supervisory')).toHaveLength(2), { timeout: 5_000, interval: 20 });

    const [trouble, restore] = probe.stored.filter((e) => e.category === 'supervisory');
    expect(Date.parse(trouble!.receivedAt), 'the outage is reported from when it began').toBeLessThan(faultBegan + 150);
    expect(restore!.reasons.join(' ')).toMatch(/1 frames were NAKed/);
  });

  it('without listening (replay), gives every configured input a frame handler and opens nothing', async () => {
    const [dc09Port, accessPort] = [await freePort(), await freePort()];
    const gateway = await startGateway(
      {
        inputs: [
          { type: 'dc09', name: 'panels', host: '127.0.0.1', port: dc09Port },
          { type: 'serial', name: 'line1', path: '/dev/panelbridge-none', protocol: 'surgard' },
          { type: 'access-xml', name: 'doors', host: '127.0.0.1', port: accessPort },
        ],
      },
      false,
    );
    expect(gateway.inputs.map((input) => [input.name, input.protocol, typeof input.handleFrame])).toEqual([
      ['panels', 'dc09', 'function'],
      ['line1', 'surgard', 'function'],
      ['doors', undefined, 'function'],
    ]);
    for (const port of [dc09Port, accessPort]) {
      const server = net.createServer().listen(port, '127.0.0.1');
      await once(server, 'listening');
      server.close();
    }
  });

  it('shows an output down on /healthz while the outbox cannot be read for it (a damaged page, an I/O error), up again once it can', async () => {
    const outbox = new MemoryOutbox();
    const gateway = await startGateway({ inputs: [], outputs: [{ type: 'webhook', name: 'cms', url: 'http://127.0.0.1:9/events', secret: 'whsec_c2VjcmV0LWZvci10ZXN0cw==' }] }, false, outbox);
    const pending = outbox.pending.bind(outbox);
    outbox.pending = () => {
      throw new Error('database disk image is malformed');
    };
    await gateway.recorder.record([outboxTestEvent({ id: 'e1', account: '1234', receivedAt: Date.now() })]);
    await vi.waitFor(() => expect(gateway.health().status).toBe('degraded'), { timeout: 2_000, interval: 10 });
    expect(gateway.health()).toMatchObject({ body: { outputs: [{ name: 'cms', state: 'down', detail: expect.stringMatching(/malformed/) }] } });

    outbox.pending = pending;
    await vi.waitFor(() => expect(JSON.stringify((gateway.health().body.outputs as unknown[])[0])).not.toMatch(/malformed/), { timeout: 5_000, interval: 10 });
  });

  it('refuses non-duress frames (NAK) once the backlog fills the heap it may take, below a backlogLimit the heap cannot hold, and still stores a duress', async () => {
    const central = { type: 'webhook', name: 'cms', url: 'http://127.0.0.1:9/events', secret: 'whsec_c2VjcmV0LWZvci10ZXN0cw==' };
    // A heap room for about a hundred pending entries, under the default backlogLimit of 1,000,000.
    const gateway = await startGateway({ inputs: [], outputs: [central] }, false, new MemoryOutbox(), 2 * 100 * pendingEntryHeapBytes(1));
    const outcomes = [];
    for (let i = 0; i < 200; i++) outcomes.push(await gateway.recorder.record([outboxTestEvent({ id: `e${i}`, account: '1234', receivedAt: Date.now() })]));
    expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(100);
    expect(outcomes.at(-1)).toMatchObject({ ok: false, error: { code: 'OUTBOX_BACKLOG_FULL' } });
    expect(await gateway.recorder.record([outboxTestEvent({ id: 'duress', account: '1234', duress: true, receivedAt: Date.now() })])).toMatchObject({ ok: true });
  });
});
