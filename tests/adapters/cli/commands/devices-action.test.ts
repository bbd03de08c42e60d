import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { readDeviceReport, renderDeviceTable } from '../../../../adapters/cli/commands/devices-action.js';
import { apiTarget, DEFAULT_API_URL } from '../../../../adapters/cli/api-client.js';
import { AssuranceStore } from '../../../../src/assurance/store.js';
import { settingsSchema } from '../../../../src/settings/settings.js';
import { cid, DAY, FakeClock, harness, SITES } from '../../../helpers/assurance-harness.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-devices-'));
  dirs.push(dir);
  return dir;
}

function settingsFor(dataDir: string) {
  return settingsSchema.parse({
    dataDir,
    inputs: [],
    outputs: [{ type: 'stdout', name: 'out' }],
    sites: [
      {
        id: 'bank-1',
        accounts: ['1234'],
        zones: [
          { number: 5, name: 'Teller 1 hold-up button', type: 'holdup', testEvery: '7d' },
          { number: 9, name: 'Manager pendant', type: 'panic', testEvery: '30d' },
        ],
        users: [{ number: 12, name: 'Manager duress code', duress: true }],
      },
    ],
  });
}

describe('panelbridge devices', () => {
  it('reads the ledger the running gateway keeps open, merged with the configured devices', async () => {
    const dir = tempDir();
    const clock = new FakeClock();
    const gateway = harness({ clock, store: AssuranceStore.openIn(dir), sites: SITES });
    await gateway.receive(cid('615', 5)); // walk test of the hold-up button
    gateway.store.flush(); // the batched write the gateway makes a few milliseconds later
    clock.advance(31 * DAY);

    const report = readDeviceReport(settingsFor(dir), clock.now());
    expect(report.devices.map((d) => [d.device, d.testCount, d.neverTested, d.overdue])).toEqual([
      ['zone-5', 1, false, true],
      ['zone-9', 0, true, true],
      ['user-12', 0, true, false], // no schedule: never overdue
    ]);
    expect(readDeviceReport(settingsFor(dir), clock.now(), { overdue: true }).devices.map((d) => d.device)).toEqual(['zone-5', 'zone-9']);

    await gateway.receive(cid('615', 9)); // the gateway keeps writing while the reader is closed again
    gateway.store.flush();
    expect(readDeviceReport(settingsFor(dir), clock.now()).devices[1]!.testCount).toBe(1);
    gateway.store.close();
  });

  it('lists every configured device as never tested when the gateway has not written a ledger yet', () => {
    const report = readDeviceReport(settingsFor(tempDir()), Date.UTC(2024, 0, 1));
    expect(report.devices.every((d) => d.neverTested && !d.overdue && d.testCount === 0)).toBe(true);
    expect(report.devices).toHaveLength(3);
  });

  it('prints an aligned table with the state of each device and a summary', async () => {
    const clock = new FakeClock(Date.UTC(2024, 2, 1, 8, 30));
    const h = harness({ clock, sites: SITES });
    await h.receive(cid('615', 9));
    clock.advance(8 * DAY);
    const lines = renderDeviceTable(h.assurance.deviceReport());
    expect(lines[0]).toMatch(/^SITE\s+DEVICE\s+NAME\s+LAST TESTED\s+LAST USED\s+TESTS\s+EVERY\s+STATE$/);
    const zone5 = lines.find((l) => l.includes('zone-5'))!;
    const zone9 = lines.find((l) => l.includes('zone-9'))!;
    expect(zone5).toMatch(/bank-1\s+zone-5\s+Teller 1 hold-up button\s+-\s+-\s+0\s+7d\s+OVERDUE \(never tested\)$/);
    expect(zone9).toMatch(/zone-9\s+Manager pendant\s+2024-03-01 08:30Z\s+-\s+1\s+30d\s+ok, due 2024-03-31 08:30Z$/);
    expect(zone5.indexOf('7d')).toBe(zone9.indexOf('30d')); // columns line up
    expect(lines).toContain('5 duress device(s): 2 overdue, 4 never tested');
  });
});

describe('panelbridge test: where the API is', () => {
  it('uses --api, else the api section of --config (wildcard hosts through loopback), else the default', () => {
    const dir = tempDir();
    const config = (api: unknown) => {
      const file = path.join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(file, stringify({ dataDir: dir, ...(api === undefined ? {} : { api }), inputs: [], outputs: [{ type: 'stdout', name: 'out' }] }));
      return file;
    };
    const tokens = [{ name: 'ops', role: 'viewer', tokenEnv: 'PB_TEST_UNUSED' }];
    expect(apiTarget({ api: 'http://127.0.0.2:9000/' })).toMatchObject({ ok: true, url: 'http://127.0.0.2:9000' });
    expect(apiTarget({})).toMatchObject({ ok: true, url: DEFAULT_API_URL });
    expect(apiTarget({ config: config({ host: '0.0.0.0', port: 8781, tokens }) })).toMatchObject({ ok: true, url: 'http://127.0.0.1:8781' });
    expect(apiTarget({ config: config({ host: '::', port: 8782, tokens }) })).toMatchObject({ ok: true, url: 'http://[::1]:8782' });
    expect(apiTarget({ config: config(undefined) })).toMatchObject({ ok: false, exitCode: 78, lines: [expect.stringMatching(/has no api section/)] });
  });

  it("takes the token the gateway created in the configuration's dataDir, unless one is given", () => {
    const dir = tempDir();
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, stringify({ dataDir: dir, api: { port: 8783 }, inputs: [], outputs: [{ type: 'stdout', name: 'out' }] }));
    expect(apiTarget({ config: file })).toMatchObject({ ok: true, token: undefined });
    writeFileSync(path.join(dir, 'api-token'), 'pbt_created-by-the-gateway\n', { mode: 0o600 });
    expect(apiTarget({ config: file })).toMatchObject({ ok: true, url: 'http://127.0.0.1:8783', token: 'pbt_created-by-the-gateway' });
    writeFileSync(path.join(dir, 'mine'), 'pbt_mine\n');
    expect(apiTarget({ config: file, tokenFile: path.join(dir, 'mine') })).toMatchObject({ token: 'pbt_mine' });
  });
});
