import { createHash } from 'node:crypto';
import type { Site } from '../settings/sites.js';
import { duressDevicesOf } from './devices.js';

/**
 * What the assurance store keeps of each site as it was last loaded (at a start or a reload): a digest of its whole
 * configuration, its accounts (to tell central of a site since removed) and its duress devices by label. Whoever
 * may edit the configuration file can make a teller's hold-up button an ordinary zone; comparing with this tells
 * central and the audit log, also of an edit made while the gateway was stopped.
 */
export interface SiteConfigRecord {
  site: string;
  /** SHA-256 (hex) of the site's parsed configuration. */
  digest: string;
  accounts: string[];
  duressDevices: ConfiguredDevice[];
}

/** A duress device as configured: a zone's type decides whether its press opens an incident (panic opens none). */
export interface ConfiguredDevice {
  device: string;
  name: string;
  type?: string;
}

export interface SiteDevice extends ConfiguredDevice {
  site: string;
}

export interface SitesChange {
  added: string[];
  removed: string[];
  /** Sites configured before and now whose configuration differs. */
  changed: string[];
  /** Duress devices no longer configured as they were (removed, moved to another number, made an ordinary zone or another type). */
  duressDevicesRemoved: SiteDevice[];
  duressDevicesAdded: SiteDevice[];
}

/** How a reason names a device: `zone-5 "Teller 1 hold-up button" (holdup)`. */
export function deviceLabel(device: ConfiguredDevice): string {
  return `${device.device} ${JSON.stringify(device.name)}${device.type === undefined ? '' : ` (${device.type})`}`;
}

export function siteConfigsOf(sites: readonly Site[]): SiteConfigRecord[] {
  return sites.map((site) => ({
    site: site.id,
    digest: createHash('sha256').update(JSON.stringify(site)).digest('hex'),
    accounts: [...site.accounts],
    duressDevices: duressDevicesOf(site).map(({ device, name, type }) => ({ device, name, ...(type === undefined ? {} : { type }) })),
  }));
}

/** Devices of `from` that `to` does not list as duress devices of the same id and type. */
function devicesLeaving(site: string, from: readonly ConfiguredDevice[], to: readonly ConfiguredDevice[]): SiteDevice[] {
  const kept = new Set(to.map((d) => `${d.device}\u0000${d.type}`));
  return from.filter((d) => !kept.has(`${d.device}\u0000${d.type}`)).map((d) => ({ site, ...d }));
}

export function sitesChange(before: readonly SiteConfigRecord[], after: readonly SiteConfigRecord[]): SitesChange {
  const was = new Map(before.map((record) => [record.site, record]));
  const now = new Map(after.map((record) => [record.site, record]));
  const change: SitesChange = { added: [], removed: [], changed: [], duressDevicesRemoved: [], duressDevicesAdded: [] };
  for (const record of after) {
    const earlier = was.get(record.site);
    if (earlier === undefined) change.added.push(record.site);
    else if (earlier.digest !== record.digest) change.changed.push(record.site);
    change.duressDevicesAdded.push(...devicesLeaving(record.site, record.duressDevices, earlier?.duressDevices ?? []));
  }
  for (const record of before) {
    if (!now.has(record.site)) change.removed.push(record.site);
    change.duressDevicesRemoved.push(...devicesLeaving(record.site, record.duressDevices, now.get(record.site)?.duressDevices ?? []));
  }
  return change;
}

export function changesAnything(change: SitesChange): boolean {
  return change.added.length + change.removed.length + change.changed.length > 0;
}

/** Sites (and duress devices) an audit record lists, and sites told to central one by one: a bound on both. */
export const SITES_LISTED = 1_000;

/** One digest of every site's: what the audit log keeps of the sites loaded (a record per site would be unbounded). */
export function sitesDigest(records: readonly SiteConfigRecord[]): string {
  const hash = createHash('sha256');
  for (const record of records) hash.update(`${record.site}\u0000${record.digest}\n`);
  return hash.digest('hex');
}

/** The change as an audit record keeps it: each list cut at SITES_LISTED, with how long it was. */
export function listedChange(change: SitesChange): Record<string, unknown> {
  const entries = Object.entries(change) as Array<[keyof SitesChange, unknown[]]>;
  return {
    ...Object.fromEntries(entries.map(([key, list]) => [key, list.slice(0, SITES_LISTED)])),
    counts: Object.fromEntries(entries.map(([key, list]) => [key, list.length])),
  };
}

export function devicesBySite(devices: readonly SiteDevice[]): Map<string, SiteDevice[]> {
  const bySite = new Map<string, SiteDevice[]>();
  for (const device of devices) {
    const listed = bySite.get(device.site);
    if (listed === undefined) bySite.set(device.site, [device]);
    else listed.push(device);
  }
  return bySite;
}
