import { describe, expect, it } from 'vitest';
import { eventFrameContent } from '../../../src/codecs/dc09/transmitter.js';
import { cid, harness, INSTALLER, MINUTE } from '../../helpers/assurance-harness.js';

/**
 * An installer opens a whole-site test window, the longest there is, and someone at the site is held up during it:
 * the hold-up is marked a test (no incident opens), so what the monitoring centre receives must still read as a
 * hold-up or duress, never as a test code, and the window's opening must have reached it first.
 */
describe('a real hold-up inside a test window, as central receives it', () => {
  it('is forwarded with its hold-up or duress code in both DC-09 formats, after the window opening', async () => {
    const h = harness();
    const opened = h.assurance.startWindow({ site: 'bank-1', minutes: 24 * 60 }, INSTALLER);
    expect(opened.ok).toBe(true);
    h.clock.advance(23 * 60 * MINUTE);
    const holdup = await h.receive(cid('122', 5));
    const duress = await h.receive(cid('121', 12));
    expect(holdup).toMatchObject({ category: 'holdup', duress: true, test: true });
    expect(duress).toMatchObject({ category: 'duress', duress: true, test: true });

    expect(eventFrameContent(holdup, 'adm-cid', '1234')!.content.data).toBe('1122 01 005');
    expect(eventFrameContent(duress, 'adm-cid', '1234')!.content.data).toBe('1121 01 012');
    expect(eventFrameContent(holdup, 'sia-dcs', '1234')!.content.data).toMatch(/HA0*5$/);
    expect(eventFrameContent(duress, 'sia-dcs', '1234')!.content.data).toMatch(/HA/);
    const order = h.events.map((e) => e.control?.action ?? e.id);
    expect(order.indexOf('test-window-opened')).toBeLessThan(order.indexOf(holdup.id));
    // A test opens no incident: the window's opening event at central is what tells the press may be real.
    expect(holdup.incident ?? null).toBeNull();
  });
});
