import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ControlStored } from '../../src/assurance/assurance.js';
import { GATEWAY_ACTOR, type Actor, type AuditEntry } from '../../src/assurance/audit-chain.js';
import type { ApiRole, ApiSettings, SettingsIssue } from '../../src/settings/settings.js';
import { ensurePrivateSecret, writePrivateFile } from '../system/files.js';
import { readSecret } from '../system/secrets.js';

/** The admin token the gateway creates at first start when `api.tokens` is not configured (mode 0600). */
export const ADMIN_TOKEN_FILE = 'api-token';
/** Tokens made by `panelbridge token create` (or `POST /tokens`): names, roles and SHA-256 hashes only. */
export const CREATED_TOKENS_FILE = 'api-tokens.json';

/** Shorter configured tokens are refused: a token is all that stands between a caller and a duress. */
export const MIN_TOKEN_LENGTH = 16;

export interface ApiIdentity {
  name: string;
  role: ApiRole;
}

/** Who a presented token belongs to, and which token it is (a console session ends when it is replaced). */
export interface AuthenticatedToken {
  identity: ApiIdentity;
  fingerprint: string;
}

/** What a role may do beyond reading. `redeliver`: put an output's dead letters back in its queue. */
export type Permission = 'read' | 'acknowledge' | 'redeliver' | 'test-windows' | 'admin';

const PERMISSIONS: Record<ApiRole, ReadonlySet<Permission>> = {
  viewer: new Set(['read']),
  operator: new Set(['read', 'acknowledge', 'redeliver']),
  installer: new Set(['read', 'test-windows']),
  admin: new Set(['read', 'acknowledge', 'redeliver', 'test-windows', 'admin']),
};

export function mayDo(role: ApiRole, permission: Permission): boolean {
  return PERMISSIONS[role].has(permission);
}

interface StoredToken extends ApiIdentity {
  /** SHA-256 of the token, hex. */
  sha256: string;
  createdAt?: string;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** A new token: 32 random bytes, base64url, with a prefix that makes it recognisable in a leaked file. */
export function newToken(): string {
  return `pbt_${randomBytes(32).toString('base64url')}`;
}

function readCreated(file: string): StoredToken[] {
  if (!existsSync(file)) return [];
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { tokens?: StoredToken[] };
  return parsed.tokens ?? [];
}

function createdEntry(identity: ApiIdentity, token: string, now: Date): StoredToken {
  return { ...identity, sha256: sha256(token).toString('hex'), createdAt: now.toISOString() };
}

/** Adds `entry` to the created-tokens file, in place of an earlier token of the same name. */
function storeCreated(file: string, entry: StoredToken): void {
  const tokens = readCreated(file).filter((t) => t.name !== entry.name);
  tokens.push(entry);
  writePrivateFile(file, JSON.stringify({ tokens }, null, 2) + '\n');
}

/**
 * Adds a token to `{dataDir}/api-tokens.json` (hashed) and returns it: the only time it is shown. The running
 * gateway, the audit log's only writer, chains its creation before it first accepts it (TokenRegistry).
 */
export function createToken(dataDir: string, identity: ApiIdentity, now: Date = new Date()): string {
  const token = newToken();
  storeCreated(path.join(dataDir, CREATED_TOKENS_FILE), createdEntry(identity, token, now));
  return token;
}

/** How the audit log names a token: the first 16 hex digits of its SHA-256 (the token files hold all 64). */
function fingerprintOf(stored: StoredToken): string {
  return stored.sha256.slice(0, 16);
}

function identityOf(stored: StoredToken): ApiIdentity {
  return { name: stored.name, role: stored.role };
}

/** The fingerprints of the tokens whose creation the audit log's lines chain. */
/** `{dataDir}/api-token`, created (0600) with a new admin token when missing; returns the token. */
export function ensureAdminToken(dataDir: string): string {
  return ensurePrivateSecret(path.join(dataDir, ADMIN_TOKEN_FILE), newToken);
}

/** The token a CLI on the gateway's host uses: `{dataDir}/api-token` when it exists. */
export function readAdminToken(dataDir: string): string | undefined {
  const file = path.join(dataDir, ADMIN_TOKEN_FILE);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/**
 * Who a bearer token belongs to. Every known token is kept as its SHA-256; a presented token is hashed and
 * compared with each of them in constant time, with no early exit, so timing tells nothing about how close a
 * guess came. Every lookup first checks the created-tokens file (a stat) and re-reads it when it changed: a token
 * created while the gateway runs is taken, and one replaced or removed there is refused from then on.
 *
 * Once `chainCreations` gave it the audit log, no token from a file in dataDir is accepted before its creation is
 * chained there: `create` (POST /tokens) chains under the caller, and a token found in a file with no record of
 * its fingerprint (`panelbridge token create`, the admin token made at first start, one written by hand) is
 * chained by the gateway when the file is read. The CLI never writes the log, so the gateway stays its only writer.
 */
export class TokenRegistry {
  private created: StoredToken[] = [];
  private createdStamp = '';
  private creations: { audit: (entry: AuditEntry) => ControlStored; isChained: (fingerprint: string) => boolean } | undefined;

  private constructor(
    private readonly configured: readonly StoredToken[],
    /** Among the configured: `{dataDir}/api-token`, when the gateway made it (no tokens configured). */
    private readonly adminToken: StoredToken | undefined,
    private readonly createdFile: string,
  ) {
    this.reloadCreated();
  }

  /**
   * Configured tokens (read from their files or environment), else the auto-created admin token, plus created
   * ones. A token that cannot be read, or is too short to resist guessing, is a configuration issue.
   */
  static load(api: ApiSettings, dataDir: string): { ok: true; registry: TokenRegistry } | { ok: false; issues: SettingsIssue[] } {
    const issues: SettingsIssue[] = [];
    const configured: StoredToken[] = [];
    const adminToken: StoredToken | undefined =
      api.tokens === undefined ? { name: 'admin', role: 'admin', sha256: sha256(ensureAdminToken(dataDir)).toString('hex') } : undefined;
    if (adminToken !== undefined) configured.push(adminToken);
    api.tokens?.forEach((t, i) => {
      let token: string | undefined;
      try {
        token = readSecret({ value: t.token, file: t.tokenFile, env: t.tokenEnv });
      } catch (error) {
        issues.push({ path: `api.tokens[${i}]`, message: `token "${t.name}": ${(error as Error).message}` });
        return;
      }
      if (token === undefined || token.length < MIN_TOKEN_LENGTH)
        issues.push({ path: `api.tokens[${i}]`, message: `token "${t.name}" is shorter than ${MIN_TOKEN_LENGTH} characters` });
      else configured.push({ name: t.name, role: t.role, sha256: sha256(token).toString('hex') });
    });
    return issues.length > 0 ? { ok: false, issues } : { ok: true, registry: new TokenRegistry(configured, adminToken, path.join(dataDir, CREATED_TOKENS_FILE)) };
  }

  /**
   * From now on token creations are chained through `audit`, which also stores their event for central and returns
   * that store; `isChained` (asked of the audit log) tells which already are. The tokens already read from dataDir
   * whose creation is not are chained now, before the API listens.
   */
  chainCreations(audit: (entry: AuditEntry) => ControlStored, isChained: (fingerprint: string) => boolean): void {
    this.creations = { audit, isChained };
    if (this.adminToken !== undefined) this.chainFound([this.adminToken], ADMIN_TOKEN_FILE);
    this.chainFound(this.created, CREATED_TOKENS_FILE);
  }

  /**
   * `POST /tokens`: a new token, its creation chained under `actor` before it is stored; returned to show once, with
   * the store of its event for central (answered only after it, as every control action is).
   */
  create(identity: ApiIdentity, actor: Actor): { token: string; stored: ControlStored } {
    const token = newToken();
    const entry = createdEntry(identity, token, new Date());
    const stored = this.chain(entry, actor, { ...identity });
    storeCreated(this.createdFile, entry);
    return { token, stored };
  }

  authenticate(presented: string): ApiIdentity | undefined {
    return this.authenticateToken(presented)?.identity;
  }

  authenticateToken(presented: string): AuthenticatedToken | undefined {
    this.reloadCreated();
    const hash = sha256(presented);
    let match: StoredToken | undefined;
    for (const candidate of [...this.configured, ...this.created]) {
      const equal = timingSafeEqual(hash, Buffer.from(candidate.sha256, 'hex'));
      if (equal && match === undefined) match = candidate;
    }
    return match === undefined ? undefined : { identity: identityOf(match), fingerprint: fingerprintOf(match) };
  }

  /** Who the token with this fingerprint belongs to, while it is still accepted (not replaced or removed). */
  holderOf(fingerprint: string): ApiIdentity | undefined {
    this.reloadCreated();
    const match = [...this.configured, ...this.created].find((candidate) => fingerprintOf(candidate) === fingerprint);
    return match === undefined ? undefined : identityOf(match);
  }

  /** Re-reads the created-tokens file when it changed since the last look. */
  private reloadCreated(): void {
    let stamp = '';
    try {
      // Nanoseconds and the inode: two tokens written within one millisecond still change the stamp.
      const stat = statSync(this.createdFile, { bigint: true });
      stamp = `${stat.ino}:${stat.mtimeNs}:${stat.ctimeNs}:${stat.size}`;
    } catch {
      stamp = 'absent';
    }
    if (stamp === this.createdStamp) return;
    this.createdStamp = stamp;
    let created: StoredToken[];
    try {
      created = stamp === 'absent' ? [] : readCreated(this.createdFile).filter((t) => /^[0-9a-f]{64}$/.test(t.sha256));
    } catch {
      // A file being rewritten, or edited by hand into bad JSON: keep the tokens known so far.
      return;
    }
    this.chainFound(created, CREATED_TOKENS_FILE);
    this.created = created;
  }

  /** Tokens read from `file` whose creation is not chained yet: chained by the gateway, which found them. */
  private chainFound(tokens: readonly StoredToken[], file: string): void {
    for (const token of tokens) this.chain(token, GATEWAY_ACTOR, { name: token.name, role: token.role, createdAt: token.createdAt ?? null, foundIn: file });
  }

  private chain(token: StoredToken, actor: Actor, details: Record<string, unknown>): ControlStored {
    const creations = this.creations;
    const fingerprint = fingerprintOf(token);
    if (creations === undefined || creations.isChained(fingerprint)) return Promise.resolve({ ok: true });
    return creations.audit({ action: 'token-created', actor, details: { ...details, fingerprint } });
  }
}
