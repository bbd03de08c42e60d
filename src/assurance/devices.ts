import { DURESS_CATEGORIES, type Category, type NormalizedEvent } from '../model/event.js';
import { DURESS_ZONE_TYPES, type Site, type ZoneType } from '../settings/sites.js';

export type DeviceKind = 'zone' | 'user' | 'door';

/** A configured duress device: a hold-up, panic or duress zone, a duress user, or a door that takes duress PINs. */
export interface DuressDevice {
  site: string;
  /** `zone-5`, `user-12`, `door-lobby-2`: unique within its site, and the device's MQTT topic segment. */
  device: string;
  kind: DeviceKind;
  /** The zone or user number; for a door, the zone number a panel reports for it (null when none). */
  number: number | null;
  name: string;
  /** Zones only: holdup, panic or duress. */
  type?: ZoneType;
  /** Doors only: the access point id. */
  door?: string;
  /** How often it must be tested (ms), or null when the site sets no schedule. */
  testEvery: number | null;
  /** Where it is (zones, doors). */
  location?: string;
  /** Who carries it (pendants). */
  holder?: string;
  /** What the person should do after pressing. */
  guidance?: string;
}

/** The optional people-facing fields of a configured zone, user or door, only those that are set. */
function peopleFields(item: { location?: string; holder?: string; guidance?: string }): Pick<DuressDevice, 'location' | 'holder' | 'guidance'> {
  return {
    ...(item.location === undefined ? {} : { location: item.location }),
    ...(item.holder === undefined ? {} : { holder: item.holder }),
    ...(item.guidance === undefined ? {} : { guidance: item.guidance }),
  };
}

/** A device as people know it: its name, kind, where it is and who carries it (null when not configured). */
export function deviceForPeople(device: DuressDevice) {
  return {
    device: device.device,
    kind: device.kind,
    name: device.name,
    location: device.location ?? null,
    holder: device.holder ?? null,
  };
}

/** The device's short name, as used in test-window device lists and MQTT topics. */
export function deviceKey(kind: DeviceKind, id: number | string): string {
  return `${kind}-${id}`;
}

export function duressDevicesOf(site: Site): DuressDevice[] {
  const devices: DuressDevice[] = [];
  for (const zone of site.zones ?? [])
    if (DURESS_ZONE_TYPES.has(zone.type))
      devices.push({
        site: site.id,
        device: deviceKey('zone', zone.number),
        kind: 'zone',
        number: zone.number,
        name: zone.name,
        type: zone.type,
        testEvery: zone.testEvery ?? null,
        ...peopleFields(zone),
      });
  for (const user of site.users ?? [])
    if (user.duress === true)
      devices.push({
        site: site.id,
        device: deviceKey('user', user.number),
        kind: 'user',
        number: user.number,
        name: user.name,
        testEvery: user.testEvery ?? null,
        ...peopleFields(user),
      });
  for (const door of site.doors ?? [])
    if (door.duress === true)
      devices.push({
        site: site.id,
        device: deviceKey('door', door.id),
        kind: 'door',
        number: door.zone ?? null,
        name: door.name,
        door: door.id,
        testEvery: door.testEvery ?? null,
        ...peopleFields(door),
      });
  return devices;
}

/**
 * Test reports about the panel or its communicator, not about a device, even when they carry a zone number:
 * Contact ID 601 manual, 602 periodic, 608 periodic with trouble; SIA RP automatic, RX manual, TX test report
 * (protocols.md §1.5 6xx table and the SIA code table).
 */
const PANEL_TEST_CODES: ReadonlySet<string> = new Set([
  'contact-id:601', 'contact-id:602', 'contact-id:608', 'sia:RP', 'sia:RX', 'sia:TX',
]);

/**
 * Walk-test reports of one point: Contact ID 611 point tested OK, 613 intrusion zone walk tested, 615 panic zone
 * walk tested ("update its last tested time", protocols.md §1.5); SIA TP walk test point.
 */
const POINT_TEST_CODES: ReadonlySet<string> = new Set(['contact-id:611', 'contact-id:613', 'contact-id:615', 'sia:TP']);

/** Categories of a device doing what it is for: calling for help. */
const CALL_FOR_HELP: ReadonlySet<Category> = new Set(['duress', 'holdup', 'panic']);

/** The event's code as `scheme:value`; asked only of test events (it builds a string, and every event is asked). */
function testCodeKey(event: NormalizedEvent): string | undefined {
  return event.category !== 'test' || event.code === null ? undefined : `${event.code.scheme}:${event.code.value}`;
}

export function isPanelTest(event: NormalizedEvent): boolean {
  const key = testCodeKey(event);
  return key !== undefined && PANEL_TEST_CODES.has(key);
}

export function isPointTest(event: NormalizedEvent): boolean {
  const key = testCodeKey(event);
  return key !== undefined && POINT_TEST_CODES.has(key);
}

/** The event proves its devices work: a new call for help (real or test) or a walk-test report of the point. */
export function provesDevice(event: NormalizedEvent): boolean {
  return event.qualifier === 'new' && (CALL_FOR_HELP.has(event.category) || isPointTest(event));
}

/** A duress or hold-up, by category or by label (both checked, as the dispatcher does). */
export function isDuress(event: NormalizedEvent): boolean {
  return event.duress || DURESS_CATEGORIES.has(event.category);
}

/**
 * Raised by the gateway itself (unknown account, lost link, test window closed …) rather than sent by a panel:
 * never panel traffic, never a test.
 */
export function isGatewayRaised(event: NormalizedEvent): boolean {
  return event.code === null && event.category === 'supervisory';
}

const NONE: readonly DuressDevice[] = Object.freeze([]);

/** The configured duress devices of the current sites, indexed for event lookups. */
export class DeviceDirectory {
  private indexedSites: readonly Site[] | undefined;
  private bySite = new Map<string, { site: Site; devices: DuressDevice[] }>();

  constructor(private readonly sites: () => readonly Site[]) {}

  all(): DuressDevice[] {
    return [...this.index().values()].flatMap((entry) => entry.devices);
  }

  site(id: string): Site | undefined {
    return this.index().get(id)?.site;
  }

  /** The site with this id, else the one site whose name is exactly this (an installer types what the sign says). */
  siteByIdOrName(idOrName: string): Site | undefined {
    const byId = this.site(idOrName);
    if (byId !== undefined) return byId;
    const named = [...this.index().values()].filter((entry) => entry.site.name === idOrName);
    return named.length === 1 ? named[0]!.site : undefined;
  }

  devicesOf(siteId: string): DuressDevice[] {
    return this.index().get(siteId)?.devices ?? [];
  }

  /** The configured duress devices the event names by zone, user or door; none for a panel-level test report. */
  namedBy(event: NormalizedEvent): readonly DuressDevice[] {
    // Most events come from no site: one shared empty answer rather than an array each.
    if (event.site == null || isPanelTest(event)) return NONE;
    const { zone, user, door } = event;
    return this.devicesOf(event.site.id).filter(
      (d) =>
        (d.kind === 'zone' && zone !== null && d.number === zone.number) ||
        (d.kind === 'user' && user !== null && d.number === user.number) ||
        (d.kind === 'door' && door != null && d.door === door.id),
    );
  }

  private index(): Map<string, { site: Site; devices: DuressDevice[] }> {
    const sites = this.sites();
    // Sites are replaced as a whole on reload, so the array's identity says whether the index is current.
    if (sites !== this.indexedSites) {
      this.bySite = new Map(sites.map((site) => [site.id, { site, devices: duressDevicesOf(site) }]));
      this.indexedSites = sites;
    }
    return this.bySite;
  }
}
