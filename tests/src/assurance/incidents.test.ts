import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INCIDENT_CALLS_KEPT, MAX_OPEN_ACCOUNT_INCIDENTS } from '../../../src/assurance/incidents.js';
import { AssuranceStore } from '../../../src/assurance/store.js';
import type { NormalizedEvent } from '../../../src/model/event.js';
import { eventFromSignal } from '../../../src/pipeline/event-builder.js';
import { cid, DAY, FakeClock, harness, MINUTE, sia, INSTALLER, operator, reasonText } from '../../helpers/assurance-harness.js';
import { incidentView, incidentViews } from '../../../adapters/api/assurance-views.js';

describe('the duress latch', () => {
  it('opens an incident on a hold-up; later events of the site, a disarm included, carry it and do not close it', async () => {
    const h = harness();
    const holdup = await h.receive(cid('122', 5));
    h.clock.advance(MINUTE);
    const disarm = await h.receive(cid('401', 4)); // the cleaner disarms: opening
    const restore = await h.receive(cid('122', 5, { qualifier: 'restore' }));
    h.clock.advance(DAY);
    const nextDay = await h.receive(cid('130', 3));
    expect(disarm.category).toBe('opening');
    expect(holdup.incident).toEqual(expect.any(String));
    for (const later of [disarm, restore, nextDay]) expect(later.incident).toBe(holdup.incident);

    const [incident] = incidentViews(h.assurance);
    expect(incident).toMatchObject({
      id: holdup.incident,
      site: 'bank-1',
      account: '1234',
      category: 'holdup',
      openingEventId: holdup.id,
      eventCount: 4,
      acknowledged: false,
      lastEventAt: nextDay.receivedAt,
    });
  });

  it('stays open until a person acknowledges it; the next duress then opens a new one', async () => {
    const h = harness();
    const first = await h.receive(cid('121', 12));
    h.clock.advance(5 * MINUTE);
    const acked = h.assurance.acknowledge(first.incident!, operator('operator 7'), 'police on site, all safe');
    expect(acked.ok && { ok: true, incident: incidentView(acked.incident) }).toMatchObject({
      ok: true,
      incident: { acknowledged: true, ackedBy: 'operator 7', note: 'police on site, all safe', ackedAt: new Date(h.clock.now()).toISOString() },
    });
    expect(h.assurance.acknowledge(first.incident!, operator('someone else'), null)).toMatchObject({ ok: false, reason: 'already-acknowledged' });
    expect(h.assurance.acknowledge(first.incident!, operator('operator 7'), 'false alarm')).toMatchObject({ ok: false, reason: 'already-acknowledged' });
    // The same acknowledgement again is a client's retry: answered with the one that stands, published once.
    h.clock.advance(MINUTE);
    const retried = h.assurance.acknowledge(first.incident!, operator('operator 7'), 'police on site, all safe');
    expect(retried.ok && (await retried.stored)).toEqual({ ok: true });
    expect(retried.ok && retried.incident).toEqual(acked.ok && acked.incident);
    await h.assurance.flush();
    expect(h.supervisory().filter((e) => e.control?.action === 'incident-acknowledged')).toHaveLength(1);
    expect(h.assurance.acknowledge('no-such-incident', operator('x'), null)).toEqual({ ok: false, reason: 'unknown' });
    expect(incidentViews(h.assurance)).toEqual([]);

    const quiet = await h.receive(cid('130', 3));
    expect(quiet.incident ?? null).toBeNull();
    const second = await h.receive(cid('122', 5));
    expect(second.incident).toEqual(expect.any(String));
    expect(second.incident).not.toBe(first.incident);
    expect(incidentViews(h.assurance, true).map((i) => [i.id, i.acknowledged])).toEqual([
      [second.incident, false],
      [first.incident, true],
    ]);
  });

  it('is not opened by a status report (qualifier 6), a restore, a test or a panic', async () => {
    const h = harness();
    await h.receive(cid('121', 12, { qualifier: 'status' }));
    await h.receive(cid('122', 5, { qualifier: 'restore' }));
    await h.receive(cid('120', 9)); // panic pendant: a call for help, but not duress
    h.assurance.startWindow({ site: 'bank-1', minutes: 5 }, INSTALLER);
    const test = await h.receive(cid('122', 5));
    expect(test.test).toBe(true);
    expect(incidentViews(h.assurance, true)).toEqual([]);
  });

  it('keeps each later caller of a real call for help on the incident it joins, once, and nothing else', async () => {
    const h = harness();
    const holdup = await h.receive(cid('122', 5));
    h.clock.advance(MINUTE);
    await h.receive(cid('401', 4)); // an opening by the cleaner: no call for help
    await h.receive(cid('122', 5)); // the hold-up button again: the caller the incident opened with
    h.clock.advance(10 * MINUTE);
    const duress = await h.receive(cid('121', 12)); // the manager's duress code: a second person calling
    await h.receive(cid('121', 12)); // again: the same caller
    await h.receive(cid('121', 12, { qualifier: 'restore' }));
    expect(duress.incident).toBe(holdup.incident);

    const [open] = h.assurance.incidentRecords();
    expect(open!.calls).toEqual([expect.objectContaining({ eventId: duress.id, category: 'duress', devices: ['user-12'], user: expect.objectContaining({ number: 12 }) })]);
    expect(incidentView(open!).calls).toEqual([
      { eventId: duress.id, receivedAt: duress.receivedAt, category: 'duress', devices: ['user-12'], zone: null, user: 12, door: null },
    ]);
    // Stored with the incident, so a restart keeps it.
    expect(h.store.incident(open!.id)?.calls).toEqual(open!.calls);
  });

  it('keeps a panic pendant pressed while the incident is open among its callers, though a panic opens none', async () => {
    const h = harness();
    const holdup = await h.receive(cid('122', 5));
    const panic = await h.receive(cid('120', 9));
    expect(panic.incident).toBe(holdup.incident);
    const [open] = h.assurance.incidentRecords();
    expect(open!.calls).toEqual([expect.objectContaining({ eventId: panic.id, category: 'panic' })]);
  });

  it(`keeps at most ${INCIDENT_CALLS_KEPT} later callers`, async () => {
    const h = harness();
    await h.receive(cid('122', 5));
    for (let user = 100; user < 100 + INCIDENT_CALLS_KEPT + 5; user++) await h.receive(cid('121', user));
    const [open] = h.assurance.incidentRecords();
    expect(open!.calls.map((call) => call.user?.number)).toEqual(Array.from({ length: INCIDENT_CALLS_KEPT }, (_, i) => 100 + i));
  });

  it('keeps whether the opening event was verified, and the devices it named', async () => {
    const h = harness();
    const trust = { verified: false, reason: 'unauthenticated-source' } as const;
    const event = eventFromSignal(cid('121', 12), { input: 'keypads', transport: 'tcp', receivedAt: h.clock.now(), raw: new Uint8Array([0x31]), trust }, h.builder);
    const outcome = await h.recorder.record([event]);
    if (!outcome.ok) throw outcome.error;
    expect(h.store.incident(outcome.events[0]!.incident!)?.opening).toMatchObject({
      devices: ['user-12'],
      user: { number: 12, name: 'Manager duress code' },
      verified: false,
      unverifiedReason: 'unauthenticated-source',
    });
  });

  it('is kept per account when the account belongs to no site', async () => {
    const h = harness();
    const a = await h.receive(cid('121', 1, { account: '9a9a' }));
    const b = await h.receive(sia('OP', 2, '9A9A'));
    const other = await h.receive(cid('130', 1, { account: '7777' }));
    expect(a.incident).toEqual(expect.any(String));
    expect(b.incident).toBe(a.incident);
    expect(other.incident ?? null).toBeNull();
    expect(incidentViews(h.assurance)[0]).toMatchObject({ site: null, account: '9a9a' });
  });

  it(`groups the duress of accounts on no site past ${MAX_OPEN_ACCOUNT_INCIDENTS} open incidents into one a person still closes`, async () => {
    const h = harness();
    // Someone on the panel network names a new account in each duress frame.
    for (let i = 0; i < MAX_OPEN_ACCOUNT_INCIDENTS; i++) await h.receive(cid('121', 1, { account: `F${i}` }));
    const grouped: NormalizedEvent[] = [];
    for (let i = 0; i < 3; i++) grouped.push(await h.receive(cid('121', 1, { account: `G${i}` })));
    const bank = await h.receive(cid('122', 5)); // a real hold-up at a configured site meanwhile

    const open = h.assurance.incidentRecords();
    expect(open).toHaveLength(MAX_OPEN_ACCOUNT_INCIDENTS + 2);
    const group = open.find((incident) => incident.id === grouped[0]!.incident)!;
    expect(group).toMatchObject({ site: null, account: null, category: 'duress', eventCount: 3, openingEventId: grouped[0]!.id });
    for (const event of grouped) {
      expect(event.incident).toBe(group.id);
      expect(event.duress).toBe(true);
      expect(reasonText(event)).toContain(`${MAX_OPEN_ACCOUNT_INCIDENTS} incidents of accounts on no site are open`);
    }
    expect(h.counters.get('assurance_incidents_grouped_total')).toBe(3);
    expect(open.find((incident) => incident.id === bank.incident)).toMatchObject({ site: 'bank-1' });

    // Only a person closes it; the next such duress opens the group again.
    expect(h.assurance.acknowledge(group.id, operator('operator 7'), 'made-up accounts, reported to IT').ok).toBe(true);
    const next = await h.receive(cid('121', 1, { account: 'G9' }));
    expect(next.incident).toEqual(expect.any(String));
    expect(next.incident).not.toBe(group.id);
    expect(h.assurance.incidentRecords()).toHaveLength(MAX_OPEN_ACCOUNT_INCIDENTS + 2);
  });

  it('survives a restart', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-incidents-'));
    try {
      const clock = new FakeClock();
      const first = harness({ clock, store: AssuranceStore.openIn(dir) });
      const duress = await first.receive(cid('124', 20));
      first.store.close();
      const second = harness({ clock, store: AssuranceStore.openIn(dir) });
      expect((await second.receive(cid('401', 4))).incident).toBe(duress.incident);
      // What the responder needs from the opening event, though no trace of it survived the restart.
      expect(second.store.incident(duress.incident!)?.opening).toEqual({
        occurredAt: null,
        devices: ['door-lobby-2'],
        zone: duress.zone,
        user: null,
        door: duress.door,
        verified: true,
        unverifiedReason: null,
      });
      expect(second.assurance.acknowledge(duress.incident!, operator('api'), null).ok).toBe(true);
      second.store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
