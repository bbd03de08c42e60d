import { existsSync } from 'node:fs';
import path from 'node:path';
import { DeviceDirectory } from '../../../src/assurance/devices.js';
import { formatDuration } from '../../../src/settings/duration.js';
import { DeviceLedger, filterDevices, type DeviceFilter, type DeviceStatus, type PanelTestStatus } from '../../../src/assurance/ledger.js';
import { ASSURANCE_FILE_NAME, AssuranceStore } from '../../../src/assurance/store.js';
import { systemClock } from '../../../src/ports.js';
import type { Settings } from '../../../src/settings/settings.js';
import { gatewaySettingsOrExit } from '../gateway-data-dir.js';
import { terminalText } from '../../system/terminal-text.js';

export interface DevicesOptions {
  config: string;
  json?: boolean;
  site?: string;
  overdue?: boolean;
  neverTested?: boolean;
}

export interface DeviceReport {
  devices: DeviceStatus[];
  panels: PanelTestStatus[];
}

/**
 * The configured duress devices merged with the ledger the gateway persisted in dataDir. The store is opened
 * read-only, so this works while the gateway runs; with no store yet every device is listed as never tested.
 */
export function readDeviceReport(settings: Settings, now: number, filter: DeviceFilter = {}): DeviceReport {
  return readAssuranceStore(settings, (store) => {
    const ledger = new DeviceLedger(store, new DeviceDirectory(() => settings.sites));
    return { devices: filterDevices(ledger.list(now), filter), panels: ledger.panelTests() };
  });
}

/** Runs `read` on the gateway's assurance store opened read-only (an empty one until the gateway creates it). */
export function readAssuranceStore<T>(settings: Settings, read: (store: AssuranceStore) => T): T {
  const file = path.join(settings.dataDir, ASSURANCE_FILE_NAME);
  const store = existsSync(file) ? AssuranceStore.openReadOnly(file) : AssuranceStore.open(':memory:');
  try {
    return read(store);
  } finally {
    store.close();
  }
}

function when(iso: string | null): string {
  return iso === null ? '-' : `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;
}

function stateOf(device: DeviceStatus): string {
  if (device.overdue) return device.neverTested ? 'OVERDUE (never tested)' : 'OVERDUE';
  if (device.neverTested) return 'never tested';
  return device.dueAt === null ? 'ok (no schedule)' : `ok, due ${when(device.dueAt)}`;
}

/** The report as aligned text columns, a summary line and the panels' own test reports. */
export function renderDeviceTable(report: DeviceReport): string[] {
  const header = ['SITE', 'DEVICE', 'NAME', 'LAST TESTED', 'LAST USED', 'TESTS', 'EVERY', 'STATE'];
  const rows = report.devices.map((d) => [
    d.site,
    d.device,
    d.name,
    when(d.lastTestedAt),
    when(d.lastActivatedAt),
    String(d.testCount),
    d.testEvery === null ? '-' : formatDuration(d.testEvery),
    stateOf(d),
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  const overdue = report.devices.filter((d) => d.overdue).length;
  const neverTested = report.devices.filter((d) => d.neverTested).length;
  return [
    line(header),
    ...rows.map(line),
    '',
    `${report.devices.length} duress device(s): ${overdue} overdue, ${neverTested} never tested`,
    ...report.panels.map((p) => `panel test reports from ${p.site === null ? `account ${p.account}` : `site ${p.site}`}: ${p.testCount}, last ${when(p.lastTestedAt)}`),
  ];
}

/** What `panelbridge devices` does. */
export function listDevices(options: DevicesOptions): void {
  const settings = gatewaySettingsOrExit(options.config);
  if (settings === undefined) return;
  const report = readDeviceReport(settings, systemClock.now(), {
    ...(options.site === undefined ? {} : { site: options.site }),
    overdue: options.overdue === true,
    neverTested: options.neverTested === true,
  });
  const lines = options.json === true ? JSON.stringify(report, null, 2).split('\n') : renderDeviceTable(report);
  // Panel test reports name the account a panel sent.
  process.stdout.write(lines.map(terminalText).join('\n') + '\n');
}
