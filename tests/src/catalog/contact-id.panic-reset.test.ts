import { describe, expect, it } from 'vitest';
import { cid, harness } from '../../helpers/assurance-harness.js';

/**
 * Contact ID 465 is "Panic alarm reset" (DC-05 Appendix C; spandsp `ademco_codes[]`, data type zone; Ademco event
 * description tables render it "Status-Panic Alarm Reset"; Climax/Vesta panels send 1 465 as "Alarm Reset"): the
 * report that a panic alarm was reset, not a new call for help. src/catalog/contact-id.json files it as category
 * `panic` with no qualifier, so a reset on a zone typed holdup is escalated to a NEW hold-up and latches an incident.
 */
describe('Contact ID 465 panic alarm reset', () => {
  it('a reset of the teller hold-up button (zone 5, typed holdup) is not a new hold-up and opens no incident', async () => {
    const h = harness();
    const reset = await h.receive(cid('465', 5));
    expect({ category: reset.category, duress: reset.duress, qualifier: reset.qualifier, incident: reset.incident ?? null }).not.toMatchObject({
      duress: true,
      qualifier: 'new',
    });
    expect(h.assurance.incidents.open()).toEqual([]);
    // A reset of the hold-up button is still about a hold-up: as covert as one (no local output may see it).
    expect(reset).toMatchObject({ category: 'holdup', qualifier: 'restore' });
  });

  it('on an ordinary zone it is the restore of a panic', async () => {
    const h = harness();
    expect(await h.receive(cid('465', 20))).toMatchObject({ category: 'panic', qualifier: 'restore', duress: false });
  });
});
