import { describe, expect, it, vi } from 'vitest';
import { DeliveryDeadline } from '../../../src/assurance/delivery-deadline.js';
import { cid, harness, reasonText } from '../../helpers/assurance-harness.js';
import { testEvent } from '../../helpers/output-events.js';

const SECOND = 1_000;

describe('duress delivery deadline', () => {
  it('raises a supervisory alert, an error log and a degraded health when no central output confirmed a duress in time', async () => {
    const h = harness({ autoDeliver: false, duressDeadlineMs: 10 * SECOND, centralOutputs: ['cms'] });
    const holdup = await h.receive(cid('122', 5));
    h.clock.advance(10 * SECOND);
    await h.tick();
    expect(h.supervisory()).toEqual([]);
    expect(h.assurance.health().state).toBe('up');

    h.clock.advance(1);
    await h.tick();
    await h.tick();
    const alerts = h.supervisory();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ category: 'supervisory', qualifier: 'new', account: '1234', incident: holdup.incident, duress: false });
    expect(reasonText(alerts[0]!)).toBe(
      `holdup event ${holdup.id} from account 1234 was not confirmed by any central output within 10s: responders may not know`,
    );
    expect(h.logs.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(['duress event not confirmed by any central output in time']);
    expect(h.assurance.health()).toMatchObject({
      state: 'degraded',
      undeliveredDuress: [{ eventId: holdup.id, category: 'holdup', account: '1234', site: 'bank-1', ageMs: 10 * SECOND + 1 }],
    });

    h.assurance.delivered('siren-bridge', holdup); // not a central output: confirms nothing
    expect(h.assurance.health().state).toBe('degraded');
    h.clock.advance(20 * SECOND);
    h.assurance.delivered('cms', holdup);
    await h.assurance.flush();
    const cleared = h.supervisory()[1]!;
    expect(cleared).toMatchObject({ category: 'supervisory', qualifier: 'restore', incident: holdup.incident });
    expect(reasonText(cleared)).toBe(`holdup event ${holdup.id} was delivered to central output cms 30 s after it was received`);
    expect(h.assurance.health()).toMatchObject({ state: 'up', undeliveredDuress: [] });
  });

  it('stays quiet when a central output confirms in time, and ignores non-duress events', async () => {
    const h = harness({ autoDeliver: false, centralOutputs: ['cms'] });
    const duress = await h.receive(cid('121', 12));
    await h.receive(cid('130', 3)); // burglary: no deadline
    h.clock.advance(9 * SECOND);
    h.assurance.delivered('cms', duress);
    h.clock.advance(60 * SECOND);
    await h.tick();
    expect(h.supervisory()).toEqual([]);
    expect(h.assurance.health().state).toBe('up');
  });

  it('alerts when there is no central output at all', async () => {
    const h = harness({ autoDeliver: false, centralOutputs: [] });
    await h.receive(cid('124', 20));
    h.clock.advance(11 * SECOND);
    await h.tick();
    expect(h.supervisory()).toHaveLength(1);
  });

  it('alerts on time when NTP steps the host clock back after the duress was stored, not hours later', async () => {
    const HOUR = 3_600 * SECOND;
    const h = harness({ autoDeliver: false, duressDeadlineMs: 10 * SECOND, centralOutputs: ['cms'] });
    h.clock.step(HOUR); // the host clock runs an hour fast (a bad RTC at boot)
    await h.receive(cid('122', 5));
    h.clock.step(-HOUR); // NTP steps it back
    h.clock.advance(11 * SECOND);
    await h.tick();
    expect(h.supervisory()).toHaveLength(1);
    expect(h.assurance.health().state).toBe('degraded');
  });
  it('raises no alert when NTP steps the host clock forward while a duress waits, and its age is the time that passed', async () => {
    const DAY = 86_400 * SECOND;
    const h = harness({ autoDeliver: false, duressDeadlineMs: 10 * SECOND, centralOutputs: ['cms'] });
    const holdup = await h.receive(cid('122', 5)); // a Pi booted on the time it shut down at
    h.clock.advance(2 * SECOND);
    h.clock.step(3 * DAY); // NTP syncs
    await h.tick();
    expect(h.supervisory()).toEqual([]);
    expect(h.assurance.health().state).toBe('up');

    h.clock.advance(9 * SECOND); // a real delay past the deadline still raises it
    await h.tick();
    expect(h.supervisory()).toHaveLength(1);
    expect(h.assurance.health()).toMatchObject({ state: 'degraded', undeliveredDuress: [{ eventId: holdup.id, ageMs: 11 * SECOND }] });
    h.assurance.delivered('cms', holdup);
    await h.assurance.flush();
    expect(reasonText(h.supervisory()[1]!)).toBe(`holdup event ${holdup.id} was delivered to central output cms 11 s after it was received`);
  });

  it('looks at only the duress past its deadline each tick, however many a flood left waiting', () => {
    const deadline = new DeliveryDeadline(10 * SECOND);
    const start = Date.UTC(2024, 0, 1, 9, 0, 0);
    const waiting = Array.from({ length: 20_000 }, (_, i) => testEvent({ category: 'duress', id: `flood-${i}` }));
    // Received a millisecond apart, the 20,000th first: the order of tracking is not the order of the deadlines.
    for (const [i, event] of waiting.entries()) deadline.track(event, start + waiting.length - i, 1_000 + waiting.length - i);
    for (const event of waiting.slice(0, 100)) deadline.confirm(event.id);

    // A walk of the waiting duress steps a map iterator once for each.
    const iterator = Object.getPrototypeOf(new Map().values()) as { next: () => unknown };
    const steps = vi.spyOn(iterator, 'next');
    try {
      const quiet = deadline.due(start + 10 * SECOND, 1_000 + 10 * SECOND);
      const late = deadline.due(start + 10 * SECOND + 3, 1_000 + 10 * SECOND);
      expect({ quiet, late: late.map((e) => e.eventId), steps: steps.mock.calls.length }).toEqual({
        quiet: [],
        late: ['flood-19999', 'flood-19998'],
        steps: 0,
      });
    } finally {
      steps.mockRestore();
    }
    expect(deadline.alerts().map((e) => e.eventId)).toEqual(['flood-19999', 'flood-19998']);
    expect(deadline.confirm('flood-19999')?.eventId).toBe('flood-19999');
    // By the monotonic clock, 80 ms past: 79 are late, two of them reported already.
    expect(deadline.due(start + 10 * SECOND + 50, 1_000 + 10 * SECOND + 80)).toHaveLength(77);
  });

  it('still reports a duress tracked after a flood was confirmed at once', () => {
    const deadline = new DeliveryDeadline(10 * SECOND);
    const flood = Array.from({ length: 3_000 }, () => testEvent({ category: 'duress' }));
    for (const event of flood) deadline.track(event, 0);
    for (const event of flood) deadline.confirm(event.id);
    const holdup = testEvent({ category: 'holdup' });
    deadline.track(holdup, 5 * SECOND);
    expect(deadline.due(10 * SECOND + 1)).toEqual([]);
    expect(deadline.due(15 * SECOND + 1).map((e) => e.eventId)).toEqual([holdup.id]);
  });
});
