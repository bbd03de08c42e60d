import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { STORE_FAULT_FILE_NAME, StoreFaultMark } from '../../../adapters/system/store-fault-mark.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

describe('the store fault mark', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const dataDir = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'panelbridge-store-fault-'));
    dirs.push(dir);
    return dir;
  };

  it('keeps a fault across a restart until cleared, in a file that never changes size', () => {
    const dir = dataDir();
    const { logger } = recordingLogger();
    const first = StoreFaultMark.open(dir, logger);
    expect(first.earlier).toBeUndefined();
    const size = statSync(path.join(dir, STORE_FAULT_FILE_NAME)).size;
    expect(size).toBe(4096);
    first.mark.write({ since: 1_000, cause: 'database or disk is full', refusedFrames: 3 });
    first.mark.close();
    expect(statSync(path.join(dir, STORE_FAULT_FILE_NAME)).size).toBe(size);

    const second = StoreFaultMark.open(dir, logger);
    expect(second.earlier).toEqual({ since: 1_000, cause: 'database or disk is full', refusedFrames: 3 });
    second.mark.clear();
    second.mark.close();
    expect(StoreFaultMark.open(dir, logger).earlier).toBeUndefined();
  });

  it('reads a mark cut short (a crash in the write) as none, and writes it whole again', () => {
    const dir = dataDir();
    writeFileSync(path.join(dir, STORE_FAULT_FILE_NAME), '{"since":1000,"cau');
    const { logger } = recordingLogger();
    const { mark, earlier } = StoreFaultMark.open(dir, logger);
    mark.close();
    expect(earlier).toBeUndefined();
    expect(readFileSync(path.join(dir, STORE_FAULT_FILE_NAME), 'utf8').trim()).toBe('');
    expect(statSync(path.join(dir, STORE_FAULT_FILE_NAME)).size).toBe(4096);
  });
});
