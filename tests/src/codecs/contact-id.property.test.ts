import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  contactIdSignal,
  decodeContactId,
  encodeContactId,
  parseAdmCidData,
} from '../../../src/codecs/contact-id.js';
import type { ContactIdFields } from '../../../src/codecs/contact-id.js';
import { decodeSurgard, encodeSurgardContactId } from '../../../src/codecs/surgard.js';
import { DelimitedFramer } from '../../../src/codecs/delimited-framer.js';
import type { FramerOutput } from '../../../src/codecs/framing.js';
import catalog from '../../../src/catalog/contact-id.json' with { type: 'json' };
import type { CodeTable } from '../../../src/catalog/types.js';

const CID_DIGIT = fc.constantFrom(...'0123456789BCDEF');
const DECIMAL = fc.constantFrom(...'0123456789');
const digits = (arb: fc.Arbitrary<string>, length: number) =>
  fc.array(arb, { minLength: length, maxLength: length }).map((chars) => chars.join(''));

const fieldsArb = (event: fc.Arbitrary<string> = digits(DECIMAL, 3)): fc.Arbitrary<ContactIdFields> =>
  fc.record({
    qualifier: fc.constantFrom<ContactIdFields['qualifier'][]>('1', '3', '6'),
    event,
    group: digits(DECIMAL, 2),
    ccc: digits(DECIMAL, 3),
  });

const messageArb = fc.record({
  account: digits(CID_DIGIT, 4),
  messageType: fc.constantFrom('18', '98'),
  fields: fieldsArb(digits(CID_DIGIT, 3)),
});

/** Strings near the formats (digits, letters, spaces, DC4) find more paths than uniform noise. */
const nearFormat = fc.string({ unit: fc.constantFrom(...'0123456789ABCDEFabcdef ERPQS#|[]@\u0014\r\n'), maxLength: 40 });
const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), nearFormat);

describe('decoders are total', () => {
  test('decodeContactId and parseAdmCidData return a result for any string, strict or not', () => {
    fc.assert(
      fc.property(anyText, fc.boolean(), (input, strict) => {
        for (const result of [decodeContactId(input, { strict }), parseAdmCidData(input, { strict })]) {
          expect(typeof result.ok).toBe('boolean');
          if (!result.ok) expect(result.error.code).toMatch(/^CID_/);
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('decodeSurgard returns a result for any bytes or string', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 80 }), anyText), fc.boolean(), (input, strict) => {
        const result = decodeSurgard(input, { strict });
        expect(typeof result.ok).toBe('boolean');
        if (!result.ok) expect(result.error.code).toMatch(/^(SURGARD|CID|SIA03)_/);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('round trips', () => {
  test('encodeContactId → decodeContactId gives the same fields, a valid sum and no quirks', () => {
    fc.assert(
      fc.property(messageArb, ({ account, messageType, fields }) => {
        const text = encodeContactId({ account, messageType, ...fields });
        expect(text).toMatch(/^[0-9B-F]{16}$/);
        const result = decodeContactId(text, { strict: true });
        expect(result).toEqual({
          ok: true,
          value: { account, messageType, ...fields, checkDigit: text.slice(15), quirks: [] },
        });
      }),
    );
  });

  test('encodeSurgardContactId → decodeSurgard gives the same Contact ID signal', () => {
    const surgardArb = fc.record({
      receiver: digits(DECIMAL, 2),
      line: digits(DECIMAL, 3),
      account: fc.oneof(digits(CID_DIGIT, 4), digits(DECIMAL, 10)),
      fields: fieldsArb(),
    });
    fc.assert(
      fc.property(surgardArb, (input) => {
        const result = decodeSurgard(encodeSurgardContactId(input));
        if (!result.ok) expect.unreachable(result.error.message);
        const base = { protocol: 'surgard', account: input.account, receiver: input.receiver, line: input.line } as const;
        expect(result.value).toMatchObject({ kind: 'event', signals: [contactIdSignal(input.fields, base)] });
      }),
    );
  });
});

describe('duress and hold-up codes of the catalogue', () => {
  const table = catalog as CodeTable;
  const threatCodes = Object.keys(table).filter((code) => ['duress', 'holdup'].includes(table[code]?.category ?? ''));

  test('the catalogue has them', () => {
    expect(threatCodes.length).toBeGreaterThanOrEqual(5);
  });

  test('each decodes to a signal carrying that code, on the phone line and on Sur-Gard', () => {
    fc.assert(
      fc.property(fieldsArb(fc.constantFrom(...threatCodes)), digits(CID_DIGIT, 4), (fields, account) => {
        const message = decodeContactId(encodeContactId({ account, messageType: '18', ...fields }));
        if (!message.ok) expect.unreachable(message.error.message);
        const signal = contactIdSignal(message.value, { protocol: 'contact-id', account, receiver: null, line: null });
        expect(signal.code).toEqual({ scheme: 'contact-id', value: fields.event });

        const packet = decodeSurgard(encodeSurgardContactId({ receiver: '01', line: '001', account, fields }));
        expect(packet.ok && packet.value.kind === 'event' && packet.value.signals[0]?.code).toEqual({
          scheme: 'contact-id',
          value: fields.event,
        });
      }),
    );
  });
});

describe('DelimitedFramer', () => {
  const run = (framer: DelimitedFramer, chunks: Uint8Array[]): FramerOutput[] => [
    ...chunks.flatMap((chunk) => framer.push(chunk)),
    ...framer.flush(),
  ];
  /** Frames, and the discarded bytes joined, so that how a discard is cut into outputs does not matter. */
  const summary = (outputs: FramerOutput[]) => ({
    frames: outputs.filter((o) => o.kind === 'frame').map((o) => [...o.bytes]),
    discarded: outputs.flatMap((o) => (o.kind === 'discarded' ? [...o.bytes] : [])),
  });

  test('output does not depend on how the stream is cut into chunks', () => {
    const streamArb = fc.uint8Array({ maxLength: 120 }).map((data) => data.map((b) => (b % 7 === 0 ? 0x14 : b)));
    fc.assert(
      fc.property(streamArb, fc.array(fc.nat(120), { maxLength: 10 }), (stream, cuts) => {
        const framer = () => new DelimitedFramer({ terminators: [0x14], maxFrameBytes: 12 });
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const chunks = [0, ...points].map((start, i) => stream.subarray(start, points[i] ?? stream.length));
        const whole = run(framer(), [stream]);
        const cut = run(framer(), chunks);
        const { frames, discarded } = summary(whole);
        expect(summary(cut)).toEqual({ frames, discarded });
        for (const frame of frames) {
          expect(frame.length).toBeGreaterThan(0);
          expect(frame.length).toBeLessThanOrEqual(12);
          expect(frame).not.toContain(0x14);
        }
        // Every byte is a frame byte, a terminator or reported as discarded: nothing vanishes silently.
        const framed = frames.reduce((sum, frame) => sum + frame.length, 0);
        const terminators = stream.filter((b) => b === 0x14).length;
        expect(framed + terminators + discarded.length).toBe(stream.length);
      }),
    );
  });
});
