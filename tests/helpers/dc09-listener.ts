import { randomBytes } from 'node:crypto';
import { Dc09Listener } from '../../adapters/inputs/dc09.js';
import { Dc09Receiver, type Dc09Account } from '../../src/pipeline/dc09-receiver.js';
import { Recorder } from '../../src/pipeline/recorder.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { Counters } from '../../src/observability/counters.js';
import { createIdSource } from '../../src/model/ids.js';
import { silentLogger, systemClock, type Logger } from '../../src/ports.js';
import type { Site } from '../../src/settings/sites.js';
import { DEFAULT_MAX_DATAGRAMS } from '../../src/settings/settings.js';

export interface ListenerUnderTest {
  listener: Dc09Listener;
  outbox: MemoryOutbox;
  counters: Counters;
  port: number;
}

/** A started listener on a free loopback port (TCP and, when asked, UDP) over a memory outbox (output `probe` registered). */
export async function startListener(options: {
  accounts: Dc09Account[] | null;
  sites: Site[];
  /** Default true. */
  tcp?: boolean;
  udp: boolean;
  idleTimeoutMs: number;
  maxConnections: number;
  /** Default: the idle timeout. */
  firstFrameTimeoutMs?: number;
  maxConnectionsPerPeer?: number;
  logger?: Logger;
  /** Reject every tolerated quirk (default false). */
  strict?: boolean;
  maxDatagramsInFlight?: number;
}): Promise<ListenerUnderTest> {
  const logger = options.logger ?? silentLogger;
  const outbox = new MemoryOutbox();
  outbox.registerOutputs(['probe']);
  const counters = new Counters();
  const recorder = new Recorder({ outbox, counters, logger, backlogLimit: 1000 });
  const receiver = new Dc09Receiver({
    input: 'ip-receiver',
    accounts: options.accounts,
    window: { past: 40_000, future: 20_000 },
    strict: options.strict ?? false,
    clock: systemClock,
    random: randomBytes,
    recorder,
    builder: { ids: createIdSource(systemClock), sites: () => options.sites },
    counters,
    logger,
  });
  const listener = new Dc09Listener({
    name: 'ip-receiver',
    host: '127.0.0.1',
    port: 0,
    tcp: options.tcp ?? true,
    udp: options.udp,
    maxFrameBytes: 1024,
    idleTimeoutMs: options.idleTimeoutMs,
    firstFrameTimeoutMs: options.firstFrameTimeoutMs ?? options.idleTimeoutMs,
    maxConnections: options.maxConnections,
    maxConnectionsPerPeer: options.maxConnectionsPerPeer ?? 64,
    maxDatagramsInFlight: options.maxDatagramsInFlight ?? DEFAULT_MAX_DATAGRAMS,
    receiver,
    commitQueued: () => recorder.commitQueued(),
    logger,
    counters,
  });
  await listener.start();
  return { listener, outbox, counters, port: (listener.address.tcp ?? listener.address.udp)!.port };
}
