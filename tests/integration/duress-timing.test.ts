import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../adapters/system/audit-log.js';
import { Assurance } from '../../src/assurance/assurance.js';
import { AssuranceStore } from '../../src/assurance/store.js';
import { supervisionPolicy } from '../../src/assurance/supervision.js';
import { EventBus } from '../../src/bus.js';
import type { NormalizedEvent } from '../../src/model/event.js';
import { createIdSource, seededRandom } from '../../src/model/ids.js';
import { Counters } from '../../src/observability/counters.js';
import { SqliteOutbox } from '../../src/outbox/sqlite-outbox.js';
import { eventFromSignal, VERIFIED } from '../../src/pipeline/event-builder.js';
import { Recorder } from '../../src/pipeline/recorder.js';
import { silentLogger } from '../../src/ports.js';
import type { Signal } from '../../src/model/signal.js';
import { capturingLogger, cid, FakeClock, SITES, type LogLine } from '../helpers/assurance-harness.js';
import { tempDir } from '../helpers/gateway-process.js';

/**
 * An observer on the panel network times the answers to frames, its own included (a NULL poll is answered at once).
 * Every durable write that blocks the event loop delays the answers behind it by an fsync, so a durable write only a
 * duress causes (its incident and device rows, its `duress-stored` audit record) would show a duress as a stall just
 * after its ACK: measured on the built gateway, a poll sent right after a duress's ACK was answered ~1.7 ms later
 * than one after a burglary's (medians), before these writes were synced off the event loop.
 *
 * A log line is a write too (to journald's socket or a pipe): the duress's own lines, before its answer, delayed
 * that answer alone.
 *
 * What the event loop does for a frame is counted at its seams: the outbox's commits (its listeners hear one per
 * commit), and the syncs the ledger and the audit log hand to the background (a sync not handed over runs on the
 * event loop, as every one did before).
 */
describe('what a duress costs the event loop, against an ordinary alarm of the same site', () => {
  const dirs: string[] = [];
  const closers: Array<() => void> = [];
  afterEach(() => {
    for (const close of closers.splice(0).reverse()) close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  async function gateway() {
    const dir = tempDir('duress-timing');
    dirs.push(dir);
    const clock = new FakeClock();
    const syncs: string[] = [];
    const countingSync = (file: string) => {
      syncs.push(path.basename(file));
      return Promise.resolve();
    };
    const outbox = SqliteOutbox.open({ dataDir: dir, clock });
    outbox.registerOutputs(['central']);
    const commits: NormalizedEvent[][] = [];
    outbox.onAppend((entries) => commits.push(entries.map((e) => e.event)));
    const store = AssuranceStore.openIn(dir, countingSync);
    const audit = AuditLog.open(dir, clock, {}, countingSync);
    closers.push(() => outbox.close(), () => store.close(), () => audit.close());
    const logs: LogLine[] = [];
    const logger = capturingLogger(logs);
    const builder = { ids: createIdSource(clock, seededRandom(3)), sites: () => SITES };
    const bus = new EventBus({ logger: silentLogger });
    const recorder = new Recorder({ outbox, counters: new Counters(), logger, backlogLimit: 1_000, bus });
    const assurance = new Assurance({
      store,
      sites: () => SITES,
      clock,
      builder,
      record: (events) => recorder.recordRaised(events),
      logger,
      duressDeadlineMs: 10_000,
      supervision: supervisionPolicy(undefined, [], () => SITES),
      centralOutputs: new Set(['central']),
      audit: (entry) => audit.append(entry),
    });
    recorder.setAnnotator(assurance);
    bus.onFrameStored(assurance, (events) => assurance.stored(events));

    /** Lets every write scheduled so far run, and their syncs. */
    const settled = async () => {
      // The ledger writes at most every few ms, the audit log a turn later.
      await new Promise((resolve) => setTimeout(resolve, 50));
      await audit.synced();
    };
    await settled(); // the devices the ledger enrolled at start

    /** Stores `signal` as a frame, lets every write it scheduled run, and says what the event loop did for it. */
    async function frame(signal: Signal) {
      commits.length = 0;
      syncs.length = 0;
      logs.length = 0;
      clock.advance(60_000);
      const event = eventFromSignal(signal, { input: 'panel', transport: 'tcp', receivedAt: clock.now(), raw: new Uint8Array([0x31]), trust: VERIFIED }, builder);
      const recorded = await recorder.record([event]);
      expect(recorded.ok).toBe(true);
      // What was logged by the time the input decides the answer (it builds the ACK where this resumes).
      const loggedBeforeAnswer = logs.map((line) => line.msg);
      await settled();
      return {
        commits: commits.map((c) => c.map((e) => e.category)),
        backgroundSyncs: [...new Set(syncs)].sort(),
        loggedBeforeAnswer,
        logged: logs.map((line) => line.msg),
      };
    }
    return { frame, dir, store };
  }

  it('a duress takes the one outbox commit a burglary takes, and its ledger and audit writes are synced off the event loop', async () => {
    const { frame, dir, store } = await gateway();
    const burglary = await frame(cid('130', 3));
    const duress = await frame(cid('121', 12));
    expect(burglary.commits).toEqual([['burglary']]);
    expect(duress.commits).toEqual([['duress']]);
    expect(burglary.backgroundSyncs).toEqual([]);
    // The incident it opened and the device it used (assurance.sqlite's WAL), its audit record (audit.jsonl).
    expect(duress.backgroundSyncs).toEqual(['assurance.sqlite-wal', 'audit.jsonl']);
    const [incident] = store.openIncidents();
    store.close();
    // Committed without a sync of its own on the event loop: the rows are in the file all the same.
    const reopened = AssuranceStore.openIn(dir);
    expect(reopened.openIncidents().map((i) => i.id)).toEqual([incident!.id]);
    reopened.close();
  });

  it('a duress writes no log line before its answer that a burglary does not: its lines follow the answer', async () => {
    const { frame } = await gateway();
    const burglary = await frame(cid('130', 3));
    const duress = await frame(cid('122', 5));
    expect(duress.loggedBeforeAnswer).toEqual(burglary.loggedBeforeAnswer);
    expect([...duress.logged].sort()).toEqual(['duress event stored', 'duress incident opened; it stays open until acknowledged']);
  });
});
