import { describe, expect, it } from 'vitest';
import { redactUrlCredentials } from '../../../adapters/system/redact.js';

describe('URL credentials', () => {
  it('redacts everything up to the last @ before the host, as a URL parser splits it', () => {
    const cases: Array<[string, string]> = [
      ['mqtt://alarm:Tr0ub@dor-s3cret@127.0.0.1:1883', 'mqtt://[redacted]@127.0.0.1:1883'],
      ['mqtts://bridge:pa@ss@word@broker.example:8883/x?y=1#z', 'mqtts://[redacted]@broker.example:8883/x?y=1#z'],
      ['https://hook:s3cret@cms.example/events/a@b', 'https://[redacted]@cms.example/events/a@b'],
      ['https://token@cms.example', 'https://[redacted]@cms.example'],
      ['https://cms.example/path?to=ops@example.com', 'https://cms.example/path?to=ops@example.com'],
      ['mqtt://broker.example:1883', 'mqtt://broker.example:1883'],
    ];
    expect(cases.map(([url]) => redactUrlCredentials(url))).toEqual(cases.map(([, redacted]) => redacted));
  });

  it('finds URLs inside free text and JSON, and leaves the text around them alone', () => {
    expect(redactUrlCredentials('connect to mqtt://alarm:Tr0ub@dor-s3cret@10.0.0.5:1883 failed; mail ops@example.com')).toBe(
      'connect to mqtt://[redacted]@10.0.0.5:1883 failed; mail ops@example.com',
    );
    expect(redactUrlCredentials('{"url":"mqtt://u:p@x@h:1","other":"https://a:b@c@d/e"}')).toBe('{"url":"mqtt://[redacted]@h:1","other":"https://[redacted]@d/e"}');
    expect(redactUrlCredentials('primary mqtt://u:p@q@h1, backup mqtt://h2')).toBe('primary mqtt://[redacted]@h1, backup mqtt://h2');
  });

  // security.md rule 7: a URL parser takes ' and " in the userinfo (`new URL("mqtt://gw:it's@broker").password` is
  // "it's"), and mqtt.ts logs the configured URL through redactUrlCredentials when the broker is not reachable.
  for (const url of ["mqtt://gw:it's-s3cret@broker:1883", 'mqtts://gw:pa"ss-s3cret@broker:8883']) {
    it(`redacts a password with a quote in it: ${url}`, () => {
      expect(new URL(url).username).toBe('gw'); // a valid URL with credentials
      expect(redactUrlCredentials(url)).toBe(url.replace(/\/\/.*@/, '//[redacted]@'));
      expect(redactUrlCredentials(`broker '${url}' not reachable`)).not.toContain('s3cret');
    });
  }

  it('leaves a quoted URL without credentials, and the text after it, alone', () => {
    expect(redactUrlCredentials("connect to 'mqtt://broker:1883' failed; mail ops@example.com")).toBe("connect to 'mqtt://broker:1883' failed; mail ops@example.com");
  });
});
