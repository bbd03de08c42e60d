import { chmodSync, chownSync, existsSync, linkSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
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

  it('starts on a line of its own after a capture cut mid-record (the gateway crashed while writing it)', () => {
    const file = path.join(tempDir('capture'), 'capture.jsonl');
    writeFileSync(file, '{"old":1}\n{"t":"2024-05-01T08:0');
    const capture = CaptureFile.open(file);
    capture.append('{"new":2}');
    capture.close();
    // The first record after the restart is whole, not glued to the cut one.
    expect(readFileSync(file, 'utf8')).toBe('{"old":1}\n{"t":"2024-05-01T08:0\n{"new":2}\n');
  });

  function refusal(file: string): unknown {
    try {
      CaptureFile.open(file).close();
    } catch (error) {
      return error;
    }
    return undefined;
  }

  // A local user who can write where the capture goes (a shared directory) plants the path before the operator runs
  // `run --capture`: as a symlink or hard link to a file of the gateway's (its outbox: JSON appended to it), or as a
  // file of their own, open to them, that every frame would be appended to, duress included.
  it('refuses a symlink at the path instead of appending to what it points at', () => {
    const dir = tempDir('capture');
    const victim = path.join(dir, 'outbox.sqlite');
    writeFileSync(victim, 'SQLite format 3\0');
    symlinkSync(victim, path.join(dir, 'capture.jsonl'));
    expect(refusal(path.join(dir, 'capture.jsonl'))).toMatchObject({ exitCode: 73, message: expect.stringMatching(/^--capture .* \(ELOOP\): /) });
    expect(readFileSync(victim, 'utf8')).toBe('SQLite format 3\0');
  });

  it('refuses a file with a second name (a hard link to a file of the gateway)', () => {
    const dir = tempDir('capture');
    writeFileSync(path.join(dir, 'outbox.sqlite'), 'SQLite format 3\0');
    linkSync(path.join(dir, 'outbox.sqlite'), path.join(dir, 'capture.jsonl'));
    expect(refusal(path.join(dir, 'capture.jsonl'))).toMatchObject({ exitCode: 73, message: expect.stringMatching(/has other names/) });
    expect(readFileSync(path.join(dir, 'outbox.sqlite'), 'utf8')).toBe('SQLite format 3\0');
  });

  it.skipIf(process.getuid?.() !== 0)('refuses a file another user owns, whatever its mode', () => {
    const file = path.join(tempDir('capture'), 'capture.jsonl');
    writeFileSync(file, '');
    chmodSync(file, 0o666);
    chownSync(file, 65534, 65534);
    expect(refusal(file)).toMatchObject({ exitCode: 73, message: expect.stringMatching(/belongs to another user/) });
    expect(readFileSync(file, 'utf8')).toBe('');
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
