import { describe, expect, it } from 'vitest';
import { parseWithOutputs } from '../../helpers/settings-with-outputs.js';

// security.md rule 3: what a `local` output receives is identical whether or not a duress happened. A local MQTT
// output whose topics hold a central output's on the same broker hands the local audience (a keypad, the owner's
// phone, a Home Assistant the attacker on site can see) every duress the central one publishes there, and its
// clearing of central states left under its prefix wipes the central output's retained incident states.
function issuesFor(outputs: string): Array<{ path: string; message: string }> {
  const parsed = parseWithOutputs(outputs);
  return parsed.ok ? [] : parsed.issues;
}

describe('a local MQTT output whose topics hold a central one\'s on the same broker', () => {
  it.each([
    ['the same prefix', 'mqtt://broker.lan:1883', 'panelbridge', 'mqtt://broker.lan', 'panelbridge'],
    ['the default prefix on both', 'mqtt://broker.lan', undefined, 'tcp://BROKER.lan:1883', undefined],
    ['the central prefix under the local one', 'mqtts://broker.lan', 'shop/alarm', 'tls://broker.lan:8883', 'shop'],
    ['loopback by two names', 'mqtt://localhost:1883', 'pb', 'mqtt://127.0.0.1', 'pb'],
    ['the embedded broker, and the URL it listens on', 'embedded', 'pb', 'mqtt://127.0.0.1:1884', 'pb'],
  ])('is refused: %s', (_what, centralUrl, centralPrefix, localUrl, localPrefix) => {
    const prefix = (p: string | undefined) => (p === undefined ? '' : `, topicPrefix: "${p}"`);
    const issues = issuesFor(`
  - { type: mqtt, name: security, url: "${centralUrl}"${prefix(centralPrefix)} }
  - { type: mqtt, name: keypad, url: "${localUrl}"${prefix(localPrefix)}, audience: local }`);
    expect(issues).toEqual([{ path: 'outputs[1].topicPrefix', message: expect.stringMatching(/output "security".*every duress/) }]);
  });

  it('is refused on two embedded brokers, whatever their ports and prefixes: one subscriber password opens both', () => {
    const issues = issuesFor(`
  - { type: mqtt, name: security, url: embedded, embeddedPort: 1884, topicPrefix: central }
  - { type: mqtt, name: keypad, url: embedded, embeddedPort: 1885, topicPrefix: shop, audience: local }`);
    expect(issues).toEqual([{ path: 'outputs[1].url', message: expect.stringMatching(/output "security".*subscriber password.*every duress/) }]);
  });

  it.each([
    ['another prefix on the same broker', 'mqtt://broker.lan', 'panelbridge', 'mqtt://broker.lan', 'shop'],
    ['the local prefix under the central one (the central audience reads it, the local one does not read the central)', 'mqtt://broker.lan', 'pb', 'mqtt://broker.lan', 'pb/local'],
    ['a prefix that only starts with the same letters', 'mqtt://broker.lan', 'pb2', 'mqtt://broker.lan', 'pb'],
    ['the same prefix on another broker', 'mqtt://broker.lan', 'panelbridge', 'mqtt://homeassistant.local', 'panelbridge'],
    ['the same prefix on another port', 'mqtt://broker.lan', 'panelbridge', 'mqtts://broker.lan', 'panelbridge'],
  ])('is taken: %s', (_what, centralUrl, centralPrefix, localUrl, localPrefix) => {
    expect(
      issuesFor(`
  - { type: mqtt, name: security, url: "${centralUrl}", topicPrefix: "${centralPrefix}" }
  - { type: mqtt, name: keypad, url: "${localUrl}", topicPrefix: "${localPrefix}", audience: local }`),
    ).toEqual([]);
  });
});
