import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';

/**
 * The service layout (README "Install as a service"): the configuration in /etc/panelbridge, the unit's
 * WorkingDirectory=/var/lib/panelbridge, and admin commands typed with `--config FILE` from wherever the operator is.
 * loadConfigFile resolves a relative dataDir against the *caller's* working directory, so with `dataDir: ./var` those
 * commands used to read and write another, empty directory and say nothing: `audit verify` reported an intact chain
 * of 0 records, `devices` showed a hold-up button just used as never used, `token create` stored a token the gateway
 * never reads. The installed configuration now names the directory absolutely, and the commands refuse (66) a
 * dataDir that holds no gateway state.
 */
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const UNIT = readFileSync(new URL('../../systemd/panelbridge.service', import.meta.url), 'utf8');
const unitValue = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(UNIT)?.[1];

const root = tempDir('svc-layout');
const etc = path.join(root, 'etc');
const stateDirectory = path.join(root, 'var-lib-panelbridge'); // the unit's WorkingDirectory / StateDirectory
const adminHome = path.join(root, 'root-home'); // where `sudo panelbridge …` is typed
for (const d of [etc, stateDirectory, adminHome]) mkdirSync(d, { recursive: true });
const port = 12714;
const configWith = (dataDir: string, file: string) => {
  const dir = path.join(etc, file);
  mkdirSync(dir, { recursive: true });
  return writeConfig(dir, {
    dataDir,
    inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port, accounts: [{ account: '1234' }] }],
    outputs: [{ type: 'stdout', name: 'console' }],
    sites: [{ id: 'branch-12', name: 'Branch 12', accounts: ['1234'], zones: [{ number: 5, name: 'Teller hold-up', type: 'holdup', testEvery: '1d' }] }],
  });
};
const absolute = configWith(path.join(stateDirectory, 'var'), 'absolute');
const relative = configWith('./var', 'relative');
const cli = (args: string[], cwd: string) => spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8' });
const USED = /zone-5 .* \d{4}-\d\d-\d\d \d\d:\d\dZ/;

let gateway: GatewayProcess | undefined;
afterAll(async () => {
  gateway?.kill('SIGTERM');
  await gateway?.exited;
});

describe('admin commands with --config against a gateway run by the unit', () => {
  it('the README installs an absolute dataDir: the directory the unit’s default ./var was, so upgrades keep the outbox', () => {
    const installed = /^sudo sed -i 's\|\^dataDir: \.\/var\|dataDir: (\S+)\|' \/etc\/panelbridge\/panelbridge\.yaml$/m.exec(README);
    expect(installed?.[1]).toBe(path.posix.resolve(unitValue('WorkingDirectory')!, './var'));
    expect(installed?.[1]?.startsWith(`/var/lib/${unitValue('StateDirectory')}/`)).toBe(true);
  });

  it('see the running gateway’s dataDir from any directory when it is absolute, and refuse a relative one that points elsewhere', async () => {
    gateway = GatewayProcess.spawn(absolute, [], stateDirectory);
    await gateway.ready;
    const sent = cli(['simulate', '--to', `tcp://127.0.0.1:${port}`, '--account', '1234', '--event', 'holdup', '--zone', '5'], adminHome);
    expect(sent.status, sent.stdout + sent.stderr).toBe(0);
    gateway.kill('SIGTERM');
    await gateway.exited;
    gateway = undefined;
    const realAudit = path.join(stateDirectory, 'var', 'audit.jsonl');
    expect(existsSync(realAudit)).toBe(true);

    // The absolute dataDir: right from the operator's shell.
    expect(cli(['audit', 'verify', '--config', absolute], adminHome)).toMatchObject({ status: 0, stdout: expect.stringContaining(`${path.dirname(realAudit)} (audit.jsonl): `) });
    expect(cli(['devices', '--config', absolute], adminHome).stdout).toMatch(USED);
    // The relative one is right from the service's own directory …
    expect(cli(['devices', '--config', relative], stateDirectory).stdout).toMatch(USED);

    // … and refused, not answered from an empty directory, from the operator's shell.
    const elsewhere = path.join(adminHome, 'var');
    const verify = cli(['audit', 'verify', '--config', relative], adminHome);
    expect(verify.status).toBe(66);
    expect(verify.stdout).not.toMatch(/chain intact/);
    expect(verify.stderr).toContain(`error dataDir: ${elsewhere} does not exist`);
    expect(verify.stderr).toMatch(/relative, it follows the working directory/);
    const devices = cli(['devices', '--config', relative], adminHome);
    expect(devices).toMatchObject({ status: 66, stdout: '' });
    const report = cli(['report', '--site', 'branch-12', '--config', relative], adminHome);
    expect(report).toMatchObject({ status: 66, stdout: '' });
    const token = cli(['token', 'create', '--role', 'viewer', '--name', 'grafana', '--config', relative], adminHome);
    expect(token).toMatchObject({ status: 66, stdout: '' });
    expect(existsSync(elsewhere)).toBe(false);

    // An empty directory that exists is no gateway's either.
    mkdirSync(elsewhere);
    const empty = cli(['token', 'create', '--role', 'viewer', '--name', 'grafana', '--config', relative], adminHome);
    expect(empty.status).toBe(66);
    expect(empty.stderr).toContain(`${elsewhere} holds no gateway.lock or outbox.sqlite`);
    expect(existsSync(path.join(elsewhere, 'api-tokens.json'))).toBe(false);
  }, 60_000);
});
