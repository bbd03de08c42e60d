import { describe, expect, it } from 'vitest';
import { lintSettings } from '../../../src/settings/lint.js';
import { settingsWithOutputs } from '../../helpers/settings-with-outputs.js';

// security.md: a network attacker must never be able to hide a duress. On a plain link to the centre, whoever sits on
// the path reads every duress and can answer in the receiver's place (HTTP 2xx, MQTT PUBACK): the gateway then counts
// as delivered a duress that never arrived. `check` warns about it for a DC-09 output without a key; the webhook and
// MQTT outputs are the same link in other protocols.
function warningsFor(outputs: string, context: { certificateChecksOff?: boolean } = {}): Array<{ path: string; message: string }> {
  return lintSettings(settingsWithOutputs(outputs), { fileIsWorldReadable: false, ...context }).filter((f) => f.severity === 'warning');
}

describe('check: a central output over a plain link beyond this machine', () => {
  it('warns about a webhook over http to another host', () => {
    const warnings = warningsFor('  - { type: webhook, name: cloud, url: "http://hooks.example.net/alarm", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw }');
    expect(warnings).toEqual([{ path: 'outputs[0].url', severity: 'warning', message: expect.stringMatching(/readable.*https/) }]);
  });

  it.each(['mqtt://broker.lan:1883', 'tcp://10.0.0.5', 'ws://broker.lan/mqtt', 'MQTT://Broker.lan'])('warns about an MQTT broker at %s', (url) => {
    const warnings = warningsFor(`  - { type: mqtt, name: broker, url: "${url}" }`);
    expect(warnings).toEqual([{ path: 'outputs[0].url', severity: 'warning', message: expect.stringMatching(/readable.*mqtts/) }]);
  });

  it.each([
    ['a webhook over https', '{ type: webhook, name: cloud, url: "https://hooks.example.net/alarm", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw }'],
    ['a webhook on loopback', '{ type: webhook, name: cloud, url: "http://127.0.0.1:8080/alarm", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw }'],
    ['a broker over TLS', '{ type: mqtt, name: broker, url: "mqtts://broker.lan:8883" }'],
    ['a broker on loopback', '{ type: mqtt, name: broker, url: "mqtt://localhost:1883" }'],
    ['the embedded broker', '{ type: mqtt, name: broker, url: embedded }'],
    // A local output never carries a duress (covert routing), so nothing on its path tells of one.
    ['a local webhook over http', '{ type: webhook, name: keypad, url: "http://keypad.lan/", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, audience: local }'],
  ])('says nothing about %s', (_what, output) => {
    const warnings = warningsFor(`  - { type: stdout, name: console }\n  - ${output}`);
    expect(warnings).toEqual([]);
  });
});

// NODE_TLS_REJECT_UNAUTHORIZED=0 (the usual answer found for a centre's private CA) makes every TLS link as open as a
// plain one: the webhook's fetch and the MQTT client take any certificate.
describe('check: certificate checks turned off in the environment', () => {
  const tlsOutputs = `  - { type: webhook, name: cloud, url: "https://hooks.example.net/alarm", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw }
  - { type: mqtt, name: broker, url: "mqtts://broker.lan:8883" }`;

  it('warns, naming each central output over TLS', () => {
    expect(warningsFor(tlsOutputs, { certificateChecksOff: true })).toEqual([
      { path: '(environment)', severity: 'warning', message: expect.stringMatching(/NODE_TLS_REJECT_UNAUTHORIZED=0.*outputs\[0\], outputs\[1\].*NODE_EXTRA_CA_CERTS/) },
    ]);
  });

  it('says nothing with the checks on, or without a TLS link to central', () => {
    expect(warningsFor(tlsOutputs)).toEqual([]);
    expect(warningsFor('  - { type: mqtt, name: broker, url: embedded }', { certificateChecksOff: true })).toEqual([]);
  });
});

// The Sur-Gard automation protocol has neither encryption nor authentication: an automation output reachable from the
// network gives every event to whoever connects first from an allowed address (a LAN address is easily taken), who
// can then ACK each duress away.
describe('check: an automation output listening beyond this machine', () => {
  const automation = (fields: string) => `  - { type: automation, name: mas, port: 1025, allowUids: [1001], ${fields} }`;

  it.each([
    ['0.0.0.0', '["10.0.0.7"]'],
    ['10.0.0.2', '["127.0.0.1", "10.0.0.7"]'],
    ['::', '["fd00::7"]'],
  ])('warns when it listens on %s and admits %s', (host, allow) => {
    expect(warningsFor(automation(`host: "${host}", allow: ${allow}`))).toEqual([
      { path: 'outputs[0].host', severity: 'warning', message: expect.stringMatching(/no encryption.*ACK.*away.*loopback/) },
    ]);
  });

  it.each([
    ['on loopback (the default)', ''],
    ['beyond loopback but admitting loopback only', 'host: "0.0.0.0", allow: ["127.0.0.1"]'],
    ['for a local audience', 'host: "0.0.0.0", allow: ["10.0.0.7"], audience: local'],
  ])('says nothing %s', (_what, fields) => {
    expect(warningsFor(automation(fields)).filter((w) => w.path === 'outputs[0].host')).toEqual([]);
  });
});
