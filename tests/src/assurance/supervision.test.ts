import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AssuranceStore } from '../../../src/assurance/store.js';
import { MAX_LEARNED_LINKS, supervisionPolicy } from '../../../src/assurance/supervision.js';
import { sitesSchema } from '../../../src/settings/sites.js';
import { parseSettings } from '../../../src/settings/settings.js';
import { cid, FakeClock, harness, reasonText, SITES } from '../../helpers/assurance-harness.js';

const SECOND = 1_000;
const HOUR = 3_600 * SECOND;

describe('supervision settings', () => {
  it('accept `supervision` per DC-09 account, per site and globally', () => {
    const parsed = parseSettings(`
supervision: 1h
inputs:
  - { type: dc09, name: rx, port: 0, accounts: [{ account: "1234", supervision: 90s }] }
outputs: [{ type: stdout, name: out }]
sites: [{ id: s1, accounts: ["5678"], supervision: 5m }]
`);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const input = parsed.settings.inputs[0]!;
    expect(input.type === 'dc09' && input.accounts?.[0]?.supervision).toBe(90_000);
    expect(parsed.settings.sites[0]!.supervision).toBe(300_000);
    expect(parsed.settings.supervision).toBe(3_600_000);
    const zero = parseSettings('supervision: 0s\ninputs: []\noutputs: []');
    expect(zero.ok).toBe(false);
  });

  it('take the account\'s own interval, else its site\'s, else the global one', () => {
    const sites = sitesSchema.parse([{ id: 's1', accounts: ['5678', 'AB12'], supervision: '5m' }]);
    const policy = supervisionPolicy(3_600_000, [{ account: '1234', supervision: 90_000 }, { account: 'ab12', supervision: 30_000 }, { account: '4444' }], () => sites);
    expect(policy.intervalFor('1234')).toBe(90_000);
    expect(policy.intervalFor('AB12')).toBe(30_000);
    expect(policy.intervalFor('5678')).toBe(300_000);
    expect(policy.intervalFor('9999')).toBe(3_600_000);
    expect(policy.accounts()).toEqual(['1234', 'ab12', '4444', '5678']);
    const none = supervisionPolicy(undefined, [{ account: '4444' }], () => sites);
    expect(none.intervalFor('4444')).toBeUndefined();
    expect(none.accounts()).toEqual(['5678', 'AB12']);
  });
});

describe('link supervision', () => {
  const ninetySeconds = { accounts: [{ account: '1234', supervision: 90 * SECOND }] };

  it('reports silence past the interval once, and the restore when traffic returns', async () => {
    const h = harness({ supervision: ninetySeconds });
    h.clock.advance(60 * SECOND);
    h.assurance.traffic('1234', h.clock.now()); // a DC-09 NULL
    h.clock.advance(90 * SECOND);
    await h.tick();
    expect(h.supervisory()).toEqual([]);
    h.clock.advance(1);
    await h.tick();
    h.clock.advance(10 * 60 * SECOND);
    await h.tick();
    const [lost] = h.supervisory();
    expect(h.supervisory()).toHaveLength(1);
    expect(lost).toMatchObject({ category: 'supervisory', qualifier: 'new', account: '1234', site: { id: 'bank-1' } });
    expect(reasonText(lost!)).toBe('communication lost: no message from account 1234 for 90 s (supervision 90s)');
    expect(h.assurance.health().lostLinks).toEqual([{ account: '1234', since: new Date(h.clock.now() - 10 * 60 * SECOND).toISOString() }]);

    await h.receive(cid('602', 0)); // any event resets it
    await h.assurance.flush();
    const restored = h.supervisory()[1]!;
    expect(restored).toMatchObject({ category: 'supervisory', qualifier: 'restore', account: '1234' });
    expect(reasonText(restored)).toMatch(/communication restored: account 1234 reported again after 690 s of silence/);
    expect(h.assurance.health().lostLinks).toEqual([]);
  });

  it('starts the clock at start-up for configured accounts that never reported', async () => {
    const h = harness({ supervision: ninetySeconds });
    h.clock.advance(91 * SECOND);
    await h.tick();
    expect(h.supervisory().map((e) => e.account)).toEqual(['1234']);
  });

  it('supervises an account that is not configured once it reports, under the global interval', async () => {
    const h = harness({ supervision: { global: 5 * 60 * SECOND } });
    await h.receive(cid('130', 1, { account: '7777' }));
    h.clock.advance(5 * 60 * SECOND + 1);
    await h.tick();
    // 1234 and 5678 belong to sites (configured); 7777 reported once.
    expect(h.supervisory().map((e) => e.account).sort()).toEqual(['1234', '5678', '7777']);
  });

  it('does not count its own supervisory events as traffic from the account', async () => {
    const h = harness({ supervision: ninetySeconds, sites: SITES });
    h.clock.advance(91 * SECOND);
    await h.tick(); // lost: a supervisory event for account 1234 is stored
    h.clock.advance(SECOND);
    await h.tick();
    expect(h.supervisory().map((e) => e.qualifier)).toEqual(['new']);
  });

  /** Account 1234 reported while the host clock ran an hour fast; then NTP stepped the clock back. */
  function trafficAheadOfTheClock() {
    const h = harness({ supervision: ninetySeconds });
    h.clock.step(HOUR);
    h.assurance.traffic('1234', h.clock.now());
    h.clock.step(-HOUR);
    return h;
  }

  it('reports a line cut after the clock was stepped back past the last traffic', async () => {
    const h = trafficAheadOfTheClock();
    for (let poll = 0; poll < 10; poll++) {
      h.clock.advance(30 * SECOND);
      h.assurance.traffic('1234', h.clock.now());
      await h.tick();
    }
    h.clock.advance(91 * SECOND);
    await h.tick();
    expect(h.assurance.health().lostLinks.map((l) => l.account)).toEqual(['1234']);
  });

  it('reports a line cut as the clock was stepped back one interval later, not an hour', async () => {
    const h = trafficAheadOfTheClock();
    await h.tick();
    h.clock.advance(91 * SECOND);
    await h.tick();
    expect(h.assurance.health().lostLinks.map((l) => l.account)).toEqual(['1234']);
  });

  it('reports an account that never reported after the clock was stepped back past the start', async () => {
    const clock = new FakeClock();
    clock.step(HOUR); // the gateway starts on a clock an hour fast
    const h = harness({ clock, supervision: ninetySeconds });
    clock.step(-HOUR);
    await h.tick();
    clock.advance(91 * SECOND);
    await h.tick();
    expect(h.supervisory().map((e) => e.account)).toEqual(['1234']);
  });

  /** A Pi has no RTC: it boots on the time it shut down at, and NTP steps the clock forward once it syncs. */
  it('does not report every link lost when NTP steps a stale boot clock forward by days, and still reports a cut', async () => {
    const clock = new FakeClock();
    const h = harness({ clock, supervision: { accounts: [{ account: '1234', supervision: 90 * SECOND }, { account: '5678', supervision: 90 * SECOND }] } });
    clock.advance(10 * SECOND);
    h.assurance.traffic('1234', clock.now());
    clock.step(3 * 24 * HOUR);
    await h.tick();
    expect(h.supervisory()).toEqual([]);
    clock.advance(80 * SECOND); // 90 s after the start, 80 s after 1234's traffic: neither silent past its interval
    await h.tick();
    expect(h.supervisory()).toEqual([]);
    clock.advance(11 * SECOND);
    await h.tick();
    expect(h.supervisory().map((e) => e.account)).toEqual(['1234', '5678']);
    expect(reasonText(h.supervisory()[0]!)).toMatch(/no message from account 1234 for 91 s/);
  });

  it('keeps a lost link lost across a restart: no second loss, one restore', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-supervision-'));
    try {
      const clock = new FakeClock();
      const first = harness({ clock, store: AssuranceStore.openIn(dir), supervision: ninetySeconds });
      clock.advance(100 * SECOND);
      await first.tick();
      expect(first.supervisory()).toHaveLength(1);
      first.store.close();

      clock.advance(100 * SECOND);
      const second = harness({ clock, store: AssuranceStore.openIn(dir), supervision: ninetySeconds });
      await second.tick();
      expect(second.supervisory()).toEqual([]);
      second.assurance.traffic('1234', clock.now());
      await second.assurance.flush();
      expect(second.supervisory().map((e) => e.qualifier)).toEqual(['restore']);
      second.store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('links learned from traffic', () => {
  const FLOOD = 20_000;
  const flooded = (i: number): string => `F${i}`;
  const tracked = (h: ReturnType<typeof harness>, accounts: readonly string[]): string[] =>
    accounts.filter((account) => h.assurance.supervision.linkOf(account).lastSeenAt !== null);

  it('are kept for at most MAX_LEARNED_LINKS accounts: a flood of made-up accounts evicts the quietest, never a configured account nor one that keeps reporting', () => {
    const h = harness({ supervision: { global: 90 * SECOND } });
    h.assurance.traffic('1234', h.clock.now()); // bank-1's account: configured, supervised from the start
    h.assurance.traffic('C0FFEE', h.clock.now()); // a panel nobody configured, reporting all along
    for (let i = 0; i < FLOOD; i++) {
      h.clock.advance(1);
      h.assurance.traffic(flooded(i), h.clock.now());
      if (i % 1_000 === 0) h.assurance.traffic('C0FFEE', h.clock.now());
    }
    const kept = tracked(h, Array.from({ length: FLOOD }, (_, i) => flooded(i)));
    expect(kept.length).toBeLessThanOrEqual(MAX_LEARNED_LINKS);
    expect(kept).toContain(flooded(FLOOD - 1));
    expect(tracked(h, ['1234', 'C0FFEE'])).toEqual(['1234', 'C0FFEE']);
    // Every eviction is counted; the log has a few lines with their counts, not one per account.
    expect(h.counters.get('assurance_records_evicted_total', { kind: 'link' })).toBe(FLOOD + 1 - MAX_LEARNED_LINKS);
    const lines = h.logs.filter((l) => l.msg?.startsWith('supervision forgot'));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThan(5);
  });

  // A sender that cuts a panel's line and then names thousands of made-up accounts within the supervision interval
  // evicts that panel's silent link before it is reported lost: central must hear that supervision is degraded.
  it('tell central, once an hour while they go on, that links are being forgotten and a cut line may go unreported', async () => {
    const h = harness({ supervision: { global: 90 * SECOND } });
    h.assurance.traffic('C0FFEE', h.clock.now()); // a real panel nobody configured; its line is then cut
    for (let i = 0; i < MAX_LEARNED_LINKS + 10; i++) {
      h.clock.advance(1);
      h.assurance.traffic(flooded(i), h.clock.now());
    }
    await h.assurance.flush();
    expect(tracked(h, ['C0FFEE'])).toEqual([]);
    const degraded = () => h.supervisory().filter((e) => e.reasons.some((r) => r.startsWith('supervision degraded')));
    expect(degraded()).toHaveLength(1);
    expect(degraded()[0]).toMatchObject({ qualifier: 'new', covert: true });
    expect(degraded()[0]!.reasons[0]).toContain('C0FFEE');
    // Within the hour more evictions raise nothing more; after it, one more event counts them.
    for (let i = 0; i < 100; i++) h.assurance.traffic(flooded(MAX_LEARNED_LINKS + 10 + i), h.clock.now());
    await h.assurance.flush();
    expect(degraded()).toHaveLength(1);
    h.clock.advance(HOUR);
    h.assurance.traffic('NEW1', h.clock.now());
    await h.assurance.flush();
    expect(degraded()).toHaveLength(2);
    expect(degraded()[1]!.reasons[0]).toMatch(/\b111 links forgotten/);
  });

  /** The eviction queue marks which links reported since they were queued: a step must not mark them all. */
  it('still evict the quietest link after the wall clock was stepped, not one that reported since', () => {
    const clock = new FakeClock();
    const h = harness({ clock, supervision: { global: HOUR } });
    for (let i = 0; i < MAX_LEARNED_LINKS; i++) h.assurance.traffic(flooded(i), clock.now());
    clock.step(3 * 24 * HOUR); // NTP setting a Pi that booted on a stale clock
    clock.advance(SECOND);
    h.assurance.traffic(flooded(0), clock.now()); // first in the queue, but it keeps reporting
    h.assurance.traffic('NEW', clock.now());
    h.assurance.traffic('NEWER', clock.now());
    expect(tracked(h, [flooded(0), flooded(1), flooded(2)])).toEqual([flooded(0)]);
  });

  it('forget a lost link they evict in the store too: central had its loss, and no restart brings it back', async () => {
    const h = harness({ supervision: { global: 90 * SECOND } });
    h.assurance.traffic('DEAD01', h.clock.now());
    h.clock.advance(91 * SECOND);
    await h.tick();
    expect(h.supervisory().map((e) => `${e.account} ${e.qualifier}`).sort()).toEqual(['1234 new', '5678 new', 'DEAD01 new']);
    for (let i = 0; i < MAX_LEARNED_LINKS; i++) h.assurance.traffic(flooded(i), h.clock.now());
    expect(h.assurance.health().lostLinks.map((l) => l.account).sort()).toEqual(['1234', '5678']);
    expect(h.store.lostLinks().map((l) => l.account).sort()).toEqual(['1234', '5678']);
  });
});
