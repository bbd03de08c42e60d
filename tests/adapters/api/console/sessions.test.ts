import { describe, expect, it } from 'vitest';
import { ConsoleSessions } from '../../../../adapters/api/console/sessions.js';
import { createToken, TokenRegistry } from '../../../../adapters/api/tokens.js';
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
    const cookie = cookieOf(sessions.start(leaked, false));
    expect(sessions.identify(cookie)).toEqual({ name: 'desk', role: 'operator' });
    createToken(dir, { name: 'desk', role: 'operator' }); // `token create --name desk` again
    expect(sessions.identify(cookie)).toBeUndefined();
  });
});
