import type { ContactIdFields } from '../codecs/contact-id.js';
import type { FrameContent } from '../codecs/dc09/transmitter.js';

/**
 * What the simulator sends for an event name: the Contact ID code (ADM-CID data, Sur-Gard packets) and the SIA
 * code (SIA-DCS data), and whether the number is a zone or a user (protocols.md §1.5, §2.4 and the §6 cheat-sheet).
 */
export const SIMULATED_EVENTS = {
  duress: { cid: '121', sia: 'HA', address: 'user' },
  holdup: { cid: '122', sia: 'HA', address: 'zone' },
  panic: { cid: '120', sia: 'PA', address: 'zone' },
  burglary: { cid: '130', sia: 'BA', address: 'zone' },
  test: { cid: '601', sia: 'RX', address: 'zone' },
  // Point tested OK / walk test point: counts as a test of that device (a panel test report does not).
  'walk-test': { cid: '611', sia: 'TP', address: 'zone' },
} as const satisfies Record<string, { cid: string; sia: string; address: 'zone' | 'user' }>;

export type CodedEventName = keyof typeof SIMULATED_EVENTS;
export type SimEventName = CodedEventName | 'null';
export const SIM_EVENT_NAMES: readonly SimEventName[] = [...(Object.keys(SIMULATED_EVENTS) as CodedEventName[]), 'null'];

/** A named event, or `raw:<data block>` sent as given. */
export type SimEvent = { kind: 'named'; name: SimEventName } | { kind: 'raw'; data: string };

/** The zone and user numbers an event may carry (Contact ID CCC: 0-999). */
export interface SimAddress {
  zone?: number;
  user?: number;
}

/** The zone and user given on the command line or in a scenario entry, leaving out what was not given. */
export function simAddress(given: { zone?: number | undefined; user?: number | undefined }): SimAddress {
  return { ...(given.zone === undefined ? {} : { zone: given.zone }), ...(given.user === undefined ? {} : { user: given.user }) };
}

export type SimFormat = 'adm-cid' | 'sia-dcs';

export type { FrameContent } from '../codecs/dc09/transmitter.js';

const RAW_PREFIX = 'raw:';
/** The simulator speaks for a single-area panel: Contact ID group 01, SIA area `ri1`. */
const GROUP = '01';
const AREA = '1';
export const MAX_ADDRESS = 999;
/** A DC-09 account: 3-16 hex digits (protocols.md §3.1). */
export const ACCOUNT_PATTERN = /^[0-9A-Fa-f]{3,16}$/;

export function parseSimEvent(text: string): { ok: true; event: SimEvent } | { ok: false; message: string } {
  if (text.startsWith(RAW_PREFIX)) {
    const data = text.slice(RAW_PREFIX.length);
    return data === '' ? { ok: false, message: 'raw: needs a data block, e.g. raw:"#1234|Nri1/PA501"' } : { ok: true, event: { kind: 'raw', data } };
  }
  const name = SIM_EVENT_NAMES.find((n) => n === text);
  return name === undefined
    ? { ok: false, message: `unknown event "${text}": use ${SIM_EVENT_NAMES.join(', ')} or raw:"<data block>"` }
    : { ok: true, event: { kind: 'named', name } };
}

function addressOf(name: CodedEventName, address: SimAddress): number {
  return (SIMULATED_EVENTS[name].address === 'user' ? address.user : address.zone) ?? 1;
}

const pad3 = (n: number) => String(n).padStart(3, '0');

/** Contact ID fields for a named event (qualifier 1: new event). */
export function contactIdFieldsFor(name: CodedEventName, address: SimAddress): ContactIdFields {
  return { qualifier: '1', event: SIMULATED_EVENTS[name].cid, group: GROUP, ccc: pad3(addressOf(name, address)) };
}

/** SIA DC-03 event data: `Nri1/HA005`, or with the user as `id` modifier (`Nri1/id012/HA0`, a duress code at a keypad). */
function siaDataFor(name: CodedEventName, address: SimAddress): string {
  const { sia } = SIMULATED_EVENTS[name];
  const number = pad3(addressOf(name, address));
  return SIMULATED_EVENTS[name].address === 'user' ? `Nri${AREA}/id${number}/${sia}0` : `Nri${AREA}/${sia}${number}`;
}

/** `#acct|data` in a raw block becomes the data account; anything else is the data as given. */
function splitRawBlock(block: string): { dataAccount: string | null; data: string } {
  const match = /^#([0-9A-Fa-f]{3,16})\|(.*)$/s.exec(block);
  return match === null ? { dataAccount: null, data: block } : { dataAccount: match[1]!, data: match[2]! };
}

export function frameContent(event: SimEvent, account: string, address: SimAddress, format: SimFormat): FrameContent {
  const token = format === 'adm-cid' ? 'ADM-CID' : 'SIA-DCS';
  if (event.kind === 'raw') return { token, ...splitRawBlock(event.data) };
  if (event.name === 'null') return { token: 'NULL', dataAccount: null, data: '' };
  if (format === 'sia-dcs') return { token, dataAccount: account, data: siaDataFor(event.name, address) };
  const f = contactIdFieldsFor(event.name, address);
  return { token, dataAccount: account, data: `${f.qualifier}${f.event} ${f.group} ${f.ccc}` };
}

/** `holdup zone 5`, `duress user 12`, `null`, `raw #1234|Nri1/PA501`: how the output names what was sent. */
export function describeEvent(event: SimEvent, address: SimAddress): string {
  if (event.kind === 'raw') return `raw ${event.data}`;
  if (event.name === 'null') return 'null';
  const kind = SIMULATED_EVENTS[event.name].address;
  return `${event.name} ${kind} ${addressOf(event.name, address)}`;
}
