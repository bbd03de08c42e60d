import { describe, expect, it } from 'vitest';
import { MqttAssuranceStates } from '../../../adapters/outputs/mqtt-assurance.js';
import type { MqttOutput } from '../../../adapters/outputs/mqtt.js';
import { silentLogger } from '../../../src/ports.js';
import { harness, openIncidentBehind, SITES } from '../../helpers/assurance-harness.js';

/** Just what the retained-state publisher uses of an MQTT output. */
function fakeOutput(retained: Map<string, string>): MqttOutput {
  return {
    name: 'cms',
    audience: 'central',
    connected: true,
    incidentAcks: false,
    publishRetained: async (topic: string, payload: string) => {
      if (payload === '') retained.delete(topic);
      else retained.set(topic, payload);
    },
  } as unknown as MqttOutput;
}

describe('retained incident state', () => {
  it('shows an open incident older than the 500 most recent ones (opened and acknowledged elsewhere)', async () => {
    const h = harness();
    const open = await openIncidentBehind(h, 500);

    const retained = new Map<string, string>();
    const states = new MqttAssuranceStates([fakeOutput(retained)], { assurance: h.assurance, sites: () => SITES, clock: h.clock, logger: silentLogger });
    await states.publish();
    const bank = JSON.parse(retained.get('incidents/bank-1') ?? '{}') as { open?: number; incidents?: Array<{ id: string }> };
    expect(bank.open, 'incidents/bank-1 retained state').toBe(1);
    expect(bank.incidents?.map((i) => i.id)).toEqual([open]);
  });
});
