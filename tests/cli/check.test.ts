import { execFile } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI, tempDir } from '../helpers/gateway-process.js';

const run = promisify(execFile);

async function cli(args: string[], env: NodeJS.ProcessEnv = process.env, nodeOptions: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...nodeOptions, CLI, ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function configFile(text: string, mode = 0o600): string {
  const file = path.join(tempDir('check'), 'panelbridge.yaml');
  writeFileSync(file, text);
  chmodSync(file, mode);
  return file;
}

const clean = `
inputs: [{ type: dc09, name: ip, port: 12000, accounts: [{ account: "1234" }] }]
outputs: [{ type: stdout, name: console }]
`;

describe('panelbridge check', () => {
  it('exits 0 on a clean configuration', async () => {
    expect((await cli(['check', '--config', configFile(clean)])).code).toBe(0);
  });

  it('exits 1 on warnings only, naming the config path', async () => {
    const file = configFile(`
inputs: [{ type: dc09, name: ip, port: 12000, accounts: [{ account: "1234", key: "0123456789ABCDEF", keyEncoding: ascii }] }]
outputs: [{ type: stdout, name: console }]
`, 0o644);
    const result = await cli(['check', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('warning inputs[0].accounts[0].key');
    expect(result.stdout).not.toContain('0123456789ABCDEF');
  });

  it('warns when the backlogLimit would hold more undelivered events than the Node heap can keep, naming the limit used instead', async () => {
    const small = await cli(['check', '--config', configFile(clean)], process.env, ['--max-old-space-size=64']);
    expect(small.code).toBe(1);
    expect(small.stdout).toMatch(/^warning backlogLimit: backlogLimit 1000000 would keep about \d+ MB .* refused \(NAK\) past \d+ undelivered events instead/m);
    expect((await cli(['check', '--config', configFile(`${clean}backlogLimit: 10000\n`)], process.env, ['--max-old-space-size=64'])).code).toBe(0);
  });

  it('warns when the environment turns certificate checks off for a central output over TLS', async () => {
    const file = configFile(`
inputs: [{ type: dc09, name: ip, port: 12000, accounts: [{ account: "1234" }] }]
outputs: [{ type: mqtt, name: cms, url: "mqtts://broker.example:8883" }]
`);
    expect((await cli(['check', '--config', file])).code).toBe(0);
    const result = await cli(['check', '--config', file], { ...process.env, NODE_TLS_REJECT_UNAUTHORIZED: '0' });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('warning (environment): NODE_TLS_REJECT_UNAUTHORIZED=0 turns certificate checks off, so the TLS links of outputs[0]');
  });

  it('exits 78 with every problem and its path on an invalid configuration', async () => {
    const result = await cli(['check', '--config', configFile('inputs: [{ type: dc09, name: ip }]\noutputs: []\nbogus: 1\n')]);
    expect(result.code).toBe(78);
    expect(result.stdout).toContain('inputs[0].port');
    expect(result.stdout).toContain('bogus');
  });

  it('exits 78 when a site with a hold-up button has an account no input accepts (a typo)', async () => {
    const result = await cli([
      'check',
      '--config',
      configFile(`
inputs: [{ type: dc09, name: ip, port: 12000, accounts: [{ account: "1234" }] }]
outputs: [{ type: stdout, name: console }]
sites: [{ id: branch, accounts: ["1243"], zones: [{ number: 5, name: Teller, type: holdup, testEvery: 1d }] }]
`),
    ]);
    expect(result.code).toBe(78);
    expect(result.stdout).toContain("error sites[0].accounts[0]: account 1243 is on no input's allowlist");
  });

  it('exits 78 when no output receives a duress: every output local, or none', async () => {
    const input = 'inputs: [{ type: dc09, name: ip, port: 12000, accounts: [{ account: "1234" }] }]';
    for (const outputs of ['[{ type: stdout, name: keypad, audience: local }]', '[]']) {
      const result = await cli(['check', '--config', configFile(`${input}\noutputs: ${outputs}\n`)]);
      expect(result.code).toBe(78);
      expect(result.stdout).toContain('error outputs: no output has audience central');
    }
  });

  it('exits 78 when a key file cannot be read', async () => {
    const result = await cli([
      'check',
      '--config',
      configFile(`
inputs: [{ type: dc09, name: ip, port: 12000, accounts: [{ account: "1234", keyFile: /nonexistent/key, keyEncoding: hex }] }]
outputs: [{ type: stdout, name: console }]
`),
    ]);
    expect(result.code).toBe(78);
    expect(result.stdout).toContain('inputs[0].accounts[0]');
  });

  it('exits 78 when a dc09 output key file holds no usable key or its keyEnv is not set', async () => {
    const keyFile = path.join(tempDir('check-arc-key'), 'arc.key');
    writeFileSync(keyFile, '0011\n', { mode: 0o600 });
    const result = await cli([
      'check',
      '--config',
      configFile(`
inputs: [{ type: dc09, name: ip, port: 12000, accounts: [{ account: "1234" }] }]
outputs:
  - { type: stdout, name: console }
  - { type: dc09, name: arc, primary: "tcp://127.0.0.1:12001", account: "9876", keyFile: ${keyFile}, keyEncoding: hex }
  - { type: dc09, name: arc2, primary: "tcp://127.0.0.1:12002", account: "9876", keyEnv: PANELBRIDGE_TEST_UNSET_KEY, keyEncoding: hex }
`),
    ]);
    expect(result.code).toBe(78);
    expect(result.stdout).toContain('error outputs[1].key: a hex key is 32, 48 or 64 hex digits');
    expect(result.stdout).toContain('error outputs[2].keyEnv: environment variable PANELBRIDGE_TEST_UNSET_KEY is not set');
    expect(result.stdout).not.toContain('0011');
  });
});

describe('panelbridge run', () => {
  it('exits 78 on a bad configuration, listing the problems', async () => {
    const result = await cli(['run', '--config', configFile('inputs: 3\n')]);
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('inputs');
    expect(result.stderr).toContain('outputs');
  });

  it('an MQTT url that is not one: check and run exit 78, naming outputs[0].url', async () => {
    const file = configFile('inputs: []\noutputs: [{ type: mqtt, name: broker, url: notaurl }]\n');
    const check = await cli(['check', '--config', file]);
    const run = await cli(['run', '--config', file]);
    expect([check.code, run.code]).toEqual([78, 78]);
    expect(check.stdout).toContain('error outputs[0].url: a broker URL is mqtt://HOST');
    expect(run.stderr).toContain('error outputs[0].url: a broker URL is mqtt://HOST');
  });

  it('a YAML syntax error: check and run name its line in one line, and print neither the AES key nor the password', async () => {
    const file = configFile(`
inputs:
  - type: dc09
    name: ip
    port: 12000
    accounts:
      - { account: "4567", key: "SECRETKEYSECRETKEYSECRETKEY01234", keyEncoding: ascii
outputs:
  - { type: mqtt, name: b, url: "mqtt://broker:1883", username: gw, password: "MQTTPASSWORD123" }
`);
    const check = await cli(['check', '--config', file]);
    const run = await cli(['run', '--config', file]);
    expect([check.code, run.code]).toEqual([78, 78]);
    expect(check.stdout).toMatch(/^error \(file\): not valid YAML \(BAD_INDENT\) at line 8, column 1: .*\n/);
    expect(run.stderr).toMatch(/^error \(file\): not valid YAML \(BAD_INDENT\) at line 8, column 1: [^\n]*\n$/);
    for (const output of [check.stdout, check.stderr, run.stdout, run.stderr]) expect(output).not.toMatch(/SECRETKEY|MQTTPASSWORD/);
  });
});
