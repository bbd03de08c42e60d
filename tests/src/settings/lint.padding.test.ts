import { describe, expect, it } from 'vitest';
import { lintSettings } from '../../../src/settings/lint.js';
import { settingsWithOutputs } from '../../helpers/settings-with-outputs.js';

// security.md: nobody on the network may learn that a duress was sent. TLS and DC-09's AES hide what an event says,
// not its length, and a duress event is longer than an ordinary alarm's: central outputs pad by default, and `check`
// warns when a configuration turns that off on a link that leaves this machine encrypted.
function paddingWarnings(outputs: string): Array<{ path: string; message: string }> {
  return lintSettings(settingsWithOutputs(outputs), { fileIsWorldReadable: false }).filter((f) => f.path.endsWith('.pad'));
}

describe('check: padding turned off on an encrypted link to central', () => {
  it.each([
    ['an MQTT broker over TLS', '{ type: mqtt, name: cms, url: "mqtts://broker.example.net", pad: 0 }'],
    ['a webhook over https', '{ type: webhook, name: cloud, url: "https://hooks.example.net/alarm", secretFile: /etc/pb/whsec, pad: 0 }'],
    ['a keyed DC-09 output', '{ type: dc09, name: arc, primary: "tcp://arc.example.net:12000", account: "9876", keyFile: /etc/pb/arc.key, keyEncoding: hex, pad: 0 }'],
  ])('warns for %s', (_, output) => {
    expect(paddingWarnings(`  - ${output}`)).toEqual([{ path: 'outputs[0].pad', severity: 'warning', message: expect.stringMatching(/duress.*size/) }]);
  });

  it.each([
    ['the default padding', '{ type: mqtt, name: cms, url: "mqtts://broker.example.net" }'],
    ['a local output', '{ type: mqtt, name: cms, url: "mqtts://broker.example.net", audience: local, pad: 0 }'],
    ['the loopback', '{ type: webhook, name: hook, url: "https://127.0.0.1/alarm", secretFile: /etc/pb/whsec, pad: 0 }'],
  ])('says nothing with %s', (_, output) => {
    expect(paddingWarnings(`  - { type: stdout, name: log }\n  - ${output}`)).toEqual([]);
  });
});
