import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OUTBOX_FILE_NAME, SqliteOutbox } from '../../../src/outbox/sqlite-outbox.js';
import { FakeClock, outboxTestEvent } from '../../helpers/outbox-events.js';

const DAY = 86_400_000;

/**
 * Upgrade from the release before retired outputs (outbox schema 2). Then an output removed from the configuration
 * kept its cursor on disk for good, its watermark where that output stopped, maybe months ago. Retired at the first
 * start after the upgrade, every event stored since and still kept (30 days at the default retention), all delivered
 * by the configured outputs, would count as its "undelivered": dead-lettered (with their duress in an error line),
 * or sent to an output added at the same start (a month of old hold-ups to a monitoring centre), although "an output
 * seen for the first time starts at the current head". README "Renaming or removing an output": such a cursor is
 * dropped, as the release before ignored it.
 */
describe('upgrade with a cursor left by an output removed before the upgrade', () => {
  let dataDir: string;
  let clock: FakeClock;
  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'panelbridge-stale-cursor-'));
    clock = new FakeClock();
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  /** An outbox as the previous release leaves it: schema 2, a cursor for 'old-webhook' (removed 40 days ago). */
  async function previousReleaseOutbox(): Promise<void> {
    const outbox = SqliteOutbox.open({ dataDir, clock });
    outbox.registerOutputs(['old-webhook', 'cms']);
    const first = await outbox.append([outboxTestEvent({ id: 'e0', account: '1000', receivedAt: clock.now() })]);
    outbox.markDelivered('old-webhook', [first.entries[0]!.seq]);
    outbox.markDelivered('cms', [first.entries[0]!.seq]);
    outbox.close();
    const db = new Database(path.join(dataDir, OUTBOX_FILE_NAME));
    db.exec('ALTER TABLE output_cursor DROP COLUMN audience');
    db.pragma('user_version = 2');
    // 'old-webhook' was removed from the configuration; the previous release ran on with 'cms' only for 40 days,
    // 30 of which retention keeps: 100 events, two of them hold-ups, all delivered by 'cms'.
    const insert = db.prepare('INSERT INTO entry (account, duress, received_at, stored_at, dedupe_key, event) VALUES (?, ?, ?, ?, NULL, ?)');
    for (let i = 1; i <= 100; i++) {
      const at = clock.now() + 10 * DAY + i * 60_000;
      const duress = i === 20 || i === 70;
      insert.run('1000', duress ? 1 : 0, at, at, JSON.stringify(outboxTestEvent({ id: `e${i}`, account: '1000', duress, receivedAt: at })));
    }
    db.prepare(`UPDATE output_cursor SET watermark = (SELECT max(seq) FROM entry) WHERE output = 'cms'`).run();
    db.close();
    clock.advance(41 * DAY);
  }

  it('drops the cursor and reports it, without dead-lettering events stored after the output had left', async () => {
    await previousReleaseOutbox();
    const outbox = SqliteOutbox.open({ dataDir, clock });
    const registration = outbox.registerOutputs(['cms']);
    const dead = outbox.deadLetterCount();
    outbox.close();
    expect({ registration, dead }).toEqual({ registration: { retired: [], forgotten: ['old-webhook'] }, dead: 0 });
  });

  it('starts an output added at the upgrade at the current head, not 30 days back', async () => {
    await previousReleaseOutbox();
    const outbox = SqliteOutbox.open({ dataDir, clock });
    outbox.registerOutputs(['cms', 'cms-dc09']);
    const backlog = outbox.backlog('cms-dc09');
    const oldHoldUps = outbox.pendingDuress('cms-dc09', 10).map((e) => e.event.id);
    outbox.close();
    expect({ backlog, oldHoldUps }).toEqual({ backlog: 0, oldHoldUps: [] });
  });

  it('retires an output configured since the upgrade as any other: its audience is stored', async () => {
    await previousReleaseOutbox();
    let outbox = SqliteOutbox.open({ dataDir, clock });
    outbox.registerOutputs(['cms']);
    await outbox.append([outboxTestEvent({ id: 'after', account: '1000', duress: true, receivedAt: clock.now() })]);
    outbox.close();
    outbox = SqliteOutbox.open({ dataDir, clock });
    const registration = outbox.registerOutputs(['cms-2']);
    outbox.close();
    expect(registration).toEqual({ retired: [{ output: 'cms', undelivered: 1, duress: 1, handedTo: ['cms-2'] }], forgotten: [] });
  });
});
