import { DURESS_CATEGORIES, type Category } from '../model/event.js';
import type { Signal } from '../model/signal.js';
import { alarmNamedIn } from '../model/duress-word.js';
import type { AddressKind, CodeEntry } from '../catalog/types.js';
import type { Site, SiteDoor, SiteUser, SiteZone, ZoneType } from '../settings/sites.js';
import { profileRules, ruleMatches } from './profiles.js';

export type CodeScheme = 'contact-id' | 'sia';
export type Qualifier = 'new' | 'restore' | 'status';
export type CodeLookup = (scheme: CodeScheme, value: string) => CodeEntry | undefined;

export interface ClassifyContext {
  site?: Site;
  /** Epoch ms of classification; test windows will use it. */
  now?: number;
}

/** The classified part of a NormalizedEvent; every field is named as in the event. */
export interface Classification {
  category: Category;
  duress: boolean;
  silent: boolean;
  /** The code is one a `local` output must not see whatever its category (CodeEntry.covert). */
  covert: boolean;
  qualifier: Qualifier;
  code: { scheme: CodeScheme; value: string; description: string } | null;
  partition: { number: number } | null;
  zone: { number: number; name?: string; type?: ZoneType; location?: string; holder?: string } | null;
  user: { number: number; name?: string } | null;
  door?: { id: string; name?: string; location?: string; credential?: string; holder?: string };
  /** The code's number when it names neither a zone, a user, a partition nor a door (see otherAddress). */
  number?: { kind: string; value: number };
  test: boolean;
  reasons: string[];
  site?: { id: string; name?: string; address?: string; response?: string };
}

const SCHEME_NAMES: Record<CodeScheme, string> = { 'contact-id': 'Contact ID', sia: 'SIA' };

/** Categories of an alarm: on a typed duress/medical zone these take the zone's category. */
const ALARM_CATEGORIES: ReadonlySet<Category> = new Set(['duress', 'holdup', 'panic', 'medical', 'fire', 'burglary']);

/**
 * An alarm from a zone, whatever the panel's zone programming made of it. Contact ID puts every alarm in 1xx
 * (DC-05 Appendix C), including 150/160 "24 hour non-burglary", a generic 24-hour zone that may well be a
 * hold-up button (protocols.md §1.5); tamper and supervision reports are device health, not alarms.
 */
function isZoneAlarm(code: Signal['code'], category: Category): boolean {
  if (category === 'tamper' || category === 'supervisory') return false;
  if (ALARM_CATEGORIES.has(category)) return true;
  return code?.scheme === 'contact-id' ? /^1\d\d$/.test(code.value) : code?.scheme === 'sia' && SIA_ZONE_ALARMS_OF_TROUBLE.has(code.value);
}

/** SIA zone alarms the table calls troubles, whose Contact ID twins are 1xx alarms: water (154) and freeze (159). */
const SIA_ZONE_ALARMS_OF_TROUBLE: ReadonlySet<string> = new Set(['WA', 'ZA']);

const ZONE_TYPE_CATEGORY: Partial<Record<ZoneType, Category>> = {
  holdup: 'holdup',
  panic: 'panic',
  duress: 'duress',
  medical: 'medical',
};

/** Zone types whose device only exists to call for help: an unknown code from one is a call for help. */
const DURESS_DEVICE_TYPES: ReadonlySet<ZoneType> = new Set(['holdup', 'panic', 'duress']);

/**
 * Where the address goes when the code table says it is not a zone or a user, so no digit is lost: an area
 * becomes the partition (unless an `ri` modifier already named another one), every other kind is published as
 * `number: {kind, value}`, and a non-zero number after a code the table gives no number is kind `unspecified`.
 */
function otherAddress(kind: AddressKind, signal: Signal): { partition: number | null; number?: { kind: string; value: number } } {
  const { address, partition } = signal;
  if (address === null || kind === 'zone' || kind === 'user' || kind === 'door') return { partition };
  if (kind === 'partition') {
    return partition === null || partition === address ? { partition: address } : { partition, number: { kind, value: address } };
  }
  if (kind === 'none') return address === 0 ? { partition } : { partition, number: { kind: 'unspecified', value: address } };
  return { partition, number: { kind, value: address } };
}

interface Baseline {
  category: Category;
  qualifier: Qualifier;
  entry: CodeEntry | undefined;
  code: Classification['code'];
  reasons: readonly string[];
}

/** A link heartbeat is no one's event: no site, vendor, zone or user rule applies to it. */
function heartbeat(signal: Signal, site: Site | undefined): Classification {
  return {
    category: 'heartbeat',
    duress: false,
    silent: false,
    covert: false,
    qualifier: signal.qualifier ?? 'new',
    code: null,
    partition: null,
    zone: null,
    user: null,
    door: undefined,
    number: undefined,
    test: false,
    reasons: ['heartbeat: the message carries no event code (link supervision)'],
    site: site === undefined ? undefined : siteContext(site),
  };
}

/**
 * Baselines of known codes, per code table row, for each code as sent (SIA codes in any case) and qualifier as
 * sent: at most a few each. Every frame needs one, and its description and reason text are the same every time.
 */
const knownBaselines = new WeakMap<CodeEntry, Array<{ value: string; sent: Signal['qualifier']; baseline: Baseline }>>();

function baselineOf(signal: Signal, lookup: CodeLookup): Baseline {
  if (signal.code === null) {
    // Only access-control signals reach here (heartbeats are handled before): keep them, the door rules still apply.
    return {
      category: 'access',
      qualifier: signal.qualifier ?? 'new',
      entry: undefined,
      code: null,
      reasons: ['access-control event without an event code'],
    };
  }
  const { scheme, value } = signal.code;
  const entry = lookup(scheme, value);
  if (entry === undefined) {
    return {
      category: 'unrecognized',
      qualifier: signal.qualifier ?? 'new',
      entry,
      code: { scheme, value, description: `Not in the ${SCHEME_NAMES[scheme]} code table` },
      reasons: [`unknown ${SCHEME_NAMES[scheme]} code ${value}`],
    };
  }
  let kept = knownBaselines.get(entry);
  if (kept === undefined) knownBaselines.set(entry, (kept = []));
  const sent = signal.qualifier;
  for (const known of kept) if (known.value === value && known.sent === sent) return known.baseline;
  const baseline = knownBaseline(scheme, value, entry, sent);
  kept.push({ value, sent, baseline });
  return baseline;
}

/** Frozen: every event of the code shares its code object and reason texts. */
function knownBaseline(scheme: CodeScheme, value: string, entry: CodeEntry, sent: Signal['qualifier']): Baseline {
  const named = `${SCHEME_NAMES[scheme]} ${value}`;
  const code = Object.freeze({ scheme, value, description: entry.description });
  // An old/status report (DC-03 'O' block, Contact ID 6) stays a status whatever the code implies.
  const qualifier: Qualifier = sent === 'status' ? 'status' : (entry.qualifier ?? sent ?? 'new');
  if (entry.openClose === true && qualifier !== 'status') {
    const category = qualifier === 'restore' ? 'closing' : 'opening';
    const how = qualifier === 'restore' ? 'qualifier 3 = closing (armed)' : 'qualifier 1 = opening (disarmed)';
    return Object.freeze({ category, qualifier: 'new', entry, code, reasons: Object.freeze([`${named} "${entry.description}": ${how}`]) });
  }
  const reasons = [`${named} "${entry.description}": ${entry.category}`];
  if (qualifier === 'restore') reasons.push('restore of the condition; its category is kept');
  if (qualifier === 'status') reasons.push('status report of a condition already reported: no new incident');
  return Object.freeze({ category: entry.category, qualifier, entry, code, reasons: Object.freeze(reasons) });
}

function deviceLabel(type: ZoneType): string {
  return DURESS_DEVICE_TYPES.has(type) ? `a duress device (${type})` : `a ${type} device`;
}

function zoneLabel(zone: SiteZone): string {
  return `zone ${zone.number} "${zone.name}"`;
}

/** What the address names when the code is unknown: whatever the site lists under that number, else a zone. */
function addressKindForUnknownCode(address: number | null, site: Site | undefined): 'zone' | 'user' {
  if (address === null || site?.zones?.some((z) => z.number === address)) return 'zone';
  return site?.users?.some((u) => u.number === address) ? 'user' : 'zone';
}

/**
 * Builds the classifier over a code lookup. Every rule after the baseline goes through `escalate`, which can
 * add a duress label but never replace a duress or hold-up category: site and vendor rules cannot remove duress.
 */
export function createClassifier(lookup: CodeLookup) {
  return function classify(signal: Signal, context: ClassifyContext): Classification {
    const { site } = context;
    if (signal.code === null && signal.access === undefined) return heartbeat(signal, site);
    const baseline = baselineOf(signal, lookup);
    const reasons = [...baseline.reasons];
    let category = baseline.category;
    const { qualifier } = baseline;

    const escalate = (target: Category, reason: string): void => {
      // Duress ranks above hold-up: a rule for a hold-up device does not rename a keypad duress either.
      if (DURESS_CATEGORIES.has(category) && (!DURESS_CATEGORIES.has(target) || (category === 'duress' && target === 'holdup'))) {
        reasons.push(`${reason}; ${category} is kept: site and vendor rules never remove a duress label`);
        return;
      }
      category = target;
      reasons.push(`${reason} → ${target}`);
    };

    // Address → zone or user, as the code table says (or as the site lists it when the code is unknown).
    const addressKind =
      baseline.entry?.address ?? (baseline.code === null ? 'none' : addressKindForUnknownCode(signal.address, site));
    if (baseline.entry === undefined && baseline.code !== null && signal.address !== null)
      reasons.push(`the code is unknown, so address ${signal.address} is read as a ${addressKind}`);
    let zoneNumber = addressKind === 'zone' ? signal.address : null;
    // CCC 000 names no zone (a panel-level event) unless the site lists a zone 0.
    if (zoneNumber === 0 && !site?.zones?.some((z) => z.number === 0)) zoneNumber = null;
    const userNumbers = [...new Set([signal.user, addressKind === 'user' ? signal.address : null])].filter(
      (n): n is number => n !== null,
    );
    const { partition, number } = otherAddress(addressKind, signal);

    const siteZone = zoneNumber === null ? undefined : site?.zones?.find((z) => z.number === zoneNumber);
    const zoneIsADoor = site?.doors?.some((d) => d.zone === zoneNumber) === true;
    const listsZones = site?.zones !== undefined && site.zones.length > 0;
    if (zoneNumber !== null && siteZone === undefined && !zoneIsADoor && listsZones)
      reasons.push(`zone ${zoneNumber} is not listed for site ${site.id}`);
    const siteUsers = userNumbers.map((number) => ({ number, listed: site?.users?.find((u) => u.number === number) }));
    for (const { number, listed } of siteUsers)
      if (listed === undefined && site?.users !== undefined && site.users.length > 0)
        reasons.push(`user ${number} is not listed for site ${site.id}`);

    // Vendor conventions (the generic base applies with no site too).
    const profile = site?.profile ?? 'generic';
    const facts = { code: signal.code, qualifier, address: signal.address, users: userNumbers };
    for (const { profile: origin, rule } of profileRules(profile))
      if (ruleMatches(rule, facts)) escalate(rule.category, `${origin} profile: ${rule.reason}`);

    // Typed zones: the site knows what the device is for.
    const zoneCategory = siteZone === undefined ? undefined : ZONE_TYPE_CATEGORY[siteZone.type];
    if (siteZone !== undefined && zoneCategory !== undefined) {
      const device = `${zoneLabel(siteZone)} is ${deviceLabel(siteZone.type)}`;
      if (category === 'unrecognized' && DURESS_DEVICE_TYPES.has(siteZone.type))
        escalate(zoneCategory, `unknown code on a duress device: ${device}`);
      // A restore takes the zone's category too: the restore of a hold-up is as covert as the hold-up (a local
      // output told "zone 5 restored" learns the teller button was pressed).
      else if (isZoneAlarm(signal.code, category))
        escalate(zoneCategory, `${qualifier === 'restore' ? 'restore of an alarm' : 'alarm'} on ${zoneLabel(siteZone)}, ${deviceLabel(siteZone.type)}`);
      else reasons.push(`${device}; this ${category} event keeps its category`);
    }

    // Duress users (Paradox-style duress codes, dedicated duress users).
    for (const { number, listed } of siteUsers)
      if (listed?.duress === true)
        escalate('duress', `user ${number} "${listed.name}" is a duress user: every event by this user is duress`);

    // Doors: codes of kind door (CID 124/125, SIA DG/DD/DF…) name the access point in the address; access-control signals name it directly.
    let door: Classification['door'];
    let siteDoor: SiteDoor | undefined;
    if (signal.access?.door !== undefined) {
      const doorId = signal.access.door;
      siteDoor = site?.doors?.find((d) => d.id === doorId);
      const { credential, holder, doorName } = signal.access;
      door = doorContext(siteDoor, { id: doorId, name: doorName, credential, holder });
    } else if (addressKind === 'door' && signal.address !== null) {
      const point = signal.address;
      siteDoor = site?.doors?.find((d) => d.zone === point);
      door = doorContext(siteDoor, { id: String(point) });
    }
    if (door !== undefined && siteDoor === undefined && site?.doors !== undefined && site.doors.length > 0)
      reasons.push(`door ${door.id} is not listed for site ${site.id}`);
    if (siteDoor?.duress === true && category === 'unrecognized')
      escalate('duress', `unknown code on a duress device: door ${siteDoor.id} "${siteDoor.name}" takes duress PINs`);
    // An unknown code's number was read as one device, but the site may list another duress device under it: the
    // signal may be its call for help.
    const unknownNumber = baseline.entry === undefined && category === 'unrecognized' ? signal.address : null;
    if (unknownNumber !== null && site !== undefined) {
      const duressDoor = site.doors?.find((d) => d.zone === unknownNumber && d.duress === true);
      const duressUser = site.users?.find((u) => u.number === unknownNumber && u.duress === true);
      if (duressDoor !== undefined) escalate('duress', `unknown code on point ${unknownNumber}, the point of door ${duressDoor.id} "${duressDoor.name}", which takes duress PINs`);
      else if (duressUser !== undefined) escalate('duress', `unknown code with number ${unknownNumber}, also duress user ${unknownNumber} "${duressUser.name}"`);
    }
    // A controller's own words for a call for help label it as its panel code would (CID 121/122/120).
    const accessEvent = signal.access?.eventType;
    const namedAlarm = accessEvent === undefined ? null : alarmNamedIn(accessEvent);
    if (namedAlarm !== null) escalate(namedAlarm, `the access controller reports "${accessEvent}"`);

    const duress = DURESS_CATEGORIES.has(category);
    const primaryUser = siteUsers[0];
    return {
      category,
      duress,
      silent: baseline.entry?.silent === true || duress,
      covert: baseline.entry?.covert === true,
      qualifier,
      code: baseline.code,
      partition: partition === null ? null : numbered(partition),
      zone: zoneNumber === null ? null : siteZone === undefined ? numbered(zoneNumber) : zoneContext(siteZone),
      user: primaryUser === undefined ? null : primaryUser.listed === undefined ? numbered(primaryUser.number) : userContext(primaryUser.listed),
      door,
      number,
      // Test windows (a later stage) set this; a test code alone is category `test`.
      test: false,
      reasons,
      site: site === undefined ? undefined : siteContext(site),
    };
  };
}

/*
 * The partition, zone, user and site objects of a classification are frozen and shared: one per number (below a
 * bound, against a sender making up numbers) and one per configured zone, user and site. Every frame needs them,
 * and none is changed after the event is built.
 */
const SHARED_NUMBERS = 10_000;
const numberedObjects = new Array<{ readonly number: number } | undefined>(SHARED_NUMBERS);

function numbered(number: number): { readonly number: number } {
  if (number >= SHARED_NUMBERS || !Number.isInteger(number) || number < 0) return { number };
  return (numberedObjects[number] ??= Object.freeze({ number }));
}

const zoneContexts = new WeakMap<SiteZone, NonNullable<Classification['zone']>>();

function zoneContext(zone: SiteZone): NonNullable<Classification['zone']> {
  let context = zoneContexts.get(zone);
  if (context === undefined) {
    const { number, name, type, location, holder } = zone;
    context = Object.freeze({ number, name, type, ...(location === undefined ? {} : { location }), ...(holder === undefined ? {} : { holder }) });
    zoneContexts.set(zone, context);
  }
  return context;
}

/**
 * The door as events name it, however it was reported (access point id or panel point): the site's door config
 * (id, name, location) wins over what the signal says; who presented the credential travels with the door, as a
 * responder needs both.
 */
function doorContext(
  siteDoor: SiteDoor | undefined,
  reported: { id: string; name?: string | undefined; credential?: string | undefined; holder?: string | undefined },
): NonNullable<Classification['door']> {
  const name = siteDoor?.name ?? reported.name;
  const location = siteDoor?.location;
  const { credential, holder } = reported;
  return {
    id: siteDoor?.id ?? reported.id,
    ...(name === undefined ? {} : { name }),
    ...(location === undefined ? {} : { location }),
    ...(credential === undefined ? {} : { credential }),
    ...(holder === undefined ? {} : { holder }),
  };
}

const userContexts = new WeakMap<SiteUser, NonNullable<Classification['user']>>();

function userContext(user: SiteUser): NonNullable<Classification['user']> {
  let context = userContexts.get(user);
  if (context === undefined) userContexts.set(user, (context = Object.freeze({ number: user.number, name: user.name })));
  return context;
}

const siteContexts = new WeakMap<Site, NonNullable<Classification['site']>>();

/** Responder context: only the fields the site configures. */
export function siteContext(site: Site): NonNullable<Classification['site']> {
  let context = siteContexts.get(site);
  if (context === undefined) {
    const { id, name, address, response } = site;
    context = Object.freeze({
      id,
      ...(name === undefined ? {} : { name }),
      ...(address === undefined ? {} : { address }),
      ...(response === undefined ? {} : { response }),
    });
    siteContexts.set(site, context);
  }
  return context;
}
