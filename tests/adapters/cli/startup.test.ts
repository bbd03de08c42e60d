import { describe, expect, it } from 'vitest';
import { EXIT_CANTCREAT, EXIT_SOFTWARE } from '../../../adapters/cli/config.js';
import { startupFailure } from '../../../adapters/cli/startup.js';
import { GatewayError } from '../../../src/errors.js';
import { DataDirError } from '../../../adapters/system/files.js';
import { NativeModuleError } from '../../../adapters/system/native-modules.js';

describe('start-up failures as sysexits statuses', () => {
  it('a native module that does not load is the installation (70), named with its reinstall command', () => {
    const failure = startupFailure(new NativeModuleError('better-sqlite3', new Error('Could not locate the bindings file. Tried:\n → …')));
    expect(failure.exitCode).toBe(EXIT_SOFTWARE);
    expect(failure.message).toMatch(/^the native module better-sqlite3 cannot be loaded .*--allow-scripts=better-sqlite3/);
  });

  it("an outbox that cannot be written at start-up is 73, with SQLite's cause: a full disk is not a permission problem", () => {
    const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    const failure = startupFailure(new GatewayError('OUTBOX_OPEN_FAILED', 'cannot open the outbox /var/lib/panelbridge/outbox.sqlite', { cause: full }));
    expect(failure.exitCode).toBe(EXIT_CANTCREAT);
    expect(failure.message).toMatch(/outbox\.sqlite.*: database or disk is full/);
  });

  it('a dataDir that cannot be created stays 73', () => {
    expect(startupFailure(new DataDirError('cannot-create', 'dataDir /x cannot be created or written (EACCES)')).exitCode).toBe(EXIT_CANTCREAT);
  });
});
