import { describe, expect, it } from 'vitest';
import { ConsoleSessions, MAX_SESSIONS, MAX_SESSIONS_PER_NAME } from '../../../../adapters/api/console/sessions.js';
import { createToken, TokenRegistry, type AuthenticatedToken } from '../../../../adapters/api/tokens.js';
import { apiSchema } from '../../../../src/settings/settings.js';
import { tempDir } from '../../../helpers/gateway-process.js';

/** Tokens kept in a fresh dataDir (no configured ones), as `panelbridge token create` makes them. */
function registryIn(dir: string): TokenRegistry {
  const loaded = TokenRegistry.load(apiSchema.parse({ port: 0 }), dir);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.registry;
}

/** The Cookie header a browser sends back after sign-in. */
const cookieOf = (setCookie: string) => setCookie.split(';')[0]!;

describe('console sessions', () => {
  it('end when their token is replaced under the same name, though the session itself has not expired', () => {
    const dir = tempDir('console-sessions');
    const tokens = registryIn(dir);
    const sessions = new ConsoleSessions(() => 0, tokens);
    const leaked = tokens.authenticateToken(createToken(dir, { name: 'desk', role: 'operator' }))!;
    const cookie = cookieOf(sessions.start(leaked, false)!);
    expect(sessions.identify(cookie)).toEqual({ name: 'desk', role: 'operator' });
    createToken(dir, { name: 'desk', role: 'operator' }); // `token create --name desk` again
    expect(sessions.identify(cookie)).toBeUndefined();
  });

  it('cap each token name: signing in over and over ends only that name\'s oldest session', () => {
    const dir = tempDir('console-sessions');
    const tokens = registryIn(dir);
    const sessions = new ConsoleSessions(() => 0, tokens);
    const viewer = tokens.authenticateToken(createToken(dir, { name: 'wall-screen', role: 'viewer' }))!;
    const installer = cookieOf(sessions.start(tokens.authenticateToken(createToken(dir, { name: 'installer', role: 'installer' }))!, false)!);
    const viewerCookies = Array.from({ length: MAX_SESSIONS + 1 }, () => cookieOf(sessions.start(viewer, false)!));
    expect(sessions.identify(installer)).toEqual({ name: 'installer', role: 'installer' });
    expect(viewerCookies.filter((cookie) => sessions.identify(cookie) !== undefined)).toEqual(viewerCookies.slice(-MAX_SESSIONS_PER_NAME));
  });

  it('refuse a name holding none when every session is taken by other names, and still let those names sign in again', () => {
    const sessions = new ConsoleSessions(() => 0, { holderOf: () => undefined });
    const token = (name: string): AuthenticatedToken => ({ identity: { name, role: 'viewer' }, fingerprint: name });
    const names = Math.ceil(MAX_SESSIONS / MAX_SESSIONS_PER_NAME);
    for (let i = 0; i < MAX_SESSIONS; i++) expect(sessions.start(token(`screen-${i % names}`), false)).toBeDefined();
    expect(sessions.start(token('newcomer'), false)).toBeUndefined();
    expect(sessions.start(token('screen-0'), false)).toBeDefined(); // in place of its own oldest
  });
});
