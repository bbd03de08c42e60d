import { describe, expect, it } from 'vitest';
import { decodeAccessXml, type AccessXmlOptions } from '../../../src/codecs/access-xml.js';

/** The default maxBodyBytes of an access-xml input. */
const MAX_BYTES = 65_536;
const container: AccessXmlOptions = {
  maxBytes: MAX_BYTES,
  mappings: [{ name: 'feed', match: 'Events', eventType: 'Events.Event.Type', door: 'Events.Event.Door', duressValues: ['DURESS'], grantedValues: [], deniedValues: [] }],
  defaults: {},
};

function fill(open: string, unit: string, close: string): string {
  return open + unit.repeat(Math.floor((MAX_BYTES - open.length - close.length) / unit.length)) + close;
}

describe('decodeAccessXml bounds its work by the body limit', () => {
  // Decoding runs on the event loop every input shares: a post that costs seconds delays every panel's ACK.
  it('reads a container of thousands of event types in time linear in their number', () => {
    const body = fill('<Events>', '<Event><Type>X</Type><Door>d</Door></Event>', '<Event><Type>DURESS</Type><Door>vault</Door></Event></Events>');
    const started = performance.now();
    const result = decodeAccessXml(body, container);
    const elapsed = performance.now() - started;
    if (!result.ok) throw new Error(result.error.message);
    expect(result.value.at(-1)).toMatchObject({ code: { value: '124' }, access: { door: 'vault' } });
    expect(result.value.length).toBeGreaterThan(1000);
    // Reading every field of every event anew from the whole container took about 8 s on a 2-core test machine.
    expect(elapsed).toBeLessThan(2000);
  });

  it('bounds the message of a refused document, however much of it the parser would quote', () => {
    const result = decodeAccessXml('<a>'.repeat(Math.floor(MAX_BYTES / 3)), container);
    expect(result.ok ? 'decoded' : result.error.code).toBe('XML_MALFORMED');
    expect(result.ok ? 0 : result.error.message.length).toBeLessThanOrEqual(300);
  });
});
