import { ACCOUNT_PATTERN, parseSimEvent, type SimEvent, type SimFormat } from '../../src/simulate/events.js';
import { resolveKey as resolveSecretKey, type KeySource } from '../system/secrets.js';
import { parseLinkTarget, type LinkTarget } from '../outputs/dc09-link.js';

/** The options of `panelbridge simulate`, as commander parses them (the command and the simulator both read them). */
export interface SimulateOptions {
  to?: string;
  account?: string;
  key?: string;
  keyFile?: string;
  keyEnv?: string;
  keyEncoding: 'hex' | 'ascii';
  event?: string;
  zone?: number;
  user?: number;
  format: 'adm-cid' | 'sia';
  receiver?: string;
  line?: string;
  count: number;
  rate?: number;
  connections: number;
  timeout: number;
  json?: boolean;
  quiet?: boolean;
  scenario?: string;
  serial?: string;
  protocol?: 'surgard';
  baudRate: number;
  receive?: boolean;
  listen: string;
}

/** A problem with the options or the target: printed as one line, exit 2. */
export class SimulateError extends Error {}

export function required(value: string | undefined, option: string): string {
  if (value === undefined) throw new SimulateError(`${option} is required`);
  return value;
}

export function requiredEvent(text: string | undefined): SimEvent {
  if (text === undefined) throw new SimulateError('--event is required (or --scenario FILE)');
  const parsed = parseSimEvent(text);
  if (!parsed.ok) throw new SimulateError(parsed.message);
  return parsed.event;
}

export function checkedAccount(account: string): string {
  if (!ACCOUNT_PATTERN.test(account)) throw new SimulateError(`--account "${account}" is not 3-16 hex digits`);
  return account;
}

/** DC-09 R and L fields are 1-6 hex digits (protocols.md §3.1). */
export function dc09IdFields(options: Pick<SimulateOptions, 'receiver' | 'line'>): { receiver: string | undefined; line: string | undefined } {
  for (const [option, value] of [['--receiver', options.receiver], ['--line', options.line]] as const) {
    if (value !== undefined && !/^[0-9A-Fa-f]{1,6}$/.test(value)) throw new SimulateError(`${option} "${value}" is not 1-6 hex digits`);
  }
  return { receiver: options.receiver, line: options.line };
}

/** Key text from --key, --key-file or --key-env (or a scenario device's key fields) → AES key bytes. */
export function resolveKey(source: KeySource, encoding: 'hex' | 'ascii' | undefined, where: string): Uint8Array | undefined {
  const resolution = resolveSecretKey(source, encoding);
  if (!resolution.ok) throw new SimulateError(`${where}: ${resolution.message}`);
  return resolution.key;
}

export function parseTarget(text: string): LinkTarget {
  const target = parseLinkTarget(text);
  if (target === undefined) throw new SimulateError(`--to "${text}" is not tcp://HOST:PORT or udp://HOST:PORT`);
  return target;
}

export function formatOf(options: Pick<SimulateOptions, 'format'>): SimFormat {
  return options.format === 'sia' ? 'sia-dcs' : 'adm-cid';
}

/** `host:port`, `[v6]:port` or a bare port (on 127.0.0.1). */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]:|([^:\s]+):)?(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (match === null || port > 65535) throw new SimulateError(`--listen "${text}" is not [host:]port`);
  return { host: match[1] ?? match[2] ?? '127.0.0.1', port };
}
