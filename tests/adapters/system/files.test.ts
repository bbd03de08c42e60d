import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensurePrivateSecret } from '../../../adapters/system/files.js';
import { tempDir } from '../../helpers/gateway-process.js';

describe('ensurePrivateSecret', () => {
  it('creates the secret 0600 once and reads it back after', () => {
    const file = path.join(tempDir('secret'), 'mqtt-password');
    const secret = ensurePrivateSecret(file, () => 'first-secret');
    expect(ensurePrivateSecret(file, () => 'second-secret')).toBe(secret);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe('first-secret\n');
  });

  // A crash between creating the file and writing it leaves it empty: an empty password would let in any client
  // that presents an empty one.
  it('replaces an empty file with a new secret', () => {
    const file = path.join(tempDir('secret'), 'mqtt-password');
    writeFileSync(file, '\n', { mode: 0o600 });
    expect(ensurePrivateSecret(file, () => 'new-secret')).toBe('new-secret');
    expect(readFileSync(file, 'utf8')).toBe('new-secret\n');
  });
});
