import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { STORE_FAULT_FILE_NAME, StoreFaultMark } from '../../../adapters/system/store-fault-mark.js';
import { outboxTestEvent } from '../../helpers/outbox-events.js';
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
    expect(first.earlier).toEqual({ fault: undefined, events: [] });
    const size = statSync(path.join(dir, STORE_FAULT_FILE_NAME)).size;
    expect(size).toBe(64 * 1024);
    first.mark.setFault({ since: 1_000, cause: 'database or disk is full', refusedFrames: 3 });
    first.mark.close();
    expect(statSync(path.join(dir, STORE_FAULT_FILE_NAME)).size).toBe(size);

    const second = StoreFaultMark.open(dir, logger);
    expect(second.earlier.fault).toEqual({ since: 1_000, cause: 'database or disk is full', refusedFrames: 3 });
    second.mark.setFault(undefined);
    second.mark.close();
    expect(StoreFaultMark.open(dir, logger).earlier.fault).toBeUndefined();
  });

  it('reads a mark cut short (a crash in the write) as none, and writes it whole again', () => {
    const dir = dataDir();
    writeFileSync(path.join(dir, STORE_FAULT_FILE_NAME), '{"since":1000,"cau');
    const { logger } = recordingLogger();
    const { mark, earlier } = StoreFaultMark.open(dir, logger);
    mark.close();
    expect(earlier).toEqual({ fault: undefined, events: [] });
    expect(JSON.parse(readFileSync(path.join(dir, STORE_FAULT_FILE_NAME), 'utf8'))).toEqual({ events: [] });
    expect(statSync(path.join(dir, STORE_FAULT_FILE_NAME)).size).toBe(64 * 1024);
  });

  it('keeps the raised events not stored yet, the oldest as many as fit, and says which it could not keep', () => {
    const dir = dataDir();
    const { logger, lines } = recordingLogger();
    const events = Array.from({ length: 200 }, (_, i) => ({ ...outboxTestEvent({ id: `ev-${i}`, account: '1234', receivedAt: 1_000 + i }), reasons: ['x'.repeat(400)] }));
    const { mark } = StoreFaultMark.open(dir, logger);
    mark.setEvents(events.slice(0, 2));
    mark.close();
    expect(StoreFaultMark.open(dir, logger).earlier.events.map((e) => e.id)).toEqual(['ev-0', 'ev-1']);

    const again = StoreFaultMark.open(dir, logger).mark;
    again.setEvents(events);
    again.close();
    const kept = StoreFaultMark.open(dir, logger).earlier.events.map((e) => e.id);
    expect(kept.length).toBeGreaterThan(50);
    expect(kept).toEqual(events.slice(0, kept.length).map((e) => e.id));
    const dropped = lines.filter((l) => /too many of them to keep/.test(l.message ?? '')).map((l) => l.fields.eventId);
    expect(dropped).toEqual(events.slice(kept.length).map((e) => e.id));
  });
});
