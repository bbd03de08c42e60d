import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaptureFile } from '../../../adapters/cli/capture-file.js';
import { StartupFailure } from '../../../adapters/cli/startup.js';
import { tempDir } from '../../helpers/gateway-process.js';

describe('CaptureFile', () => {
  it('creates the file 0600 and appends one line per call', () => {
    const file = path.join(tempDir('capture'), 'capture.jsonl');
    const capture = CaptureFile.open(file);
    expect([capture.append('{"a":1}'), capture.append('{"b":2}')]).toEqual([undefined, undefined]);
    capture.close();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe('{"a":1}\n{"b":2}\n');
  });

  it('appends to an earlier capture and narrows it to 0600 when it is open to others', () => {
    const file = path.join(tempDir('capture'), 'capture.jsonl');
    writeFileSync(file, '{"old":1}\n');
    chmodSync(file, 0o644);
    const capture = CaptureFile.open(file);
    capture.append('{"new":2}');
    capture.close();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toBe('{"old":1}\n{"new":2}\n');
  });

  it('a file that cannot be created stops the start with 73, naming --capture', () => {
    const file = path.join(tempDir('capture'), 'missing-dir', 'capture.jsonl');
    let thrown: unknown;
    try {
      CaptureFile.open(file);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StartupFailure);
    expect(thrown).toMatchObject({ exitCode: 73, message: expect.stringMatching(/^--capture .*capture\.jsonl cannot be created or written \(ENOENT\): give --capture a file/) });
  });

  it.skipIf(!existsSync('/dev/full'))('returns a failed write (disk full) instead of throwing it', () => {
    const capture = CaptureFile.open('/dev/full');
    expect(capture.append('{"a":1}')).toMatchObject({ code: 'ENOSPC' });
    capture.close();
  });
});
