import { describe, expect, it } from 'vitest';
import { ConsoleSessions, MAX_SESSIONS, MAX_SESSIONS_PER_NAME, type SessionStart } from '../../../../adapters/api/console/sessions.js';
import { createToken, TokenRegistry, type AuthenticatedToken } from '../../../../adapters/api/tokens.js';
import { apiSchema } from '../../../../src/settings/settings.js';
import { tempDir } from '../../../helpers/gateway-process.js';

/** Tokens kept in a fresh dataDir (no configured ones), as `panelbridge token create` makes them. */
function registryIn(dir: string): TokenRegistry {
  const loaded = TokenRegistry.load(apiSchema.parse({ port: 0 }), dir);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.registry;
}

/** What a signed-in page sends back: the cookie its browser keeps, and the secret it keeps itself. */
const credentialsOf = ({ setCookie, secret }: SessionStart) => [setCookie.split(';')[0]!, secret] as const;

describe('console sessions', () => {
  it('end when their token is replaced under the same name, though the session itself has not expired', () => {
    const dir = tempDir('console-sessions');
    const tokens = registryIn(dir);
    const sessions = new ConsoleSessions(() => 0, tokens);
    const leaked = tokens.authenticateToken(createToken(dir, { name: 'desk', role: 'operator' }))!;
    const session = credentialsOf(sessions.start(leaked, false)!);
    expect(sessions.identify(...session)).toEqual({ name: 'desk', role: 'operator' });
    createToken(dir, { name: 'desk', role: 'operator' }); // `token create --name desk` again
    expect(sessions.identify(...session)).toBeUndefined();
  });

  it('cap each token name: signing in over and over ends only that name\'s oldest session', () => {
    const dir = tempDir('console-sessions');
    const tokens = registryIn(dir);
    const sessions = new ConsoleSessions(() => 0, tokens);
    const viewer = tokens.authenticateToken(createToken(dir, { name: 'wall-screen', role: 'viewer' }))!;
    const installer = credentialsOf(sessions.start(tokens.authenticateToken(createToken(dir, { name: 'installer', role: 'installer' }))!, false)!);
    const viewerSessions = Array.from({ length: MAX_SESSIONS + 1 }, () => credentialsOf(sessions.start(viewer, false)!));
    expect(sessions.identify(...installer)).toEqual({ name: 'installer', role: 'installer' });
    expect(viewerSessions.filter((session) => sessions.identify(...session) !== undefined)).toEqual(viewerSessions.slice(-MAX_SESSIONS_PER_NAME));
  });

  it('refuse a name holding none when every session is taken by other names, and still let those names sign in again', () => {
    const sessions = new ConsoleSessions(() => 0, { holderOf: () => undefined });
    const token = (name: string): AuthenticatedToken => ({ identity: { name, role: 'viewer' }, fingerprint: name });
    const names = Math.ceil(MAX_SESSIONS / MAX_SESSIONS_PER_NAME);
    for (let i = 0; i < MAX_SESSIONS; i++) expect(sessions.start(token(`screen-${i % names}`), false)).toBeDefined();
    expect(sessions.start(token('newcomer'), false)).toBeUndefined();
    expect(sessions.start(token('screen-0'), false)).toBeDefined(); // in place of its own oldest
  });

  it('take a cookie only with its own session\'s secret: not alone, not with a wrong secret, not with another session\'s', () => {
    const sessions = new ConsoleSessions(() => 0, { holderOf: (fingerprint) => ({ name: fingerprint, role: 'operator' }) });
    const token: AuthenticatedToken = { identity: { name: 'desk', role: 'operator' }, fingerprint: 'desk' };
    const [cookie, secret] = credentialsOf(sessions.start(token, false)!);
    const [, otherSecret] = credentialsOf(sessions.start(token, false)!);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes
    expect(secret).not.toBe(cookie.split('=')[1]);
    expect(sessions.identify(cookie, secret)).toEqual({ name: 'desk', role: 'operator' });
    for (const wrong of [undefined, '', otherSecret, secret.slice(1), `${secret}x`]) expect([wrong, sessions.identify(cookie, wrong)]).toEqual([wrong, 'wrong-secret']);
    expect(sessions.identify('pb_console=forged', secret)).toBeUndefined(); // names no session
    expect(sessions.identify(undefined, secret)).toBeUndefined();
  });

  it('find their cookie among others of its name another page of the host set, which the browser sends first', () => {
    // A page on another port may set `pb_console=planted; Path=/console/api`: the longer path goes first.
    const sessions = new ConsoleSessions(() => 0, { holderOf: (fingerprint) => ({ name: fingerprint, role: 'operator' }) });
    const [cookie, secret] = credentialsOf(sessions.start({ identity: { name: 'desk', role: 'operator' }, fingerprint: 'desk' }, false)!);
    const both = `pb_console=planted; ${cookie}`;
    expect(sessions.identify(both, secret)).toEqual({ name: 'desk', role: 'operator' });
    expect(sessions.identify(both, undefined)).toBe('wrong-secret');
    // A sign-in in another tab keeps the browser's cookie, not the planted one.
    const again = sessions.start({ identity: { name: 'desk', role: 'operator' }, fingerprint: 'desk' }, false, both)!;
    expect(again.setCookie.split(';')[0]).toBe(cookie);
    expect(sessions.end(both, secret, false)).toBeUndefined(); // the other tab's session holds the cookie
  });

  it('end on sign-out only with the secret: a cookie alone signs nobody out', () => {
    const sessions = new ConsoleSessions(() => 0, { holderOf: (fingerprint) => ({ name: fingerprint, role: 'viewer' }) });
    const [cookie, secret] = credentialsOf(sessions.start({ identity: { name: 'wall', role: 'viewer' }, fingerprint: 'wall' }, false)!);
    expect(sessions.end(cookie, undefined, false)).toBeUndefined(); // its session lives: the cookie stays
    expect(sessions.identify(cookie, secret)).toEqual({ name: 'wall', role: 'viewer' });
    expect(sessions.end(cookie, secret, false)).toContain('Max-Age=0');
    expect(sessions.identify(cookie, secret)).toBeUndefined();
  });

  it('let the tabs of one browser sign in side by side: the cookie stays, each tab keeps its own session', () => {
    const sessions = new ConsoleSessions(() => 0, { holderOf: (fingerprint) => ({ name: fingerprint, role: fingerprint === 'desk' ? 'operator' : 'viewer' }) });
    const first = sessions.start({ identity: { name: 'wall', role: 'viewer' }, fingerprint: 'wall' }, false)!;
    const [cookie, wall] = credentialsOf(first);
    const second = sessions.start({ identity: { name: 'desk', role: 'operator' }, fingerprint: 'desk' }, false, cookie)!;
    expect(second.setCookie).toBe(first.setCookie);
    const [, desk] = credentialsOf(second);
    expect([sessions.identify(cookie, wall), sessions.identify(cookie, desk)]).toEqual([{ name: 'wall', role: 'viewer' }, { name: 'desk', role: 'operator' }]);
    expect(sessions.end(cookie, desk, false)).toBeUndefined(); // the other tab still holds a session
    expect([sessions.identify(cookie, wall), sessions.identify(cookie, desk)]).toEqual([{ name: 'wall', role: 'viewer' }, 'wrong-secret']);
    // A cookie this gateway did not give out (set by a page on another port of the host) is not taken on.
    const planted = sessions.start({ identity: { name: 'desk', role: 'operator' }, fingerprint: 'desk' }, false, 'pb_console=chosen-by-someone-else')!;
    expect(planted.setCookie).not.toContain('chosen-by-someone-else');
  });
});
