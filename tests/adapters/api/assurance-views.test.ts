import { describe, expect, it } from 'vitest';
import { incidentViews } from '../../../adapters/api/assurance-views.js';
import { harness, openIncidentBehind } from '../../helpers/assurance-harness.js';

describe('GET /incidents?all=1', () => {
  it('lists every open incident, however many newer ones were acknowledged since, newest first', async () => {
    const h = harness();
    const open = await openIncidentBehind(h, 500);
    const views = incidentViews(h.assurance, true);
    expect(views.map((i) => i.id)).toContain(open);
    expect(views.filter((i) => i.acknowledged)).toHaveLength(500);
    const openedAt = views.map((i) => Date.parse(i.openedAt));
    expect(openedAt).toEqual([...openedAt].sort((a, b) => b - a));
  });
});
