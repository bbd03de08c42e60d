import { lookupCode, type CodeScheme } from '../catalog/index.js';
import type { Category, NormalizedEvent } from '../model/event.js';
import type { ContactIdFields, ContactIdQualifier } from './contact-id.js';

/**
 * A stored event written back into a receiver's vocabulary, for the outputs that forward to a monitoring centre
 * (DC-09 ADM-CID / SIA-DCS, Sur-Gard automation). The event's own code is kept when the target speaks its scheme;
 * otherwise a code of the same meaning, else the generic code of its category. Nothing is dropped: what could not
 * be carried is named in `notes` for the delivery log.
 */

export interface ForwardedCode {
  scheme: CodeScheme;
  /** Contact ID event code (`121`) or SIA two-letter code (`HA`). */
  value: string;
  /** The number written in the code's address (CCC, SIA address): a zone or a user as the code table says. */
  address: number | null;
  /** A user sent beside the address (SIA `id` modifier). */
  user: number | null;
  partition: number | null;
  /** Why the sent code or its numbers differ from the event's (substitute code, number not carried). */
  notes: string[];
  /**
   * How the panel's own code reads, when a code of another meaning replaced it to carry the category the site
   * rules or a vendor profile gave the event (DC-09 shows it in [I], so the operator still sees what was sent).
   */
  panelCode: string | null;
}

/** The generic code of each category (protocols.md §1.5, §2.4): what an event without an equivalent is sent as. */
const GENERIC: Readonly<Record<Exclude<Category, 'heartbeat'>, { cid: string; sia: string }>> = {
  duress: { cid: '121', sia: 'HA' },
  holdup: { cid: '122', sia: 'HA' },
  panic: { cid: '120', sia: 'PA' },
  medical: { cid: '100', sia: 'MA' },
  fire: { cid: '110', sia: 'FA' },
  burglary: { cid: '130', sia: 'BA' },
  tamper: { cid: '137', sia: 'TA' },
  trouble: { cid: '300', sia: 'UT' },
  supervisory: { cid: '350', sia: 'US' },
  test: { cid: '601', sia: 'TP' },
  opening: { cid: '401', sia: 'OP' },
  closing: { cid: '401', sia: 'CL' },
  bypass: { cid: '570', sia: 'UB' },
  access: { cid: '422', sia: 'DG' },
  status: { cid: '650', sia: 'YY' },
  // Whatever it was, a monitoring centre must look at it: a general alarm, never silence.
  unrecognized: { cid: '140', sia: 'UA' },
};

/** Contact ID codes with a SIA code of the same meaning (the alarm form; restores follow SIA_RESTORE). */
const CID_TO_SIA: Readonly<Record<string, string>> = {
  '100': 'MA', '101': 'QA', '110': 'FA', '111': 'FA', '120': 'PA', '121': 'HA', '122': 'HA', '123': 'PA',
  '130': 'BA', '131': 'BA', '132': 'BA', '133': 'BA', '134': 'BA', '137': 'TA', '140': 'UA', '144': 'TA',
  '145': 'TA', '301': 'AT', '302': 'YT', '350': 'YC', '401': 'OP', '421': 'DD', '422': 'DG', '570': 'BB',
  '601': 'RX', '602': 'RP',
};

/** SIA codes (alarm and restore forms) with a Contact ID code of the same meaning. */
const SIA_TO_CID: Readonly<Record<string, string>> = {
  MA: '100', MR: '100', QA: '101', QR: '101', FA: '110', FR: '110', PA: '120', PR: '120', HA: '122', HR: '122',
  ND: '121', BA: '130', BR: '130', TA: '137', TR: '137', UA: '140', UR: '140', AT: '301', AR: '301', YT: '302',
  YR: '302', YC: '350', YK: '350', OP: '401', CL: '401', DD: '421', DG: '422', BB: '570', BU: '570', RX: '601',
  RP: '602',
};

/** SIA alarm code → its restore code (SIA states restores in the code, Contact ID in the qualifier). */
const SIA_RESTORE: Readonly<Record<string, string>> = {
  MA: 'MR', QA: 'QR', FA: 'FR', PA: 'PR', HA: 'HR', BA: 'BR', TA: 'TR', UA: 'UR', AT: 'AR', YT: 'YR', YC: 'YK',
  BB: 'BU', UB: 'UU', UT: 'UJ',
};

const CID_CODE = /^[0-9B-F]{3}$/;
const SIA_CODE = /^[A-Z]{2}$/;
const CCC_MAX = 999;

/**
 * Whether a receiver that knows only the standard code tables (no copy of this gateway's site rules or vendor
 * profiles) reads `value` as `category`. Open/close codes read as an opening or a closing by their qualifier,
 * which contactIdQualifier writes; a code missing from the table reads as unrecognized.
 */
function readsAs(scheme: CodeScheme, value: string, category: Category): boolean {
  const entry = lookupCode(scheme, value);
  if (entry === undefined) return category === 'unrecognized';
  if (entry.openClose === true) return category === 'opening' || category === 'closing';
  return entry.category === category;
}

/** The code to send in `scheme`, and a note when it is not the event's own. Null for a link heartbeat. */
function chooseCode(event: NormalizedEvent, scheme: CodeScheme): { value: string; note: string | null; reclassified?: true } | null {
  if (event.category === 'heartbeat') return null;
  const generic = GENERIC[event.category][scheme === 'contact-id' ? 'cid' : 'sia'];
  const own = event.code;
  const describe = (value: string) => `${scheme === 'sia' ? 'SIA' : 'Contact ID'} ${value}`;
  const asGeneric = (why: string) => ({ value: generic, note: `${why}: sent as the generic ${event.category} code ${describe(generic)}` });
  if (own === null) return asGeneric('no event code');
  const ownName = `${own.scheme === 'sia' ? 'SIA' : 'Contact ID'} ${own.value}`;
  // The site rules or a vendor profile gave the event another category than its code's (a burglary on a hold-up
  // zone, an opening by a duress user): the receiver has no copy of them, so a code of the event's category goes.
  if (!readsAs(own.scheme, own.value, event.category)) {
    if (own.scheme === scheme && own.value.toUpperCase() === generic) return { value: generic, note: null };
    const why = `${ownName} is ${event.category} only by this gateway's site rules or vendor profile`;
    // Contact ID 121's CCC names a user: a duress with a zone and no user (a zone typed duress) goes as the
    // silent hold-up 122, whose CCC names the zone, rather than as a 121 that tells the responder nowhere.
    if (scheme === 'contact-id' && event.category === 'duress' && event.user == null && event.zone != null) {
      const holdup = GENERIC.holdup.cid;
      return { value: holdup, note: `${why}: sent as ${describe(holdup)} (silent hold-up), whose number names the zone; 121's names a user`, reclassified: true };
    }
    return { ...asGeneric(why), reclassified: true };
  }
  if (own.scheme === scheme) {
    const value = own.value.toUpperCase();
    // An uncatalogued code of the right shape goes as sent: the receiver may know it.
    if ((scheme === 'sia' ? SIA_CODE : CID_CODE).test(value)) return { value, note: null };
    return asGeneric(`${ownName} is not a valid code`);
  }
  const equivalent = scheme === 'sia' ? CID_TO_SIA[own.value] : SIA_TO_CID[own.value.toUpperCase()];
  if (equivalent !== undefined && readsAs(scheme, equivalent, event.category))
    return { value: equivalent, note: `${ownName} sent as its equivalent ${describe(equivalent)}` };
  return asGeneric(`${ownName} has no ${scheme === 'sia' ? 'SIA' : 'Contact ID'} equivalent`);
}

/**
 * The numbers an event carries besides its area, by what they name (the code tables' address kinds): zone, user,
 * a door given by number, and the `number` field's kind (which may be a second area).
 */
function numbersOf(event: NormalizedEvent): Map<string, number> {
  const numbers = new Map<string, number>();
  if (event.zone != null) numbers.set('zone', event.zone.number);
  if (event.user != null) numbers.set('user', event.user.number);
  if (event.door != null && /^\d+$/.test(event.door.id)) numbers.set('door', Number(event.door.id));
  if (event.number !== undefined) numbers.set(event.number.kind, event.number.value);
  return numbers;
}

/**
 * Puts the event's numbers into the slots the chosen code has: its address (whatever the code table says it
 * names; null when the event has no such number) and, in SIA, an `id` modifier for a user. A number with no slot
 * is named in the notes; the area has its own (group, `ri`).
 */
function placeNumbers(event: NormalizedEvent, scheme: CodeScheme, value: string, notes: string[]): Pick<ForwardedCode, 'address' | 'user'> {
  const kind = lookupCode(scheme, value)?.address ?? 'zone';
  const numbers = numbersOf(event);
  const user = numbers.get('user') ?? null;
  const name = `${scheme === 'sia' ? 'SIA' : 'Contact ID'} ${value}`;
  // A code whose number names an area takes the event's area when no second one is named.
  const address = kind === 'none' ? null : (numbers.get(kind) ?? (kind === 'partition' ? (event.partition?.number ?? null) : null));
  // SIA HA with a user id reads as a duress code (generic profile); a hold-up keeps its meaning without it.
  const userSlot = scheme === 'sia' && kind !== 'user' && !(value === 'HA' && event.category === 'holdup');
  const sentUser = user !== null && kind !== 'user' && userSlot ? user : null;
  const carries = kind === 'none' ? 'no number' : `a ${kind}`;
  for (const [what, number] of numbers) {
    if (what === kind || (what === 'user' && sentUser !== null)) continue;
    const why = what === 'user' && scheme === 'sia' ? 'SIA HA with a user id would read as duress' : `${name} carries ${carries}`;
    notes.push(`${what} ${number} not sent: ${why}`);
  }
  // Contact ID CCC 000 names no one, so a user 0 cannot travel in it.
  if (scheme === 'contact-id' && kind === 'user' && user === 0) notes.push('user 0 not sent: Contact ID CCC 000 names no user');
  // SIA's one duress code is HA with a user id (generic profile); any other duress goes as a hold-up code.
  const readsAsDuress = lookupCode(scheme, value)?.category === 'duress' || (value === 'HA' && sentUser !== null);
  if (event.category === 'duress' && scheme === 'sia' && !readsAsDuress)
    notes.push(`duress sent as ${name}${sentUser === null ? ' without a user id' : ''}: the receiver reads it as a hold-up (duress kept)`);
  return { address, user: sentUser };
}

/** The event's code, zone, user and area for a receiver speaking `scheme`; null for a link heartbeat. */
export function forwardedCode(event: NormalizedEvent, scheme: CodeScheme): ForwardedCode | null {
  const chosen = chooseCode(event, scheme);
  if (chosen === null) return null;
  const notes = chosen.note === null ? [] : [chosen.note];
  if (event.verified === false) notes.push(`unverified (${event.unverifiedReason ?? 'no reason given'}): forwarded all the same`);
  let value = chosen.value;
  if (scheme === 'sia' && event.qualifier === 'restore' && lookupCode('sia', value)?.qualifier !== 'restore') {
    const restore = SIA_RESTORE[value];
    if (restore === undefined) notes.push(`SIA ${value} has no restore code: the restore is sent as ${value}`);
    else value = restore;
  }
  const { address, user } = placeNumbers(event, scheme, value, notes);
  // The classifier's first reason is how the code table reads the panel's code (e.g. `Contact ID 401 "Open/close
  // by user": qualifier 3 = closing (armed)`).
  const panelCode = chosen.reclassified === true ? (event.reasons[0] ?? null) : null;
  return { scheme, value, address, user, partition: event.partition?.number ?? null, notes, panelCode };
}

function contactIdQualifier(event: NormalizedEvent, value: string): ContactIdQualifier {
  // Open/close codes say it in the qualifier: 1 opening (disarmed), 3 closing (armed); a status report of either
  // cannot be told apart, so it goes as the opening or closing it reports.
  if (lookupCode('contact-id', value)?.openClose === true) return event.category === 'closing' ? '3' : '1';
  if (event.qualifier === 'status') return '6';
  return event.qualifier === 'restore' ? '3' : '1';
}

const pad = (value: number, width: number) => String(value).padStart(width, '0');

/** Contact ID `Q XYZ GG CCC` for the event (group = area, CCC = zone or user); null for a link heartbeat. */
export function contactIdFieldsForEvent(event: NormalizedEvent): { fields: ContactIdFields; notes: string[]; panelCode: string | null } | null {
  const code = forwardedCode(event, 'contact-id');
  if (code === null) return null;
  const { notes } = code;
  let group = code.partition ?? 0;
  if (group > 99) {
    notes.push(`area ${group} not sent: the Contact ID group has 2 digits`);
    group = 0;
  }
  let ccc = code.address ?? 0;
  if (ccc > CCC_MAX) {
    notes.push(`number ${ccc} not sent: the Contact ID CCC has 3 digits`);
    ccc = 0;
  }
  return { fields: { qualifier: contactIdQualifier(event, code.value), event: code.value, group: pad(group, 2), ccc: pad(ccc, 3) }, notes, panelCode: code.panelCode };
}

/**
 * SIA DC-03 event data: `N` (new) or `O` (old/status report), the `id` user and `ri` area modifiers, then the
 * code and its address when it has one, e.g. `Nid012/ri1/HA`. Null for a link heartbeat.
 */
export function siaDataForEvent(event: NormalizedEvent): { data: string; notes: string[]; panelCode: string | null } | null {
  const code = forwardedCode(event, 'sia');
  if (code === null) return null;
  // `id` before `ri`: the order receivers such as pysiaalarm parse (ti, id, ri, code).
  const modifiers = [
    ...(code.user === null ? [] : [`id${pad(code.user, 3)}`]),
    ...(code.partition === null ? [] : [`ri${code.partition}`]),
  ];
  const block = event.qualifier === 'status' ? 'O' : 'N';
  const data = `${block}${modifiers.map((m) => `${m}/`).join('')}${code.value}${code.address === null ? '' : pad(code.address, 3)}`;
  return { data, notes: code.notes, panelCode: code.panelCode };
}
