import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { SURGARD_ACK, SURGARD_NAK } from '../../../src/codecs/surgard.js';
import { decodeKey } from '../../../src/settings/keys.js';
import { describeEvent, frameContent, parseSimEvent } from '../../../src/simulate/events.js';
import type { FrameContent, SimAddress, SimEvent, SimFormat } from '../../../src/simulate/events.js';
import {
  buildPanelFrame,
  buildSurgardPacket,
  interpretAnswer,
  interpretSurgardAnswer,
  SequenceCounter,
  type PanelAnswer,
  type SentFrame,
} from '../../../src/simulate/frames.js';
import {
  emptyAnswerCounts,
  formatFrameRecord,
  formatLoadReport,
  loadReport,
  roundMs,
  type FrameRecord,
  type LoadReport,
} from '../../../src/simulate/report.js';
import { parseScenario, type Scenario } from '../../../src/simulate/scenario.js';
import { readSecret } from '../../system/secrets.js';
import { AnswerQueue, exchange, openDc09Link, parseLinkTarget, type Link, type LinkTarget } from '../../outputs/dc09-link.js';
import type { SimulateOptions } from './simulate.js';

/** A problem with the options or the target: printed as one line, exit 2. */
export class SimulateError extends Error {}

export interface Printer {
  frame(record: FrameRecord): void;
  report(report: LoadReport): void;
}

export function printer(options: SimulateOptions): Printer {
  const write = (line: string) => process.stdout.write(line + '\n');
  return {
    frame(record) {
      if (options.quiet === true && record.answer === 'ack') return;
      write(options.json === true ? JSON.stringify(record) : formatFrameRecord(record));
    },
    report(report) {
      write(options.json === true ? JSON.stringify({ report }) : formatLoadReport(report));
    },
  };
}

/** What `panelbridge simulate` does; resolves with its exit status. */
export async function simulate(options: SimulateOptions, print: Printer): Promise<number> {
  if (options.receive === true) return receive(options);
  if (options.scenario !== undefined) return playScenario(options, print);
  const event = requiredEvent(options.event);
  const address: SimAddress = { ...(options.zone === undefined ? {} : { zone: options.zone }), ...(options.user === undefined ? {} : { user: options.user }) };
  const players = options.serial !== undefined ? [await surgardPlayer(options, event, address)] : await dc09Players(options, event, address);
  const loadMode = options.count > 1 || options.connections > 1 || options.rate !== undefined;
  const report = await runPlayers(players, options, print);
  if (loadMode) print.report(report);
  return report.answers.ack === report.sent ? 0 : 1;
}

function requiredEvent(text: string | undefined): SimEvent {
  if (text === undefined) throw new SimulateError('--event is required (or --scenario FILE)');
  const parsed = parseSimEvent(text);
  if (!parsed.ok) throw new SimulateError(parsed.message);
  return parsed.event;
}

function required(value: string | undefined, option: string): string {
  if (value === undefined) throw new SimulateError(`${option} is required`);
  return value;
}

/** Key text from --key, --key-file or --key-env (or a scenario device's key fields) → AES key bytes. */
function resolveKey(source: { key?: string | undefined; keyFile?: string | undefined; keyEnv?: string | undefined }, encoding: 'hex' | 'ascii' | undefined, where: string): Uint8Array | undefined {
  const given = [source.key, source.keyFile, source.keyEnv].filter((s) => s !== undefined).length;
  if (given > 1) throw new SimulateError(`${where}: give only one of key, key file, key environment variable`);
  let text: string | undefined;
  try {
    text = readSecret({ value: source.key, file: source.keyFile, env: source.keyEnv });
  } catch (error) {
    throw new SimulateError(`${where}: ${(error as Error).message}`);
  }
  if (text === undefined) return undefined;
  if (encoding === undefined) throw new SimulateError(`${where}: keyEncoding (hex or ascii) is required with a key`);
  const key = decodeKey(text, encoding);
  if (!key.ok) throw new SimulateError(`${where}: ${key.message}`);
  return key.bytes;
}

function parseTarget(text: string): LinkTarget {
  const target = parseLinkTarget(text);
  if (target === undefined) throw new SimulateError(`--to "${text}" is not tcp://HOST:PORT or udp://HOST:PORT`);
  return target;
}

async function openLink(target: LinkTarget): Promise<Link> {
  try {
    return await openDc09Link(target);
  } catch (error) {
    throw new SimulateError(`cannot reach ${target.transport}://${target.host}:${target.port}: ${(error as Error).message}`);
  }
}

/** The serial port a Sur-Gard receiver writes its automation packets to; every byte other than ACK/NAK is reported. */
async function openSerialLink(path: string, baudRate: number): Promise<Link> {
  const answers = new AnswerQueue();
  // Loaded here: the native binding costs every other CLI verb startup time.
  const { SerialPort } = await import('serialport');
  const port = new SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(new SimulateError(`cannot open ${path}: ${error.message}`)) : resolve())));
  port.on('data', (chunk: Buffer) => {
    let other: number[] = [];
    for (const byte of chunk) {
      if (byte === SURGARD_ACK || byte === SURGARD_NAK) {
        if (other.length > 0) answers.push(Uint8Array.from(other));
        other = [];
        answers.push(Uint8Array.of(byte));
      } else other.push(byte);
    }
    if (other.length > 0) answers.push(Uint8Array.from(other));
  });
  return {
    answers,
    send: (bytes) => new Promise((resolve, reject) => port.write(Buffer.from(bytes), (error) => (error ? reject(error) : port.drain(() => resolve())))),
    close: () => new Promise((resolve) => port.close(() => resolve())),
  };
}

function recordOf(head: Pick<FrameRecord, 'token' | 'account' | 'event'> & Partial<FrameRecord>, outcome: { answer: PanelAnswer; latencyMs: number | null }): FrameRecord {
  const { answer, latencyMs } = outcome;
  return {
    ...head,
    answer: answer.kind === 'stale' ? 'invalid' : answer.kind,
    latencyMs: latencyMs === null ? null : roundMs(latencyMs),
    ...(answer.receiverTime == null ? {} : { receiverTime: new Date(answer.receiverTime).toISOString() }),
    ...(answer.detail === undefined ? {} : { detail: answer.detail }),
  };
}

/** Plays one frame per call on its own link. */
interface Player {
  play(): Promise<FrameRecord>;
  close(): Promise<void>;
}

interface Dc09Panel {
  account: string;
  key: Uint8Array | undefined;
  receiver: string | undefined;
  line: string | undefined;
  timeoutMs: number;
  sequence: SequenceCounter;
}

/** DC-09 R and L fields are 1-6 hex digits (protocols.md §3.1). */
function dc09IdFields(options: Pick<SimulateOptions, 'receiver' | 'line'>): Pick<Dc09Panel, 'receiver' | 'line'> {
  for (const [option, value] of [['--receiver', options.receiver], ['--line', options.line]] as const) {
    if (value !== undefined && !/^[0-9A-Fa-f]{1,6}$/.test(value)) throw new SimulateError(`${option} "${value}" is not 1-6 hex digits`);
  }
  return { receiver: options.receiver, line: options.line };
}

/** What one player sends every time: the frame content and how the output names it. */
interface PlannedFrame {
  content: FrameContent;
  event: string;
  label?: string;
}

function dc09Player(link: Link, panel: Dc09Panel, planned: PlannedFrame): Player {
  const { content: frameData, event, label } = planned;
  return {
    async play() {
      const seq = panel.sequence.next();
      const bytes = buildPanelFrame({
        content: frameData,
        seq,
        account: panel.account,
        key: panel.key,
        now: Date.now(),
        random: randomBytes,
        receiver: panel.receiver,
        line: panel.line,
      });
      const sent: SentFrame = { seq, encrypted: panel.key !== undefined, ...(panel.key === undefined ? {} : { key: panel.key }) };
      const outcome = await exchange(link, bytes, panel.timeoutMs, (answer) => interpretAnswer(answer, sent));
      const token = `${sent.encrypted ? '*' : ''}${frameData.token}`;
      return recordOf({ seq, token, account: panel.account, event, ...(label === undefined ? {} : { label }) }, outcome);
    },
    close: () => link.close(),
  };
}

function formatOf(options: SimulateOptions): SimFormat {
  return options.format === 'sia' ? 'sia-dcs' : 'adm-cid';
}

async function dc09Players(options: SimulateOptions, event: SimEvent, address: SimAddress): Promise<Player[]> {
  const target = parseTarget(required(options.to, '--to'));
  const account = required(options.account, '--account');
  if (!/^[0-9A-Fa-f]{3,16}$/.test(account)) throw new SimulateError(`--account "${account}" is not 3-16 hex digits`);
  const panel: Dc09Panel = {
    account,
    key: resolveKey(options, options.keyEncoding, 'key'),
    ...dc09IdFields(options),
    timeoutMs: options.timeout,
    // One panel spread over several connections: one sequence, so every frame in flight has its own number.
    sequence: new SequenceCounter(),
  };
  const planned = { content: frameContent(event, account, address, formatOf(options)), event: describeEvent(event, address) };
  const links = await Promise.all(Array.from({ length: options.connections }, () => openLink(target)));
  return links.map((link) => dc09Player(link, panel, planned));
}

async function surgardPlayer(options: SimulateOptions, event: SimEvent, address: SimAddress): Promise<Player> {
  if (options.protocol !== 'surgard') throw new SimulateError('--serial needs --protocol surgard');
  if (options.connections !== 1) throw new SimulateError('--connections applies to DC-09 only: a serial port is one line');
  const account = event.kind === 'named' && event.name !== 'null' ? required(options.account, '--account') : (options.account ?? '');
  const packet = buildSurgardPacket({ event, account, address, receiver: options.receiver ?? '01', line: options.line ?? '001' });
  const link = await openSerialLink(required(options.serial, '--serial'), options.baudRate);
  const description = describeEvent(event, address);
  return {
    async play() {
      const outcome = await exchange(link, Buffer.from(packet, 'latin1'), options.timeout, interpretSurgardAnswer);
      return recordOf({ token: 'surgard', account, event: description }, outcome);
    },
    close: () => link.close(),
  };
}

/** Shares `count` frames between the players, paced to `rate` frames per second when given. */
async function runPlayers(players: Player[], options: Pick<SimulateOptions, 'count' | 'rate'>, print: Printer): Promise<LoadReport> {
  const answers = emptyAnswerCounts();
  const latencies: number[] = [];
  const started = performance.now();
  let next = 0;
  try {
    await Promise.all(
      players.map(async (player) => {
        for (let index = next++; index < options.count; index = next++) {
          if (options.rate !== undefined) {
            const wait = started + (index * 1000) / options.rate - performance.now();
            if (wait > 0) await sleep(wait);
          }
          const record = await player.play();
          answers[record.answer] += 1;
          if (record.latencyMs !== null) latencies.push(record.latencyMs);
          print.frame(record);
        }
      }),
    );
  } finally {
    await Promise.all(players.map((p) => p.close()));
  }
  return loadReport({ answers, latenciesMs: latencies, connections: players.length, elapsedMs: performance.now() - started });
}

/** Every device of a site in order, one connection per device, `delay` between events; a summary at the end. */
async function playScenario(options: SimulateOptions, print: Printer): Promise<number> {
  const file = required(options.scenario, '--scenario');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new SimulateError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const parsed = parseScenario(text);
  if (!parsed.ok) throw new SimulateError(`${file}: ${parsed.issues.join('; ')}`);
  const scenario: Scenario = parsed.scenario;
  const to = options.to ?? scenario.to;
  if (to === undefined) throw new SimulateError('--to is required (or "to:" in the scenario)');
  const target = parseTarget(to);
  const answers = emptyAnswerCounts();
  let first = true;
  for (const [d, device] of scenario.devices.entries()) {
    const panel: Dc09Panel = {
      account: device.account,
      key: resolveKey(device, device.keyEncoding, `devices.${d}`),
      ...dc09IdFields(options),
      timeoutMs: scenario.timeout,
      sequence: new SequenceCounter(),
    };
    const link = await openLink(target);
    try {
      for (const entry of device.events) {
        if (!first) await sleep(scenario.delay);
        first = false;
        const address: SimAddress = { ...(entry.zone === undefined ? {} : { zone: entry.zone }), ...(entry.user === undefined ? {} : { user: entry.user }) };
        const label = [scenario.site, entry.label].filter((part) => part !== undefined).join(': ');
        const record = await dc09Player(link, panel, {
          content: frameContent(entry.event, device.account, address, scenario.format),
          event: describeEvent(entry.event, address),
          ...(label === '' ? {} : { label }),
        }).play();
        answers[record.answer] += 1;
        print.frame(record);
      }
    } finally {
      await link.close();
    }
  }
  const sent = Object.values(answers).reduce((a, b) => a + b, 0);
  const summary = { scenario: scenario.site ?? file, sent, answers };
  process.stdout.write((options.json === true ? JSON.stringify({ summary }) : `${summary.scenario}: ${sent} event(s), ${answers.ack} ACK, ${sent - answers.ack} not ACKed`) + '\n');
  return answers.ack === sent ? 0 : 1;
}

/** `host:port`, `[v6]:port` or a bare port (on 127.0.0.1). */
function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]:|([^:\s]+):)?(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (match === null || port > 65535) throw new SimulateError(`--listen "${text}" is not [host:]port`);
  return { host: match[1] ?? match[2] ?? '127.0.0.1', port };
}

/** `--receive`: a DC-09 receiver printing what arrives, until SIGINT/SIGTERM; exit 0. */
async function receive(options: SimulateOptions): Promise<number> {
  const { startReceiver, formatReceivedRecord } = await import('./simulate-receive.js');
  const key = resolveKey(options, options.keyEncoding, 'key');
  if (key !== undefined && options.account === undefined) throw new SimulateError('--receive with a key needs --account (the key belongs to it)');
  if (options.account !== undefined && !/^[0-9A-Fa-f]{3,16}$/.test(options.account)) throw new SimulateError(`--account "${options.account}" is not 3-16 hex digits`);
  const write = (line: string) => process.stdout.write(line + '\n');
  const json = options.json === true;
  const address = parseListen(options.listen);
  let running;
  try {
    running = await startReceiver({
      ...address,
      ...(options.account === undefined ? {} : { account: { account: options.account, ...(key === undefined ? {} : { key }) } }),
      onListening: (address) => write(json ? JSON.stringify({ listening: address }) : `listening on tcp and udp ${address.host}:${address.port}`),
      onFrame: (record) => write(json ? JSON.stringify(record) : formatReceivedRecord(record)),
    });
  } catch (error) {
    throw new SimulateError(`cannot listen on ${options.listen}: ${(error as Error).message}`);
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await running.close();
  return 0;
}
