import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ConsoleAuth } from './sessions.js';

/** The admin token file the API's token registry uses too (`{dataDir}/api-token`, mode 0600). */
export const ADMIN_TOKEN_FILE = 'api-token';

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/**
 * Until the API has its token registry (roles per token), the console accepts the gateway's admin token only:
 * `{dataDir}/api-token`, created at first start. The comparison is of SHA-256 digests in constant time.
 */
export function adminTokenAuth(dataDir: string): ConsoleAuth {
  const file = path.join(dataDir, ADMIN_TOKEN_FILE);
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(file, `pbt_${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  const expected = sha256(readFileSync(file, 'utf8').trim());
  return {
    authenticate: (token) => (timingSafeEqual(sha256(token), expected) ? { name: 'admin', role: 'admin' } : undefined),
  };
}
