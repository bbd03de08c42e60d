import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../../src/settings/settings.js';
import { effectiveProtocolVersion } from '../../../adapters/outputs/mqtt.js';

const config = (url: string) => `
inputs: [ { type: dc09, name: p, port: 12000, accounts: [ { account: "1234" } ] } ]
outputs: [ { type: mqtt, name: b, url: "${url}" } ]
`;

function loadedUrl(url: string): string {
  const parsed = parseSettings(config(url));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const output = parsed.settings.outputs[0]!;
  if (output.type !== 'mqtt') throw new Error('not an mqtt output');
  return output.url;
}

function schemaUrlPattern(): RegExp {
  const schema = JSON.parse(readFileSync(new URL('../../../config/panelbridge.schema.json', import.meta.url), 'utf8'));
  const outputs = schema.properties.outputs.items.anyOf ?? schema.properties.outputs.items.oneOf;
  const mqtt = outputs.find((o: { properties: { type: { const?: string } } }) => o.properties.type.const === 'mqtt');
  return new RegExp(mqtt.properties.url.pattern, 'u');
}

describe('outputs[].url of an MQTT output: loader, runtime and published schema agree', () => {
  // README: the schemes and `embedded` are accepted in any letter case. The output compared url === 'embedded' and
  // handed "Embedded" to the MQTT client: `check` passed, `run` exited 69 "Missing protocol".
  it('"Embedded" loads as the in-process broker, the spelling the output compares', () => {
    const url = loadedUrl('Embedded');
    expect(url).toBe('embedded');
    expect(effectiveProtocolVersion({ url, protocolVersion: undefined })).toBe(4);
  });

  it('an upper-case scheme is lower-cased at load; the rest of the URL is kept as written', () => {
    expect(loadedUrl('MQTTS://Broker.example:8883')).toBe('mqtts://Broker.example:8883');
    expect(loadedUrl('Wss+Unix:///run/Broker.sock')).toBe('wss+unix:///run/Broker.sock');
  });

  it('an unknown scheme stays a configuration error', () => {
    expect(parseSettings(config('http://broker.example')).ok).toBe(false);
    expect(parseSettings(config('embeddedx')).ok).toBe(false);
  });

  // config/panelbridge.schema.json (for editors) lost the regular expression's `i` flag and refused what the loader took.
  it('config/panelbridge.schema.json accepts every letter case the loader accepts, and refuses what it refuses', () => {
    const pattern = schemaUrlPattern();
    for (const url of ['MQTTS://broker.example:8883', 'Embedded', 'embedded', 'Tcp://10.0.0.5:1883', 'WSS+UNIX:///run/b.sock'])
      expect([url, pattern.test(url)]).toEqual([url, parseSettings(config(url)).ok]);
    expect(pattern.test('http://broker.example')).toBe(false);
  });
});
