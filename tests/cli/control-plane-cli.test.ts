import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { connectAsync } from 'mqtt';
import { freePort, MessageLog } from '../helpers/broker.js';
import { GatewayProcess, runCli as cli, tempDir } from '../helpers/gateway-process.js';
import { panelFrame, parseAnswer, TcpPanel } from '../helpers/panel.js';

/** `npm start` on one box: the example's shape, no token configured by hand; the CLI finds the gateway's own token. */
describe('one box, no token configured by hand', () => {
  let dir: string;
  let config: string;
  let gateway: GatewayProcess;
  let apiPort: number;
  let dc09Port: number;
  let brokerPort: number;

  beforeAll(async () => {
    dir = tempDir('one-box');
    [apiPort, dc09Port, brokerPort] = [await freePort(), await freePort(), await freePort()];
    config = path.join(dir, 'panelbridge.yaml');
    writeFileSync(
      config,
      stringify({
        dataDir: './var',
        api: { host: '127.0.0.1', port: apiPort },
        inputs: [{ type: 'dc09', name: 'ip-receiver', host: '127.0.0.1', port: dc09Port, accounts: [{ account: '1234' }] }],
        outputs: [
          { type: 'mqtt', name: 'broker', url: 'embedded', embeddedPort: brokerPort, topicPrefix: 'panelbridge', audience: 'central' },
          { type: 'stdout', name: 'console' },
        ],
        sites: [
          {
            id: 'branch-12',
            accounts: ['1234'],
            zones: [{ number: 5, name: 'Teller 3 hold-up button', type: 'holdup', testEvery: '1d' }],
          },
        ],
      }),
      { mode: 0o600 },
    );
    gateway = GatewayProcess.spawn(config, [], dir);
    await gateway.ready;
  });

  afterAll(async () => {
    gateway?.kill('SIGTERM');
    await gateway?.exited;
  });

  it('creates an admin token in dataDir/api-token, readable by its owner only', () => {
    const file = path.join(dir, 'var', 'api-token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toMatch(/^pbt_[A-Za-z0-9_-]{43}\n$/);
  });

  it('runs `panelbridge test start` with --config, and refuses it without a token', async () => {
    const started = await cli(['test', 'start', '--site', 'branch-12', '--minutes', '30', '--note', 'walk test', '--config', config], dir);
    expect(started).toMatchObject({ code: 0, stdout: expect.stringMatching(/^test window \S+ open for site branch-12 until /) });
    const id = /test window (\S+) open/.exec(started.stdout)![1]!;
    // The README's form with the default dataDir: run from the gateway's working directory.
    expect((await cli(['test', 'list', '--api', `http://127.0.0.1:${apiPort}`], dir)).stdout).toContain(`test window ${id} for site branch-12`);
    const elsewhere = await cli(['test', 'start', '--site', 'branch-12', '--minutes', '30', '--api', `http://127.0.0.1:${apiPort}`], tempDir('elsewhere'));
    expect(elsewhere.code).toBe(77);
    expect(elsewhere.stderr).toMatch(/^error UNAUTHORIZED: .*--config/);
    // A site the gateway does not have is a usage error, as it is for `report`.
    expect(await cli(['test', 'start', '--site', 'nowhere', '--minutes', '30', '--config', config], dir)).toMatchObject({ code: 64, stderr: expect.stringMatching(/^error SITE_NOT_FOUND: /) });
    expect((await cli(['test', 'stop', 'no-such-window', '--config', config], dir)).code).toBe(64);
    expect((await cli(['test', 'stop', id, '--config', config], dir)).code).toBe(0);
  });

  it('lists and acknowledges incidents through the API, under the token\'s name', async () => {
    expect((await cli(['incidents', 'list', '--config', config], dir)).stdout).toBe('no open incidents\n');
    const panel = await TcpPanel.connect(dc09Port);
    expect(parseAnswer((await panel.send(panelFrame({ token: 'ADM-CID', seq: '0001', account: '1234', data: '#1234|1122 01 005' })))!).token).toBe('ACK');
    panel.close();
    let incidents: Array<{ id: string; category: string }> = [];
    for (let i = 0; i < 50 && incidents.length === 0; i++) {
      incidents = JSON.parse((await cli(['incidents', 'list', '--json', '--config', config], dir)).stdout);
      if (incidents.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(incidents).toEqual([expect.objectContaining({ category: 'holdup' })]);
    const acked = await cli(['incidents', 'ack', incidents[0]!.id, '--note', 'police attended', '--config', config], dir);
    expect(acked).toMatchObject({ code: 0, stdout: expect.stringMatching(/holdup at branch-12.*acknowledged .* by admin \(police attended\)/) });
    expect((await cli(['incidents', 'ack', incidents[0]!.id, '--config', config], dir))).toMatchObject({ code: 1, stderr: expect.stringMatching(/ALREADY_ACKNOWLEDGED/) });
    expect((await cli(['incidents', 'list', '--all', '--config', config], dir)).stdout).toMatch(/acknowledged .* by admin/);
  });

  it('creates tokens with a role, stored hashed, taken by the running gateway', async () => {
    const created = await cli(['token', 'create', '--role', 'viewer', '--name', 'wallboard', '--config', config], dir);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^pbt_/);
    expect(readFileSync(path.join(dir, 'var', 'api-tokens.json'), 'utf8')).not.toContain(token);
    const auth = { authorization: `Bearer ${token}` };
    expect((await fetch(`http://127.0.0.1:${apiPort}/incidents`, { headers: auth })).status).toBe(200);
    const post = await fetch(`http://127.0.0.1:${apiPort}/test-windows`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ site: 'branch-12', minutes: 5 }),
    });
    expect(post.status).toBe(403);
    // The gateway chained its creation before it took it: the CLI does not write the audit log the gateway appends to.
    const shown = (await cli(['audit', 'show', '--config', config], dir)).stdout;
    expect(shown).toMatch(/token-created {2}by gateway \(system, gateway\) {2}name=wallboard role=viewer createdAt=\S+ foundIn=api-tokens.json fingerprint=[0-9a-f]{16}\n/);
    expect((await cli(['token', 'create', '--role', 'superuser', '--name', 'x', '--config', config], dir)).code).not.toBe(0);
    // Without --config, in the gateway's directory: the default dataDir.
    const second = (await cli(['token', 'create', '--role', 'operator', '--name', 'desk'], dir)).stdout.trim();
    expect((await fetch(`http://127.0.0.1:${apiPort}/incidents`, { headers: { authorization: `Bearer ${second}` } })).status).toBe(200);
  });

  it('verifies the audit chain, lists it, and names the first record an edit broke', async () => {
    const verified = await cli(['audit', 'verify', '--config', config], dir);
    expect(verified).toMatchObject({ code: 0, stdout: expect.stringMatching(/\d+ record\(s\), chain intact/) });
    expect((await cli(['audit', 'verify'], dir)).code).toBe(0);
    const shown = (await cli(['audit', 'show', '--config', config], dir)).stdout;
    expect(shown).toMatch(/test-window-opened {2}by admin \(admin, api\) .*note=walk test/);
    expect(shown).toMatch(/duress-stored {2}by gateway/);
    expect(shown).toMatch(/incident-acknowledged {2}by admin \(admin, api\) .*note=police attended/);

    // Evidence is edited on a copy of the data directory, as an investigator would.
    const copy = tempDir('audit-copy');
    const file = path.join(dir, 'var', 'audit.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n');
    const index = lines.findIndex((l) => l.includes('incident-acknowledged'));
    lines[index] = lines[index]!.replace('police attended', 'false alarm');
    writeFileSync(path.join(copy, 'audit.jsonl'), lines.join('\n'));
    const copyConfig = path.join(copy, 'panelbridge.yaml');
    writeFileSync(copyConfig, stringify({ dataDir: copy, inputs: [], outputs: [{ type: 'stdout', name: 'console' }] }));
    const broken = await cli(['audit', 'verify', '--config', copyConfig]);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain(`chain broken at line ${index + 1} (record seq ${index + 1}): its content does not match its hash (edited)`);
  });

  // The embedded broker listens on loopback and carries the central output: any other account on the box (or a
  // compromised service) that could subscribe would read every duress as it happens.
  it("keeps the embedded broker's events from a local user without the password in dataDir/mqtt-password", async () => {
    const broker = `mqtt://127.0.0.1:${brokerPort}`;
    await expect(connectAsync(broker, { reconnectPeriod: 0 })).rejects.toThrow(/Not authorized/i);
    await expect(connectAsync(broker, { reconnectPeriod: 0, username: 'panelbridge', password: 'a-guess' })).rejects.toThrow(/Not authorized/i);
    const file = path.join(dir, 'var', 'mqtt-password');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const watcher = await MessageLog.subscribe(broker, 'panelbridge/events/#', { username: 'panelbridge', password: readFileSync(file, 'utf8').trim() });
    try {
      const panel = await TcpPanel.connect(dc09Port);
      expect(parseAnswer((await panel.send(panelFrame({ token: 'ADM-CID', seq: '0002', account: '1234', data: '#1234|1122 01 005' })))!).token).toBe('ACK');
      panel.close();
      await watcher.waitFor((m) => m.payload.includes('"category":"holdup"'));
    } finally {
      await watcher.close();
    }
  });
});

describe('configuration refused or warned about', () => {
  it('refuses to run an API beyond loopback without tokens or client certificates (exit 78)', async () => {
    const dir = tempDir('exposed');
    const file = path.join(dir, 'panelbridge.yaml');
    writeFileSync(file, stringify({ dataDir: `${dir}/var`, api: { host: '0.0.0.0', port: await freePort() }, inputs: [], outputs: [{ type: 'stdout', name: 'c' }] }));
    const ran = await cli(['run', '--config', file]);
    expect(ran.code).toBe(78);
    expect(ran.stderr).toMatch(/^error api\.host: the API listens on 0\.0\.0\.0, beyond this machine, without tokens or client certificates/);
    expect(existsSync(path.join(dir, 'var', 'api-token'))).toBe(false);
    expect((await cli(['check', '--config', file])).code).toBe(78);
  });

  it('reports an open access-xml input as an error, and secrets in URLs, inline tokens and readable token files as warnings', async () => {
    const dir = tempDir('check-exposure');
    const tokenFile = path.join(dir, 'ops.token');
    writeFileSync(tokenFile, 'a-token-of-sufficient-length\n');
    chmodSync(tokenFile, 0o644);
    const file = path.join(dir, 'panelbridge.yaml');
    const settings = {
      api: {
        host: '127.0.0.1',
        port: 8780,
        tokens: [
          { name: 'ops', role: 'operator', tokenFile },
          { name: 'inline', role: 'viewer', token: 'inline-token-0123456789' },
          { name: 'missing', role: 'viewer', tokenEnv: 'PB_TEST_TOKEN_NOT_SET' },
        ],
      },
      inputs: [{ type: 'access-xml', name: 'doors', host: '0.0.0.0', port: 8090 }],
      outputs: [{ type: 'mqtt', name: 'cms', url: 'mqtt://user:hunter2@broker.example:1883' }],
    };
    writeFileSync(file, stringify(settings), { mode: 0o600 });
    const checked = await cli(['check', '--config', file]);
    expect(checked.code).toBe(78);
    expect(checked.stdout).toContain('error inputs[0].host: access-xml input listens on 0.0.0.0 without secret, secretFile or tls.requestCert');
    expect(checked.stdout).toContain('warning outputs[0].url: credentials inside the URL');
    expect(checked.stdout).toContain('warning api.tokens[1].token: token "inline" is inline in the configuration');
    expect(checked.stdout).toContain(`warning api.tokens[0].tokenFile: ${tokenFile} is readable by every user`);
    expect(checked.stdout).toContain('error api.tokens[2]: token "missing": environment variable PB_TEST_TOKEN_NOT_SET is not set');
    expect(checked.stdout).not.toContain('hunter2');

    writeFileSync(file, stringify({ ...settings, inputs: [{ ...settings.inputs[0], secretFile: tokenFile }] }), { mode: 0o600 });
    expect((await cli(['check', '--config', file])).stdout).not.toContain('error inputs[0].host');
  });
});
