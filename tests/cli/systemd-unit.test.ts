import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { EXIT_CONFIG } from '../../adapters/cli/config.js';
import { settingsSchema } from '../../src/settings/settings.js';
import { CLI, tempDir } from '../helpers/gateway-process.js';

const UNIT_FILE = new URL('../../systemd/panelbridge.service', import.meta.url).pathname;
const EXAMPLE_CONFIG = new URL('../../config/panelbridge.example.yaml', import.meta.url).pathname;
const run = promisify(execFile);

/** systemd's unit syntax, as far as this file uses it: sections, repeated keys, comments, `\` continuations. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  const joined = text.replace(/\\\n/g, ' ');
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section !== null) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (current === undefined || eq < 0) throw new Error(`not a unit line: ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

const unit = parseUnit(readFileSync(UNIT_FILE, 'utf8'));
const service = unit.get('Service')!;
const one = (key: string) => {
  const values = service.get(key);
  expect(values, `${key}= is set once`).toHaveLength(1);
  return values![0]!;
};

/** Long option names a CLI verb accepts, read from the built binary's own help. */
async function optionsOf(verb: string): Promise<Set<string>> {
  const { stdout } = await run(process.execPath, [CLI, verb, '--help']);
  return new Set([...stdout.matchAll(/(?:^|[\s,])(--[a-z][a-z-]*)/g)].map((m) => m[1]!));
}

describe('systemd/panelbridge.service', () => {
  it('has the sections systemd needs and is enabled for multi-user.target', () => {
    expect([...unit.keys()]).toEqual(['Unit', 'Service', 'Install']);
    expect(unit.get('Install')!.get('WantedBy')).toEqual(['multi-user.target']);
  });

  it('every Exec line runs a real panelbridge verb with options that verb has', async () => {
    const execLines = ['ExecStartPre', 'ExecStart'].map((key) => [key, one(key)] as const);
    for (const [key, line] of execLines) {
      const [binary, verb, ...args] = line.split(/\s+/);
      expect(binary, key).toBe('/usr/bin/panelbridge');
      const known = await optionsOf(verb!);
      expect(known.size, `${key}: "${verb}" is a panelbridge verb`).toBeGreaterThan(1);
      for (const arg of args.filter((a) => a.startsWith('--'))) expect(known, `${key}: ${verb} ${arg}`).toContain(arg);
      expect(args).toEqual(expect.arrayContaining(['--config', '/etc/panelbridge/panelbridge.yaml']));
    }
    expect(one('ExecStartPre')).toBe('/usr/bin/panelbridge check --config /etc/panelbridge/panelbridge.yaml --errors-only');
    expect(one('ExecStart')).toBe('/usr/bin/panelbridge run --config /etc/panelbridge/panelbridge.yaml');
  });

  it('ExecStartPre passes a configuration with warnings (printed) and fails one with errors (78)', async () => {
    const dir = tempDir('unit');
    const warned = path.join(dir, 'warned.yaml');
    copyFileSync(EXAMPLE_CONFIG, warned); // an inline AES key draws a warning
    const args = one('ExecStartPre').split(/\s+/).slice(1).map((a) => (a === '/etc/panelbridge/panelbridge.yaml' ? warned : a));
    const { stdout } = await run(process.execPath, [CLI, ...args]);
    expect(stdout).toMatch(/^warning /m);
    const broken = path.join(dir, 'broken.yaml');
    writeFileSync(broken, 'inputs: []\noutputs: [{ type: nowhere }]\n');
    const failed = spawnSync(process.execPath, [CLI, ...args.map((a) => (a === warned ? broken : a))]);
    expect(failed.status).toBe(EXIT_CONFIG);
  });

  it('restarts always, except on the configuration exit status, and stops with SIGTERM in time to drain', () => {
    expect(one('Type')).toBe('exec');
    expect(one('Restart')).toBe('always');
    expect(one('RestartSec')).toBe('2');
    expect(one('RestartPreventExitStatus')).toBe(String(EXIT_CONFIG));
    expect(one('KillSignal')).toBe('SIGTERM');
    expect(one('TimeoutStopSec')).toBe('30');
    expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
  });

  it('passes Node no --max-semi-space-size (it would override the DC-09 TCP worker’s young generation) and caps malloc arenas', () => {
    const environment = unit.get('Service')?.get('Environment') ?? [];
    expect(environment.filter((line) => line.includes('semi-space'))).toEqual([]);
    expect(environment).toContain('MALLOC_ARENA_MAX=2');
  });

  it('runs as its own user with dialout, and the default dataDir lands in its StateDirectory', () => {
    expect(one('User')).toBe('panelbridge');
    expect(one('Group')).toBe('panelbridge');
    expect(one('SupplementaryGroups')).toBe('dialout');
    expect(one('ConfigurationDirectory')).toBe('panelbridge');
    const stateDirectory = `/var/lib/${one('StateDirectory')}`;
    expect(one('WorkingDirectory')).toBe(stateDirectory);
    // loadConfigFile resolves dataDir against the working directory.
    const defaultDataDir = settingsSchema.parse({ inputs: [], outputs: [] }).dataDir;
    const resolved = path.resolve(one('WorkingDirectory'), defaultDataDir);
    expect(resolved.startsWith(stateDirectory + '/')).toBe(true);
  });

  it('loads the DC-09 keys as credentials from the configuration directory', () => {
    expect(one('LoadCredential')).toBe('dc09-keys:/etc/panelbridge/keys');
  });

  it('is hardened, with serial ports the only devices allowed', () => {
    const expected: Record<string, string> = {
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      DevicePolicy: 'closed',
      ProtectKernelTunables: 'yes',
      ProtectKernelModules: 'yes',
      ProtectControlGroups: 'yes',
      RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX AF_NETLINK',
      LockPersonality: 'yes',
      RestrictSUIDSGID: 'yes',
      CapabilityBoundingSet: '',
    };
    for (const [key, value] of Object.entries(expected)) expect(one(key), key).toBe(value);
    expect(service.get('DeviceAllow')).toEqual(['char-ttyUSB rw', 'char-ttyACM rw', 'char-ttyS rw', 'char-ttyAMA rw', 'char-ttySC rw']);
    // V8's JIT needs writable and executable memory.
    expect(service.has('MemoryDenyWriteExecute')).toBe(false);
  });

  const systemdAnalyze = spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!systemdAnalyze)('passes systemd-analyze verify', () => {
    // verify insists that the binary exists: point it at node for the check.
    const copy = path.join(tempDir('unit-verify'), 'panelbridge.service');
    writeFileSync(copy, readFileSync(UNIT_FILE, 'utf8').replaceAll('/usr/bin/panelbridge', process.execPath));
    const result = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
