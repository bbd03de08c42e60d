import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../../src/settings/settings.js';
import { lintSettings } from '../../../src/settings/lint.js';
import { decodeKey } from '../../../src/settings/keys.js';

const minimal = `
inputs:
  - { type: dc09, name: ip, port: 12000 }
outputs:
  - { type: stdout, name: console }
`;

function settingsOf(text: string) {
  const parsed = parseSettings(text);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.settings;
}

describe('configuration', () => {
  it('needs only inputs and outputs; the rest has defaults', () => {
    const settings = settingsOf(minimal);
    expect(settings.dataDir).toBe('./var');
    expect(settings.api).toBeUndefined();
    expect(settings.timestampWindow).toEqual({ past: 40_000, future: 20_000 });
    expect(settings.duressDeadline).toBe(10_000);
    expect(settings.inputs[0]).toMatchObject({ host: '0.0.0.0', tcp: true, udp: true });
  });

  it('keeps delivered events 30 days and dead letters 90 days, and takes maxBacklog on an output', () => {
    const settings = settingsOf(minimal);
    expect(settings.retention).toBe(30 * 86_400_000);
    expect(settings.deadLetterRetention).toBe(90 * 86_400_000);
    const tuned = settingsOf(`${minimal}retention: 7d\ndeadLetterRetention: 1w\n`);
    expect([tuned.retention, tuned.deadLetterRetention]).toEqual([7 * 86_400_000, 7 * 86_400_000]);
    const local = parseSettings('inputs: []\noutputs: [{ type: stdout, name: keypad, audience: local, maxBacklog: 500 }]\n');
    expect(local.ok && local.settings.outputs[0]).toMatchObject({ maxBacklog: 500 });
    expect(parseSettings('inputs: []\noutputs: [{ type: stdout, name: keypad, maxBacklog: 0 }]\n').ok).toBe(false);
  });

  it('holds 4,096 datagrams a DC-09 input waits to answer unless maxDatagrams says otherwise, at least 4', () => {
    expect(settingsOf(minimal).inputs[0]).toMatchObject({ maxDatagrams: 4096 });
    const tuned = settingsOf(minimal.replace('port: 12000', 'port: 12000, maxDatagrams: 20000'));
    expect(tuned.inputs[0]).toMatchObject({ maxDatagrams: 20_000 });
    expect(parseSettings(minimal.replace('port: 12000', 'port: 12000, maxDatagrams: 2')).ok).toBe(false);
  });

  it('accepts JSON as YAML', () => {
    const json = JSON.stringify({ inputs: [{ type: 'dc09', name: 'ip', port: 1 }], outputs: [{ type: 'stdout', name: 'c' }] });
    expect(parseSettings(json).ok).toBe(true);
  });

  it('takes a DC-09 allowlist account of 3-16 ASCII letters or digits, as panels send them (FOCUS FC-7688: foc7688)', () => {
    const input = (account: string) => `inputs: [{ type: dc09, name: ip, port: 1, accounts: [{ account: "${account}", key: "00112233445566778899AABBCCDDEEFF", keyEncoding: hex }] }]\noutputs: []\n`;
    for (const account of ['foc7688', 'FOC7688', '1234', 'Zz0123456789ABCD']) expect(parseSettings(input(account)).ok, account).toBe(true);
    for (const account of ['12', 'Zz0123456789ABCDE', 'foc-7688', 'foc 7688', 'fo\u00e97688']) expect(parseSettings(input(account)).ok, account).toBe(false);
  });

  it('lists every problem with its path', () => {
    const parsed = parseSettings(`
dataDir: 5
timestampWindow: { past: soon, future: 20s }
inputs:
  - { type: dc09, name: ip, port: 99999, accounts: [{ account: "12", key: "00" }] }
  - { type: pigeon, name: x }
outputs:
  - { type: webhook, name: hook, url: not-a-url }
`);
    expect(parsed.ok).toBe(false);
    const paths = parsed.ok ? [] : parsed.issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'dataDir',
        'timestampWindow.past',
        'inputs[0].port',
        'inputs[0].accounts[0].account',
        'inputs[0].accounts[0].keyEncoding',
        'inputs[1].type',
        'outputs[0].url',
      ]),
    );
  });

  it('takes an MQTT url the client speaks, or "embedded", and names anything else', () => {
    const mqtt = (url: string) => parseSettings(JSON.stringify({ inputs: [], outputs: [{ type: 'mqtt', name: 'b', url }] }));
    // A URL scheme is case-insensitive (RFC 3986 §3.1), and the client reads MQTT:// as mqtt://.
    for (const url of ['embedded', 'mqtt://broker:1883', 'mqtts://user:pw@broker.example', 'ws://broker/mqtt', 'wss://broker:443/mqtt', 'tcp://10.0.0.2', 'MQTT://broker:1883', 'Mqtts://broker.example'])
      expect(mqtt(url).ok, url).toBe(true);
    for (const url of ['notaurl', 'broker:1883', 'http://broker', 'mqtt://'])
      expect(mqtt(url), url).toMatchObject({ ok: false, issues: [{ path: 'outputs[0].url', message: expect.stringContaining('a broker URL is mqtt://HOST') }] });
  });

  it('refuses duplicate input and output names', () => {
    const parsed = parseSettings(`
inputs: [{ type: dc09, name: a, port: 1 }, { type: dc09, name: a, port: 2 }]
outputs: [{ type: stdout, name: o }, { type: stdout, name: o }]
`);
    expect(parsed.ok ? [] : parsed.issues.map((i) => i.path)).toEqual(['inputs[1].name', 'outputs[1].name']);
  });

  it('refuses an MQTT topicPrefix with a wildcard, NUL or a leading $, as the broker would refuse every publish', () => {
    const prefixOk = (topicPrefix: string) =>
      parseSettings(JSON.stringify({ inputs: [], outputs: [{ type: 'mqtt', name: 'cms', url: 'mqtt://broker', topicPrefix }] })).ok;
    expect(['alarms/+', 'alarms/#', '#', 'al\u0000arms', '$SYS/alarms'].map(prefixOk)).toEqual([false, false, false, false, false]);
    expect(['panelbridge', 'site-1/alarms', 'a$b'].map(prefixOk)).toEqual([true, true, true]);
  });

  it('reports YAML syntax errors instead of throwing', () => {
    const parsed = parseSettings('inputs: [\n  - oops');
    expect(parsed.ok).toBe(false);
  });

  it('names a YAML syntax error by code, line and column, never quoting the line: it may hold a key', () => {
    const parsed = parseSettings(
      ['inputs:', '  - type: dc09', '    accounts:', '      - { account: "4567", key: "SECRETKEYSECRETKEYSECRETKEY01234", keyEncoding: ascii', 'outputs: []', ''].join('\n'),
    );
    expect(parsed.ok ? [] : parsed.issues).toEqual([
      { path: '(file)', message: 'not valid YAML (BAD_INDENT) at line 5, column 1: fix the syntax there (the line is not shown: it may hold a key or a password)' },
    ]);
    const escape = parseSettings('outputs: [{ type: mqtt, name: b, url: "mqtt://h", password: "Pa55\\qword" }]\n');
    expect(escape.ok ? [] : escape.issues.map((i) => i.message)).toEqual([expect.stringMatching(/^not valid YAML \(BAD_DQ_ESCAPE\) at line 1, column \d+: [^\n]*$/)]);
    expect(JSON.stringify(escape)).not.toMatch(/Pa55|qword/);
  });

  it('validates every example configuration in config/', () => {
    const dir = new URL('../../../config/', import.meta.url);
    const examples = readdirSync(dir).filter((f) => /^panelbridge.*\.ya?ml$/.test(f));
    expect(examples.length).toBeGreaterThan(0);
    for (const file of examples) {
      const parsed = parseSettings(readFileSync(new URL(file, dir), 'utf8'));
      expect(parsed.ok ? [] : parsed.issues, file).toEqual([]);
    }
  });
});

describe('AES keys', () => {
  it.each([
    ['00112233445566778899AABBCCDDEEFF', 'hex', 16],
    ['00112233445566778899AABBCCDDEEFF0011223344556677', 'hex', 24],
    ['00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF', 'hex', 32],
    ['0123456789ABCDEF', 'ascii', 16],
    ['00112233445566778899AABBCCDDEEFF', 'ascii', 32],
  ] as const)('%s as %s is %i bytes', (text, encoding, size) => {
    const key = decodeKey(text, encoding);
    expect(key.ok && key.bytes.length).toBe(size);
  });

  it.each([
    ['0011', 'hex'],
    ['XYZ0112233445566778899AABBCCDDEE', 'hex'],
    ['short', 'ascii'],
  ] as const)('refuses %s as %s', (text, encoding) => {
    expect(decodeKey(text, encoding).ok).toBe(false);
  });
});

describe('lint', () => {
  const site = `
sites:
  - id: s1
    accounts: ["1234"]
    zones: [{ number: 5, name: Teller button, type: holdup }]
    users: [{ number: 12, name: Duress code, duress: true, testEvery: 30d }]
  - id: s2
    accounts: ["1234"]
`;
  it('finds untested duress devices, shared accounts, bad keys, inline keys in world-readable files', () => {
    const settings = settingsOf(`
inputs:
  - { type: dc09, name: ip, port: 1, accounts: [{ account: "1234", key: "0011", keyEncoding: hex }] }
outputs:
  - { type: stdout, name: console }
${site}`);
    const findings = lintSettings(settings, { fileIsWorldReadable: true });
    expect(findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ severity: 'warning', path: 'sites[0].zones[0].testEvery' }),
        expect.objectContaining({ severity: 'error', path: 'sites[1].accounts[0]' }),
        expect.objectContaining({ severity: 'error', path: 'inputs[0].accounts[0].key' }),
        expect.objectContaining({ severity: 'warning', path: 'inputs[0].accounts[0].key', message: expect.stringContaining('world-readable') }),
      ]),
    );
    expect(findings.some((f) => f.path === 'sites[0].users[0].testEvery')).toBe(false);
  });

  it('is an error when no output receives duress: every output local, or none, with or without sites', () => {
    const noCentral = expect.objectContaining({ severity: 'error', path: 'outputs', message: expect.stringContaining('no output has audience central') });
    const lint = (outputs: string, sites = '') =>
      lintSettings(settingsOf(`inputs: [{ type: dc09, name: ip, port: 1, accounts: [{ account: "1234" }] }]\noutputs: ${outputs}\n${sites}`), { fileIsWorldReadable: false });
    const site = 'sites: [{ id: s1, accounts: ["1234"], zones: [{ number: 5, name: Teller button, type: holdup, testEvery: 1d }] }]';
    expect(lint('[{ type: stdout, name: keypad, audience: local }]', site)).toEqual([noCentral]);
    expect(lint('[{ type: stdout, name: keypad, audience: local }]')).toEqual([noCentral]);
    expect(lint('[]')).toEqual([noCentral]);
    // stdout's audience is central unless set, like every output's.
    expect(lint('[{ type: stdout, name: console }, { type: stdout, name: keypad, audience: local }]', site)).toEqual([]);
  });

  it('warns about basic-auth credentials in a webhook URL only where they show: over plain http off the host, or in a world-readable file', () => {
    const settings = settingsOf(`
inputs: [{ type: dc09, name: ip, port: 1, accounts: [{ account: "1234" }] }]
outputs:
  - { type: webhook, name: tls, url: "https://alarm:pw@soc.example.net/hook", secretFile: /etc/pb/whsec }
  - { type: webhook, name: plain, url: "http://alarm:pw@soc.example.net/hook", secretFile: /etc/pb/whsec }
  - { type: webhook, name: local, url: "http://alarm:pw@127.0.0.1:8080/hook", secretFile: /etc/pb/whsec }
  - { type: mqtt, name: broker, url: "mqtt://alarm:pw@broker.example.net:1883" }
`);
    // The plain links themselves are warned about too (lint.plaintext-central.test.ts); here: the credentials.
    const urlFindings = (fileIsWorldReadable: boolean) =>
      lintSettings(settings, { fileIsWorldReadable }).filter((f) => f.path.endsWith('.url') && /credentials|password/.test(f.message));
    expect(urlFindings(false)).toEqual([
      expect.objectContaining({ severity: 'warning', path: 'outputs[3].url', message: expect.stringContaining('use username with passwordFile') }),
      expect.objectContaining({ severity: 'warning', path: 'outputs[1].url', message: expect.stringContaining('over plain http') }),
    ]);
    expect(urlFindings(true).filter((f) => f.message.includes('world-readable')).map((f) => f.path)).toEqual(['outputs[0].url', 'outputs[1].url', 'outputs[2].url']);
  });

  describe('a site account no input accepts (a typo sends the site\'s hold-up out as a plain alarm)', () => {
    const holdupSite = `
sites:
  - id: branch
    accounts: ["1243", "abcd"]
    zones: [{ number: 5, name: Teller button, type: holdup, testEvery: 1d }]
`;
    const lint = (inputs: string, sites = holdupSite) =>
      lintSettings(settingsOf(`inputs:\n${inputs}\noutputs: [{ type: stdout, name: console }]\n${sites}`), { fileIsWorldReadable: false }).filter((f) =>
        f.path.startsWith('sites'),
      );
    const allowlist = '  - { type: dc09, name: ip, port: 1, accounts: [{ account: "1234" }, { account: "ABCD" }] }';

    it('is an error when the site has duress devices, a warning when not; accounts compare case-insensitively', () => {
      expect(lint(allowlist)).toEqual([
        { severity: 'error', path: 'sites[0].accounts[0]', message: expect.stringMatching(/^account 1243 is on no input's allowlist: .*duress devices go unrecognised/) },
      ]);
      expect(lint(allowlist, 'sites: [{ id: branch, accounts: ["1243"], zones: [{ number: 3, name: Back door, type: burglary }] }]')).toEqual([
        expect.objectContaining({ severity: 'warning', path: 'sites[0].accounts[0]' }),
      ]);
    });

    it('counts every DC-09 allowlist and an access-xml input\'s account', () => {
      expect(lint(`${allowlist}\n  - { type: dc09, name: ip2, port: 2, accounts: [{ account: "1243" }] }`)).toEqual([]);
      expect(lint(`${allowlist}\n  - { type: access-xml, name: doors, port: 3, account: "1243" }`)).toEqual([]);
    });

    it('says nothing when an input may carry any account: a DC-09 input without allowlist, a serial line, an access-xml mapping reading it', () => {
      expect(lint(`${allowlist}\n  - { type: dc09, name: open, port: 2 }`)).toEqual([]);
      expect(lint(`${allowlist}\n  - { type: serial, name: receiver, path: /dev/ttyUSB0, protocol: surgard }`)).toEqual([]);
      const mapping = '{ name: vendor, match: Event, eventType: Event.Type, account: Event.Panel }';
      expect(lint(`${allowlist}\n  - { type: access-xml, name: doors, port: 3, mappings: [${mapping}] }`)).toEqual([]);
    });

    it('leaves out a site whose events come by its name from an access-xml input, unless a panel reports its zones or users', () => {
      const doorsOnly = 'sites: [{ id: hq, accounts: ["0000"], doors: [{ id: lobby, name: Lobby, duress: true, testEvery: 30d }] }]';
      expect(lint(`${allowlist}\n  - { type: access-xml, name: doors, port: 3, site: hq }`, doorsOnly)).toEqual([]);
      const bySitePath = '{ name: vendor, match: Event, eventType: Event.Type, site: Event.Site }';
      expect(lint(`${allowlist}\n  - { type: access-xml, name: doors, port: 3, mappings: [${bySitePath}] }`, doorsOnly)).toEqual([]);
      expect(lint(allowlist, doorsOnly)).toEqual([expect.objectContaining({ severity: 'error', path: 'sites[0].accounts[0]' })]);
      expect(lint(`${allowlist}\n  - { type: access-xml, name: doors, port: 3, site: branch }`)).toEqual([
        expect.objectContaining({ severity: 'error', path: 'sites[0].accounts[0]' }),
      ]);
    });
  });

  it('warns that MQTT 3.1.1 cannot tell an ACL-dropped publish from a delivered one', () => {
    const settings = settingsOf(`
inputs: [{ type: dc09, name: ip, port: 1, accounts: [{ account: "1234" }] }]
outputs:
  - { type: mqtt, name: old, url: "mqtt://127.0.0.1:1883", protocolVersion: 4 }
  - { type: mqtt, name: new, url: "mqtt://127.0.0.1:1883" }
`);
    expect(lintSettings(settings, { fileIsWorldReadable: false })).toEqual([
      expect.objectContaining({ severity: 'warning', path: 'outputs[0].protocolVersion', message: expect.stringContaining('counts as delivered') }),
    ]);
  });
});
