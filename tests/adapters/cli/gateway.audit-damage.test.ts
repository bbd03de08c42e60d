import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Gateway } from '../../../adapters/cli/gateway.js';
import { auditFile } from '../../../adapters/system/audit-log.js';
import { createRootLogger } from '../../../adapters/system/logger.js';
import type { NormalizedEvent } from '../../../src/model/event.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { systemClock } from '../../../src/ports.js';
import { parseSettings } from '../../../src/settings/settings.js';
import { tempDir } from '../../helpers/gateway-process.js';

/**
 * Whoever can write dataDir edits or cuts the audit log while the gateway is stopped. The start used to log it
 * (a broken chain) or not notice it (records cut off the end); central, the copy nobody on site can edit, heard
 * nothing. Now it gets a covert supervisory event saying what was found.
 */

const running: Gateway[] = [];
afterEach(async () => {
  for (const gateway of running.splice(0)) await gateway.stop();
});

const SITES = [{ id: 'bank-1', accounts: ['1234'], zones: [{ number: 5, name: 'Teller 1 hold-up button', type: 'holdup' }] }];

/** A live gateway on `dataDir` (no inputs); every event it stores is kept in `stored`. */
async function start(dataDir: string, stored: NormalizedEvent[]): Promise<Gateway> {
  const parsed = parseSettings(JSON.stringify({ dataDir, inputs: [], outputs: [], sites: SITES }));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const outbox = new MemoryOutbox();
  const append = outbox.append.bind(outbox);
  outbox.append = (events, options) => {
    stored.push(...events);
    return append(events, options);
  };
  const started = await Gateway.start({ settings: parsed.settings, logger: createRootLogger({ level: 'silent' }), clock: systemClock, outbox });
  if (!('gateway' in started)) throw new Error(JSON.stringify(started.issues));
  running.push(started.gateway);
  return started.gateway;
}

/** Starts and stops a gateway on a new dataDir with sites that change each time, so its audit log holds records. */
async function dataDirWithRecords(): Promise<string> {
  const dataDir = tempDir('audit-damage');
  await start(dataDir, []);
  await running.pop()!.stop();
  return dataDir;
}

const auditReports = (stored: readonly NormalizedEvent[]) =>
  stored.filter((e) => e.category === 'supervisory' && e.reasons.some((reason) => reason.includes('audit log')));

describe('a start that finds the audit log damaged', () => {
  it('tells central when records were cut off its end (no break in the chain)', async () => {
    const dataDir = await dataDirWithRecords();
    writeFileSync(auditFile(dataDir), '');
    const stored: NormalizedEvent[] = [];
    await start(dataDir, stored);
    await expect.poll(() => auditReports(stored)).toHaveLength(1);
    expect(auditReports(stored)[0]).toMatchObject({ covert: true, account: null });
    expect(auditReports(stored)[0]!.reasons.join(' ')).toMatch(/the audit log holds no record: records 1 to \d+ are missing/);
  });

  it('tells central when its chain is broken (a record edited)', async () => {
    const dataDir = await dataDirWithRecords();
    const text = readFileSync(auditFile(dataDir), 'utf8');
    writeFileSync(auditFile(dataDir), text.replace('"how":"start"', '"how":"restart"'));
    const stored: NormalizedEvent[] = [];
    await start(dataDir, stored);
    await expect.poll(() => auditReports(stored)).toHaveLength(1);
    expect(auditReports(stored)[0]!.reasons.join(' ')).toMatch(/audit log chain is broken at record 1/);
  });

  it('tells central nothing when the log is as the gateway left it', async () => {
    const dataDir = await dataDirWithRecords();
    const stored: NormalizedEvent[] = [];
    const gateway = await start(dataDir, stored);
    await gateway.stop();
    running.pop();
    expect(auditReports(stored)).toEqual([]);
  });
});
