import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../../src/assurance/audit-chain.js';
import { SITES_LISTED } from '../../../src/assurance/site-configs.js';
import { AssuranceStore } from '../../../src/assurance/store.js';
import { sitesSchema, type Site } from '../../../src/settings/sites.js';
import { cid, harness, reasonText, SITES } from '../../helpers/assurance-harness.js';

/**
 * An insider with write access to the configuration (not to dataDir) edits a site so that a duress device is an
 * ordinary one (the teller's hold-up button typed burglary) and reloads, or restarts: the change must be chained in
 * the audit log and told to central, naming the device that no longer raises a duress.
 */

/** SITES with bank-1's zone 5 (Teller 1 hold-up button) typed burglary: its presses no longer open an incident. */
const DOWNGRADED: readonly Site[] = SITES.map((site) =>
  site.id !== 'bank-1' ? site : { ...site, zones: site.zones!.map((zone) => (zone.number === 5 ? { ...zone, name: 'Teller 1 button', type: 'burglary' as const } : zone)) },
);

function sitesAudit(entries: readonly AuditEntry[]) {
  return entries.filter((entry) => entry.action === 'sites-loaded' || entry.action === 'sites-changed');
}

describe('a change of the sites', () => {
  it('on reload: chained in the audit log and published to central, naming the duress device it took away', async () => {
    const audit: AuditEntry[] = [];
    const h = harness({ audit: (entry) => void audit.push(entry) });
    await h.reloadSites(DOWNGRADED);

    const changed = sitesAudit(audit).filter((entry) => entry.action === 'sites-changed');
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatchObject({
      actor: { name: 'gateway', channel: 'gateway' },
      details: { how: 'reload', changed: ['bank-1'], added: [], removed: [], duressDevicesRemoved: [{ site: 'bank-1', device: 'zone-5' }] },
    });
    const told = h.supervisory().filter((e) => reasonText(e).includes('configuration of site bank-1 changed'));
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ account: '1234', covert: true, site: { id: 'bank-1' } });
    expect(reasonText(told[0]!)).toContain('no longer a duress device: zone-5 "Teller 1 hold-up button"');
    // What the edit does: a press of the button is now an ordinary alarm, and opens no incident.
    expect((await h.receive(cid('130', 5))).incident ?? null).toBeNull();
  });

  it('made while the gateway was stopped: found at the next start, chained and published as well', async () => {
    const store = AssuranceStore.open(':memory:');
    const first = harness({ store });
    await first.assurance.flush();
    const audit: AuditEntry[] = [];
    const restarted = harness({ store, sites: DOWNGRADED, audit: (entry) => void audit.push(entry) });
    await restarted.assurance.flush();

    expect(sitesAudit(audit)).toMatchObject([{ action: 'sites-changed', details: { how: 'start', duressDevicesRemoved: [{ site: 'bank-1', device: 'zone-5' }] } }]);
    expect(restarted.supervisory().filter((e) => reasonText(e).includes('configuration of site bank-1 changed while the gateway was stopped'))).toHaveLength(1);
  });

  it('a site removed and one added are told under their own accounts, with the duress devices they take and bring', async () => {
    const audit: AuditEntry[] = [];
    const h = harness({ audit: (entry) => void audit.push(entry) });
    const replaced = [SITES[0]!, ...sitesSchema.parse([{ id: 'shop-3', accounts: ['9999'], zones: [{ number: 2, name: 'Till button', type: 'holdup' }] }])];
    await h.reloadSites(replaced);

    expect(sitesAudit(audit).find((entry) => entry.action === 'sites-changed')).toMatchObject({
      details: {
        added: ['shop-3'],
        removed: ['shop-2'],
        changed: [],
        duressDevicesRemoved: [{ site: 'shop-2', device: 'zone-1' }],
        duressDevicesAdded: [{ site: 'shop-3', device: 'zone-2' }],
      },
    });
    const told = h.supervisory();
    expect(told.map((e) => e.account).sort()).toEqual(['5678', '9999']);
    expect(reasonText(told.find((e) => e.account === '5678')!)).toContain('site shop-2 was removed');
  });

  it('nothing changed: a reload is chained, nothing is published', async () => {
    const audit: AuditEntry[] = [];
    const h = harness({ audit: (entry) => void audit.push(entry) });
    await h.reloadSites(structuredClone(SITES));
    expect(sitesAudit(audit).map((entry) => entry.action)).toEqual(['sites-loaded', 'sites-loaded']);
    expect(sitesAudit(audit)[1]!.details).toMatchObject({ how: 'reload' });
    expect(h.supervisory()).toEqual([]);
  });

  it('a reload while the ledger cannot be written (disk full) takes the sites and tells central all the same', async () => {
    const h = harness();
    await h.assurance.flush();
    h.store.flush = () => {
      throw new Error('database or disk is full');
    };
    await h.reloadSites(DOWNGRADED);
    expect(h.supervisory().filter((e) => reasonText(e).includes('configuration of site bank-1 changed on reload'))).toHaveLength(1);
  });

  it('every one of 3,000 sites changed: the audit record and the events for central stay bounded', async () => {
    const many = (name: string) =>
      sitesSchema.parse(Array.from({ length: 3_000 }, (_, i) => ({ id: `site-${i}`, name, accounts: [`${10_000 + i}`], zones: [{ number: 1, name: 'Till button', type: 'holdup' }] })));
    const audit: AuditEntry[] = [];
    const h = harness({ sites: many('Branch'), audit: (entry) => void audit.push(entry) });
    await h.reloadSites(many('Renamed branch'));

    const changed = sitesAudit(audit).find((entry) => entry.action === 'sites-changed')!;
    expect(changed.details).toMatchObject({ sites: 3_000, counts: { changed: 3_000, added: 0, removed: 0 } });
    expect((changed.details.changed as string[]).length).toBe(SITES_LISTED);
    expect(JSON.stringify(changed).length).toBeLessThan(100_000);
    const told = h.supervisory();
    expect(told).toHaveLength(SITES_LISTED + 1);
    expect(reasonText(told.at(-1)!)).toContain('2000 more sites were added, changed or removed on reload');
  });
});
