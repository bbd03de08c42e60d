import { describe, expect, it } from 'vitest';
import { cid, DAY, harness, reasonText } from '../../helpers/assurance-harness.js';

describe('a step of the host clock', () => {
  it('tells central which receipt times it made wrong, at the next check, once', async () => {
    const h = harness();
    const startedAt = new Date(h.clock.now()).toISOString();
    h.clock.advance(5_000);
    const stale = await h.receive(cid('130', 3)); // a Pi booted on the time it shut down at
    h.clock.advance(1_000);
    h.clock.step(3 * DAY); // NTP syncs
    const synced = await h.receive(cid('130', 4));
    await h.tick();
    await h.tick();
    expect(h.supervisory()).toEqual([]);
    const told = h.clockStepReports();
    expect(told).toHaveLength(1);
    expect(told[0]).toMatchObject({ category: 'supervisory', qualifier: 'new', account: null, covert: true });
    expect(reasonText(told[0]!)).toBe(
      `the host clock moved forward by 3 d 0 h against the monotonic clock: NTP set it (events stored from ${startedAt} to ${stale.receivedAt} carry a receivedAt that much earlier than when they arrived), or the host was suspended that long`,
    );
    expect(Date.parse(synced.receivedAt) - Date.parse(stale.receivedAt)).toBe(3 * DAY + 1_000);
  });
});
