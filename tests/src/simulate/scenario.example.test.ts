import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resolveDc09Accounts } from '../../../adapters/inputs/dc09.js';
import { seededRandom } from '../../../src/model/ids.js';
import { Dc09Receiver } from '../../../src/pipeline/dc09-receiver.js';
import { Counters } from '../../../src/observability/counters.js';
import { silentLogger } from '../../../src/ports.js';
import { parseSettings } from '../../../src/settings/settings.js';
import { frameContent } from '../../../src/simulate/events.js';
import { buildPanelFrame, SequenceCounter } from '../../../src/simulate/frames.js';
import { parseScenario } from '../../../src/simulate/scenario.js';
import { FakeClock, harness, INSTALLER } from '../../helpers/assurance-harness.js';
import { incidentViews, windowView } from '../../../adapters/api/assurance-views.js';

const read = (file: string) => readFileSync(new URL(`../../../config/${file}`, import.meta.url), 'utf8');

/**
 * The shipped example scenario, played through the example configuration's DC-09 input and assurance during a test
 * window opened by the site's name: an installer following the README gets a clean walk test of one site.
 */
describe('config/scenario.example.yaml against config/panelbridge.example.yaml', () => {
  it('exercises only devices of branch-12, all inside the window, and leaves every one of them tested', async () => {
    const settings = parseSettings(read('panelbridge.example.yaml'));
    const scenario = parseScenario(read('scenario.example.yaml'));
    if (!settings.ok || !scenario.ok) throw new Error('example files do not parse');
    const input = settings.settings.inputs.find((i) => i.type === 'dc09');
    if (input?.type !== 'dc09') throw new Error('no dc09 input in the example configuration');
    const { accounts } = resolveDc09Accounts(input, 0);
    const clock = new FakeClock(Date.now());
    const h = harness({ clock, sites: settings.settings.sites });
    const counters = new Counters();
    const receiver = new Dc09Receiver({
      input: input.name, accounts, window: settings.settings.timestampWindow, strict: false, clock, random: seededRandom(5),
      recorder: h.recorder, builder: h.builder, counters, logger: silentLogger,
    });

    const window = h.assurance.startWindow({ site: scenario.scenario.site!, minutes: 15 }, INSTALLER);
    if (!window.ok) throw new Error(window.message);
    expect(window.window.site).toBe('branch-12');

    for (const device of scenario.scenario.devices) {
      const sequence = new SequenceCounter();
      const key = accounts?.find((a) => a.account === device.account)?.key;
      for (const event of device.events) {
        const content = frameContent(event.event, device.account, { ...(event.zone === undefined ? {} : { zone: event.zone }), ...(event.user === undefined ? {} : { user: event.user }) }, scenario.scenario.format);
        const frame = buildPanelFrame({ content, seq: sequence.next(), account: device.account, now: clock.now(), random: seededRandom(6), ...(key === undefined ? {} : { key }) });
        expect((await receiver.handleFrame(frame, 'tcp')).answer).toBe('ack');
        clock.advance(2_000);
      }
    }

    const panelEvents = h.events.filter((e) => e.source.input === input.name);
    expect(panelEvents.length).toBeGreaterThan(0);
    for (const event of panelEvents) expect([event.site?.id, event.test, event.verified]).toEqual(['branch-12', true, true]);
    const stopped = h.assurance.stopWindow(window.window.id, INSTALLER);
    expect(windowView(h.assurance, stopped!.window).notExercised).toEqual([]);
    const devices = h.assurance.deviceReport().devices.filter((d) => d.site === 'branch-12');
    expect(devices.map((d) => [d.device, d.testCount > 0])).toEqual(devices.map((d) => [d.device, true]));
    // The walk test counts for its zone beside the hold-up test press (a panel test report would not).
    expect(devices.find((d) => d.device === 'zone-5')?.testCount).toBe(2);
    expect(incidentViews(h.assurance)).toEqual([]);
  });
});
