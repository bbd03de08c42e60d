import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN_FILE, CREATED_TOKENS_FILE, createToken, mayDo, TokenRegistry, type Permission } from '../../../adapters/api/tokens.js';
import { AuditLog, auditFile, auditLines } from '../../../adapters/system/audit-log.js';
import { verifyChain, type AuditRecord } from '../../../src/assurance/audit-chain.js';
import { API_ROLES, apiSchema, parseSettings } from '../../../src/settings/settings.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { tempDir } from '../../helpers/gateway-process.js';

describe('API roles', () => {
  it('lets viewers read, operators acknowledge, installers run test windows, admins do all', () => {
    const matrix = Object.fromEntries(
      API_ROLES.map((role) => [role, (['read', 'acknowledge', 'test-windows', 'admin'] as Permission[]).filter((p) => mayDo(role, p))]),
    );
    expect(matrix).toEqual({
      viewer: ['read'],
      operator: ['read', 'acknowledge'],
      installer: ['read', 'test-windows'],
      admin: ['read', 'acknowledge', 'test-windows', 'admin'],
    });
  });
});

function loaded(api: unknown, dir: string): TokenRegistry {
  const result = TokenRegistry.load(apiSchema.parse(api), dir);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.registry;
}

describe('API tokens', () => {
  it('creates an admin token at first start when none is configured, and keeps it across restarts', () => {
    const dir = tempDir('tokens');
    const registry = loaded({ port: 0 }, dir);
    const file = path.join(dir, ADMIN_TOKEN_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = readFileSync(file, 'utf8').trim();
    expect(registry.authenticate(token)).toEqual({ name: 'admin', role: 'admin' });
    expect(registry.authenticate(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'))).toBeUndefined();
    expect(loaded({ port: 0 }, dir).authenticate(token)).toEqual({ name: 'admin', role: 'admin' });
  });

  it('uses configured tokens (inline, file or environment) and then creates none', () => {
    const dir = tempDir('tokens-configured');
    writeFileSync(path.join(dir, 'ops.token'), 'operator-token-from-a-file\n', { mode: 0o600 });
    process.env.PB_TEST_INSTALLER_TOKEN = 'installer-token-from-the-env';
    try {
      const registry = loaded(
        {
          port: 0,
          tokens: [
            { name: 'ops', role: 'operator', tokenFile: path.join(dir, 'ops.token') },
            { name: 'field', role: 'installer', tokenEnv: 'PB_TEST_INSTALLER_TOKEN' },
            { name: 'grafana', role: 'viewer', token: 'viewer-token-inline-0000' },
          ],
        },
        dir,
      );
      expect(registry.authenticate('operator-token-from-a-file')).toEqual({ name: 'ops', role: 'operator' });
      expect(registry.authenticate('installer-token-from-the-env')).toEqual({ name: 'field', role: 'installer' });
      expect(registry.authenticate('viewer-token-inline-0000')).toEqual({ name: 'grafana', role: 'viewer' });
      expect(registry.authenticate('')).toBeUndefined();
      expect(existsSync(path.join(dir, ADMIN_TOKEN_FILE))).toBe(false);
    } finally {
      delete process.env.PB_TEST_INSTALLER_TOKEN;
    }
  });

  it('stores created tokens as SHA-256 only and takes them without a restart; a damaged file loses none already known', () => {
    const dir = tempDir('tokens-created');
    const registry = loaded({ port: 0 }, dir);
    const first = createToken(dir, { name: 'wallboard', role: 'viewer' });
    expect(registry.authenticate(first)).toEqual({ name: 'wallboard', role: 'viewer' });
    const file = path.join(dir, CREATED_TOKENS_FILE);
    expect(readFileSync(file, 'utf8')).not.toContain(first);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    writeFileSync(file, '{"tokens": [');
    expect(registry.authenticate('pbt_unknown')).toBeUndefined();
    expect(registry.authenticate(first)).toEqual({ name: 'wallboard', role: 'viewer' });
  });

  it('refuses a token replaced in the created-tokens file from the next lookup on, though it was accepted before', () => {
    const dir = tempDir('tokens-replaced');
    const registry = loaded({ port: 0 }, dir);
    const leaked = createToken(dir, { name: 'desk', role: 'operator' });
    expect(registry.authenticate(leaked)).toEqual({ name: 'desk', role: 'operator' });
    const replacement = createToken(dir, { name: 'desk', role: 'operator' }); // `token create --name desk` again
    expect(registry.authenticate(leaked)).toBeUndefined();
    expect(registry.authenticate(replacement)).toEqual({ name: 'desk', role: 'operator' });
  });

  it('chains every token creation in the audit log before it accepts the token, however the token was made (rule 4)', () => {
    const dir = tempDir('tokens-chained');
    /** The gateway's start: the registry, then the audit log, whose records so far say which creations are chained. */
    const start = () => {
      const registry = loaded({ port: 0 }, dir);
      const log = AuditLog.open(dir, new FakeClock(1_700_000_000_000));
      registry.chainCreations(
        (entry) => (log.append(entry), Promise.resolve({ ok: true })),
        (fingerprint) => log.hasChainedToken(fingerprint),
      );
      return { registry, log };
    };
    const creations = () =>
      [...auditLines(auditFile(dir))]
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as AuditRecord)
        .map(({ action, actor, details }) => [action, actor.name, details.name, details.foundIn ?? null]);

    const whileStopped = createToken(dir, { name: 'grafana', role: 'viewer' }); // `panelbridge token create`, no gateway
    const first = start();
    first.log.flush();
    // At start: the admin token the gateway made, and the one made while it was stopped.
    expect(creations()).toEqual([
      ['token-created', 'gateway', 'admin', 'api-token'],
      ['token-created', 'gateway', 'grafana', 'api-tokens.json'],
    ]);
    const whileRunning = createToken(dir, { name: 'shadow', role: 'admin' });
    expect(first.registry.authenticate(whileRunning)).toEqual({ name: 'shadow', role: 'admin' });
    first.log.flush();
    expect(creations().at(-1)).toEqual(['token-created', 'gateway', 'shadow', 'api-tokens.json']);
    // POST /tokens chains under the caller, once.
    const { token: second } = first.registry.create({ name: 'second', role: 'viewer' }, { name: 'shadow', role: 'admin', channel: 'api' });
    expect(first.registry.authenticate(second)).toEqual({ name: 'second', role: 'viewer' });
    first.log.close();
    const restarted = start();
    restarted.log.close();
    expect(restarted.registry.authenticate(whileStopped)).toEqual({ name: 'grafana', role: 'viewer' });
    expect(creations().slice(3)).toEqual([['token-created', 'shadow', 'second', null]]);
    expect(verifyChain([...auditLines(auditFile(dir))])).toMatchObject({ ok: true, records: 4 });
  });

  it('names a token it cannot read, or one too short to resist guessing, as a configuration issue', () => {
    const dir = tempDir('tokens-bad');
    writeFileSync(path.join(dir, 'short.token'), 'abc\n');
    const result = TokenRegistry.load(
      apiSchema.parse({ port: 0, tokens: [{ name: 'a', role: 'admin', tokenEnv: 'PB_TEST_NOT_SET' }, { name: 'b', role: 'viewer', tokenFile: path.join(dir, 'short.token') }] }),
      dir,
    );
    expect(result).toEqual({
      ok: false,
      issues: [
        { path: 'api.tokens[0]', message: 'token "a": environment variable PB_TEST_NOT_SET is not set' },
        { path: 'api.tokens[1]', message: 'token "b" is shorter than 16 characters' },
      ],
    });
  });

  it('is a configuration error to expose the API beyond loopback without tokens or client certificates', () => {
    const base = 'inputs: []\noutputs: [{ type: stdout, name: c }]\n';
    expect(parseSettings(`${base}api: { host: 0.0.0.0, port: 8780 }`)).toMatchObject({ ok: false, issues: [{ path: 'api.host' }] });
    expect(parseSettings(`${base}api: { host: 192.168.1.10, port: 8780 }`)).toMatchObject({ ok: false });
    expect(parseSettings(`${base}api: { host: 127.0.0.1, port: 8780 }`)).toMatchObject({ ok: true });
    expect(parseSettings(`${base}api: { host: "::1", port: 8780 }`)).toMatchObject({ ok: true });
    expect(parseSettings(`${base}api: { host: 0.0.0.0, port: 8780, tokens: [{ name: a, role: admin, tokenEnv: X }] }`)).toMatchObject({ ok: true });
    expect(parseSettings(`${base}api: { host: 0.0.0.0, port: 8780, tls: { cert: c, key: k, ca: a, requestCert: true } }`)).toMatchObject({ ok: true });
    expect(parseSettings(`${base}api: { port: 8780, tokens: [{ name: a, role: admin, token: short }] }`)).toMatchObject({ ok: false });
    expect(parseSettings(`${base}api: { port: 8780, tokens: [{ name: a, role: root, tokenEnv: X }] }`)).toMatchObject({ ok: false });
  });
});
