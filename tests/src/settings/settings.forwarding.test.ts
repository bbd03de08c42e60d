import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../../src/settings/settings.js';
import { lintSettings } from '../../../src/settings/lint.js';

const input = '  - { type: dc09, name: ip, port: 12000, accounts: [{ account: "1234" }] }';

function parse(outputs: string) {
  return parseSettings(`inputs:\n${input}\noutputs:\n${outputs}\n`);
}

describe('dc09 and automation output settings', () => {
  it('takes the keys of issue 20 with their defaults', () => {
    const parsed = parse('  - { type: dc09, name: arc, primary: "tcp://arc.example:12000", backup: "udp://10.0.0.2:12000", account: "9876", keyFile: /etc/panelbridge/arc.key, keyEncoding: hex, format: sia-dcs }');
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.settings.outputs[0]).toEqual({
      type: 'dc09', name: 'arc', primary: 'tcp://arc.example:12000', backup: 'udp://10.0.0.2:12000', account: '9876',
      keyFile: '/etc/panelbridge/arc.key', keyEncoding: 'hex', format: 'sia-dcs', line: '0', supervision: 90_000, ackTimeout: 5_000,
      retries: 2, audience: 'central',
    });
  });

  it.each([
    ['a path that is not tcp:// or udp://', '{ type: dc09, name: arc, primary: "http://arc:80", account: "9876" }', 'outputs[0].primary'],
    ['a key without keyEncoding', '{ type: dc09, name: arc, primary: "tcp://arc:1", account: "9876", key: "00112233445566778899AABBCCDDEEFF" }', 'outputs[0].keyEncoding'],
    ['two key sources', '{ type: dc09, name: arc, primary: "tcp://arc:1", account: "9876", key: "k", keyEnv: K, keyEncoding: hex }', 'outputs[0]'],
    ['an account that is not hex', '{ type: dc09, name: arc, primary: "tcp://arc:1", account: "98-76" }', 'outputs[0].account'],
    ['an unknown format', '{ type: dc09, name: arc, primary: "tcp://arc:1", account: "9876", format: sia-dc03 }', 'outputs[0].format'],
    ['a Sur-Gard account of 5 digits', '{ type: automation, name: mas, port: 1025, account: "12345" }', 'outputs[0].account'],
  ])('refuses %s', (_what, output, path) => {
    const parsed = parse(`  - ${output}`);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.issues.map((i) => i.path)).toContain(path);
  });

  it('an automation output listens on loopback for loopback automations unless told otherwise', () => {
    const parsed = parse('  - { type: automation, name: mas, port: 1025 }');
    expect(parsed.ok && parsed.settings.outputs[0]).toMatchObject({
      host: '127.0.0.1', allow: ['127.0.0.1', '::1'], receiver: '01', line: '001', heartbeat: 30_000, ackTimeout: 4_000, retries: 3, audience: 'central',
    });
  });

  it('lint: a local audience, a bad or readable inline key, and no key at all are named', () => {
    const parsed = parse([
      '  - { type: dc09, name: arc, primary: "tcp://arc:1", account: "9876", key: "0011", keyEncoding: hex, audience: local }',
      '  - { type: dc09, name: plain, primary: "udp://arc:1", account: "9876" }',
      '  - { type: automation, name: mas, port: 1025, audience: local }',
      '  - { type: stdout, name: console }',
    ].join('\n'));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const findings = lintSettings(parsed.settings, { fileIsWorldReadable: true }).filter((f) => f.path.startsWith('outputs'));
    expect(findings).toHaveLength(5);
    expect(findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ severity: 'warning', path: 'outputs[0].audience' }),
        expect.objectContaining({ severity: 'error', path: 'outputs[0].key' }),
        expect.objectContaining({ severity: 'warning', path: 'outputs[0].key', message: expect.stringContaining('world-readable') }),
        expect.objectContaining({ severity: 'warning', path: 'outputs[1]', message: expect.stringContaining('no key') }),
        expect.objectContaining({ severity: 'warning', path: 'outputs[2].audience' }),
      ]),
    );
  });

  it('lint: a central automation output open to loopback without allowUids admits every account on the host', () => {
    const lint = (output: string) => {
      const parsed = parse(`  - ${output}`);
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
      return lintSettings(parsed.settings, { fileIsWorldReadable: false }).filter((f) => f.path.startsWith('outputs'));
    };
    expect(lint('{ type: automation, name: mas, port: 1025 }')).toEqual([
      expect.objectContaining({ severity: 'warning', path: 'outputs[0].allowUids', message: expect.stringMatching(/every account on this host .* ACK it away/) }),
    ]);
    expect(lint('{ type: automation, name: mas, port: 1025, allowUids: [1001] }')).toEqual([]);
    // Not open to loopback: no allowUids warning (the plaintext link across the network has its own, on host).
    expect(lint('{ type: automation, name: mas, host: 0.0.0.0, port: 1025, allow: ["192.0.2.7"] }').map((f) => f.path)).toEqual(['outputs[0].host']);
  });

  it('lint: a key read from keyFile or keyEnv is decoded like an inline one', () => {
    const parsed = parse('  - { type: dc09, name: arc, primary: "tcp://arc:1", account: "9876", keyFile: /etc/panelbridge/arc.key, keyEncoding: hex }');
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const lint = (keyText: string) => lintSettings(parsed.settings, { fileIsWorldReadable: false, resolvedKeys: new Map([['outputs[0]', keyText]]) });
    expect(lint('0011')).toEqual([expect.objectContaining({ severity: 'error', path: 'outputs[0].key', message: expect.stringContaining('32, 48 or 64 hex digits') })]);
    expect(lint('00112233445566778899AABBCCDDEEFF')).toEqual([]);
  });
});
