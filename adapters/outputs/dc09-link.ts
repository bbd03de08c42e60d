import net from 'node:net';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Dc09Framer } from '../../src/codecs/dc09/framer.js';
import type { PanelAnswer } from '../../src/codecs/dc09/transmitter.js';

/**
 * The transmitter's end of a DC-09 connection, shared by `panelbridge simulate` (a panel) and the DC-09 output
 * (the gateway towards a monitoring centre): a TCP connection or UDP socket and the answers coming back on it.
 */

export interface LinkTarget {
  transport: 'tcp' | 'udp';
  host: string;
  port: number;
}

/** `tcp://HOST:PORT` or `udp://HOST:PORT`; undefined for anything else. */
export function parseLinkTarget(text: string): LinkTarget | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  const transport = url.protocol === 'tcp:' ? 'tcp' : url.protocol === 'udp:' ? 'udp' : undefined;
  if (transport === undefined || url.port === '' || url.hostname === '') return undefined;
  return { transport, host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) };
}

export function formatLinkTarget(target: LinkTarget): string {
  return `${target.transport}://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
}

/** Answers kept while nobody waits: a peer that floods the link cannot grow memory past this. */
const MAX_QUEUED_ANSWERS = 64;

/** Answers as they arrive on a link, handed to whoever waits for the next one. */
export class AnswerQueue {
  private readonly queued: Uint8Array[] = [];
  private waiter: ((answer: Uint8Array | null) => void) | undefined;
  private closed = false;

  push(answer: Uint8Array): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter !== undefined) waiter(answer);
    else if (this.queued.push(answer) > MAX_QUEUED_ANSWERS) this.queued.shift();
  }

  /** The next answer, or null when none comes within `ms`, the link closed or `signal` aborted the wait. */
  next(ms: number, signal?: AbortSignal): Promise<Uint8Array | null> {
    const queued = this.queued.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (ms <= 0 || this.closed || signal?.aborted === true) return Promise.resolve(null);
    return new Promise((resolve) => {
      const done = (answer: Uint8Array | null) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', aborted);
        this.waiter = undefined;
        resolve(answer);
      };
      const timer = setTimeout(() => done(null), ms);
      const aborted = () => done(null);
      signal?.addEventListener('abort', aborted, { once: true });
      this.waiter = done;
    });
  }

  /** Drops answers nobody waited for (late answers to frames that already timed out). */
  clear(): void {
    this.queued.length = 0;
  }

  /** After a reconnect: answers may come again. */
  reopen(): void {
    this.closed = false;
    this.queued.length = 0;
  }

  /** The frame waiting now gets no answer (e.g. ICMP port unreachable on UDP); later frames may. */
  abort(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(null);
  }

  close(): void {
    this.closed = true;
    this.abort();
  }
}

/** One panel connection (TCP socket, UDP socket or serial port) and the answers coming back on it. */
export interface Link {
  send(bytes: Uint8Array): Promise<void>;
  answers: AnswerQueue;
  close(): Promise<void>;
}

export interface LinkOptions {
  /** How long a TCP connect may take before it counts as failed (a blackholed address would hang for minutes). */
  connectTimeoutMs?: number;
  /** Gives up the first connect (a probe that something more urgent needs the wire for). */
  signal?: AbortSignal;
}

export async function openDc09Link(target: LinkTarget, options: LinkOptions = {}): Promise<Link> {
  return target.transport === 'tcp' ? openTcpLink(target, options) : openUdpLink(target);
}

/** A TCP connection that is opened again when the gateway closed it (a panel reconnects for its next frame). */
async function openTcpLink(target: LinkTarget, options: LinkOptions): Promise<Link> {
  const answers = new AnswerQueue();
  let current: net.Socket | undefined;
  const connect = async (signal?: AbortSignal) => {
    const socket = net.connect({ host: target.host, port: target.port });
    socket.setNoDelay(true);
    const framer = new Dc09Framer();
    socket.on('data', (chunk) => {
      for (const out of framer.push(chunk)) answers.push(out.bytes);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => socket === current && answers.close());
    const signals = [...(options.connectTimeoutMs === undefined ? [] : [AbortSignal.timeout(options.connectTimeoutMs)]), ...(signal === undefined ? [] : [signal])];
    await once(socket, 'connect', signals.length === 0 ? {} : { signal: AbortSignal.any(signals) }).catch((error: unknown) => {
      socket.destroy();
      throw error;
    });
    answers.reopen();
    current = socket;
    return socket;
  };
  let socket = await connect(options.signal);
  return {
    answers,
    async send(bytes) {
      if (socket.destroyed || !socket.writable) socket = await connect();
      socket.write(bytes);
    },
    async close() {
      current = undefined;
      socket.end();
      socket.destroy();
    },
  };
}

async function openUdpLink(target: LinkTarget): Promise<Link> {
  const answers = new AnswerQueue();
  const socket = dgram.createSocket(net.isIPv6(target.host) ? 'udp6' : 'udp4');
  socket.on('message', (message) => answers.push(message));
  socket.on('error', () => answers.abort());
  socket.connect(target.port, target.host);
  await once(socket, 'connect');
  return {
    answers,
    send: (bytes) => new Promise((resolve, reject) => socket.send(bytes, (error) => (error ? reject(error) : resolve()))),
    async close() {
      answers.close();
      socket.close();
    },
  };
}

/**
 * Sends one frame and waits for its answer: answers to earlier frames that arrive late (the `stale` ones) are
 * skipped, as a panel matches answers by sequence number. A `provisional` answer (one anyone on the path could have
 * sent, or one that is no answer at all) does not end the wait: the receiver's own answer may follow it, and only
 * when none comes before the timeout is the last provisional one the outcome. `signal` ends the wait as the
 * timeout would.
 */
export async function exchange(
  link: Link,
  bytes: Uint8Array,
  timeoutMs: number,
  interpret: (answer: Uint8Array) => PanelAnswer,
  options: { provisional?: (answer: PanelAnswer) => boolean; signal?: AbortSignal } = {},
): Promise<{ answer: PanelAnswer; latencyMs: number | null }> {
  const { provisional = () => false, signal } = options;
  link.answers.clear();
  const started = performance.now();
  try {
    await link.send(bytes);
  } catch (error) {
    return { answer: { kind: 'none', detail: `not sent: ${(error as Error).message}` }, latencyMs: null };
  }
  let fallback: { answer: PanelAnswer; latencyMs: number } | undefined;
  for (;;) {
    const received = await link.answers.next(timeoutMs - (performance.now() - started), signal);
    if (received === null) return fallback ?? { answer: { kind: 'none' }, latencyMs: null };
    const answer = interpret(received);
    if (answer.kind === 'stale') continue;
    const outcome = { answer, latencyMs: performance.now() - started };
    if (!provisional(answer)) return outcome;
    fallback = outcome;
  }
}
