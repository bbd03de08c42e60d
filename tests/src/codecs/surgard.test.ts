import { describe, expect, test } from 'vitest';
import {
  SURGARD_ACK,
  SURGARD_NAK,
  SURGARD_TERMINATOR,
  decodeSurgard,
  encodeSurgardContactId,
  encodeSurgardHeartbeat,
} from '../../../src/codecs/surgard.js';
import type { SurgardPacket } from '../../../src/codecs/surgard.js';
import { isGatewayError } from '../../../src/errors.js';

function decoded(packet: string | Uint8Array): SurgardPacket {
  const result = decodeSurgard(packet);
  if (!result.ok) expect.unreachable(`${result.error.code}: ${result.error.message}`);
  return result.value;
}

function errorCode(packet: string | Uint8Array, options?: { strict?: boolean }): string | undefined {
  const result = decodeSurgard(packet, options);
  return result.ok ? undefined : result.error.code;
}

test('control bytes of the SG automation link (SGAUTO p.15/56)', () => {
  expect([SURGARD_ACK, SURGARD_NAK, SURGARD_TERMINATOR]).toEqual([0x06, 0x15, 0x14]);
});

describe('encodeSurgardContactId', () => {
  test('writes the SGAUTO p.19 duress example exactly (vector 51)', () => {
    const packet = encodeSurgardContactId({
      receiver: '01',
      line: '100',
      account: '1234',
      fields: { qualifier: '1', event: '121', group: '01', ccc: '001' },
    });
    expect(packet).toBe('501100 181234E12101001\u0014');
  });

  test('qualifiers 1/3/6 become E/R/P and decode back', () => {
    const expected = { '1': ['E', 'new'], '3': ['R', 'restore'], '6': ['P', 'status'] } as const;
    for (const [qualifier, [letter, meaning]] of Object.entries(expected)) {
      const fields = { qualifier: qualifier as '1' | '3' | '6', event: '122', group: '02', ccc: '017' };
      const packet = encodeSurgardContactId({ receiver: '02', line: '003', account: '9876', fields });
      expect(packet.slice(13, 14)).toBe(letter);
      const value = decoded(packet);
      expect(value.kind === 'event' && value.signals[0]?.qualifier).toBe(meaning);
    }
  });

  test('a 10-digit account selects protocol Q with format 58', () => {
    const fields = { qualifier: '1', event: '124', group: '00', ccc: '003' } as const;
    const packet = encodeSurgardContactId({ receiver: '07', line: '012', account: '0012345678', fields });
    expect(packet).toBe('Q07012 580012345678E12400003\u0014');
    expect(decoded(packet)).toMatchObject({ kind: 'event', protocolId: 'Q', account: '0012345678' });
  });

  test('refuses fields it cannot send, with a coded GatewayError', () => {
    const fields = { qualifier: '1', event: '121', group: '01', ccc: '001' } as const;
    const bad: Array<[Parameters<typeof encodeSurgardContactId>[0], string]> = [
      [{ receiver: '01', line: '100', account: '12345', fields }, 'SURGARD_FORMAT_INVALID'],
      [{ receiver: '1', line: '100', account: '1234', fields }, 'SURGARD_FORMAT_INVALID'],
      [{ receiver: '01', line: '100', account: '1234', fields: { ...fields, event: '12' } }, 'CID_FORMAT_INVALID'],
    ];
    for (const [input, code] of bad) {
      let thrown: unknown;
      try {
        encodeSurgardContactId(input);
      } catch (error) {
        thrown = error;
      }
      expect(isGatewayError(thrown) && thrown.code).toBe(code);
    }
  });
});

describe('heartbeat', () => {
  test('encodeSurgardHeartbeat writes 1RR000 + 11 spaces + @ + 4 spaces + DC4 (SGAUTO p.15)', () => {
    const packet = encodeSurgardHeartbeat('03');
    expect(packet).toBe(`103000${' '.repeat(11)}@${' '.repeat(4)}\u0014`);
    expect(decoded(packet)).toEqual({ kind: 'heartbeat', receiver: '03', line: '000' });
  });

  test('a heartbeat with its spaces trimmed is not a heartbeat', () => {
    expect(errorCode('101000           @\u0014')).toBe('SURGARD_FORMAT_INVALID');
  });
});

describe('decodeSurgard', () => {
  test('reads bytes from a larger buffer (a framer subarray) without touching the rest', () => {
    const stream = Buffer.from('xx501100 181234E12101001\u0014yy', 'latin1');
    const packet = new Uint8Array(stream.buffer, stream.byteOffset + 2, stream.length - 4);
    expect(decoded(packet)).toMatchObject({ kind: 'event', account: '1234', receiver: '01', line: '100' });
  });

  test.each(['4', '6', 'e', 'J', 'L', 'N', 'u', 'U', 's', '8', 'T'])(
    'protocol id %s is SURGARD_PROTOCOL_UNSUPPORTED',
    (protocolId) => {
      expect(errorCode(`${protocolId}011    001234BA0003\u0014`)).toBe('SURGARD_PROTOCOL_UNSUPPORTED');
    },
  );

  test('an empty packet (a lone DC4) is SURGARD_FORMAT_INVALID', () => {
    expect(errorCode('\u0014')).toBe('SURGARD_FORMAT_INVALID');
    expect(errorCode(new Uint8Array())).toBe('SURGARD_FORMAT_INVALID');
  });

  test('protocol 1 event letters map to the SIA code of the same meaning (SGAUTO p.15 table)', () => {
    const table: Record<string, string> = {
      '0': 'RP', '1': 'FA', '2': 'PA', '3': 'BA', '4': 'CL', '5': 'OP', '7': 'MA', '9': 'UR',
      A: 'UA', B: 'UB', C: 'CL', F: 'OC', H: 'UU', O: 'OP', R: 'UR', T: 'UT',
      // no SIA meaning: kept as sent
      '6': '6', '8': '8', Z: 'Z',
    };
    for (const [letter, code] of Object.entries(table)) {
      const value = decoded(`101100      1234 ${letter}2005\u0014`);
      expect(value.kind === 'event' && value.signals[0], letter).toMatchObject({
        code: { scheme: 'sia', value: code },
        partition: 2,
        address: 5,
      });
    }
  });

  // D6500 Computer Interface Manual §4.1.1 and its BFSK table: a type 1 message is `h1rrlssssssaaaaEEzzzzt`, a
  // 1-character line, six spaces, the account, a 2-character event code, a right-justified hex zone; a test report is
  // ` R` with zone `E`. Laid out as a protocol 1 packet with a 1-digit line, it read as SG 4/3 `R`, a restore (UR).
  test.each([
    ['a D6500 type 1 test report', '1011      1234 R   E\u0014'],
    ['the same after the D6500 header character', ' 1011      1234 R   E\u0014'],
    ['a D6500 type 1 event on hex zone A', '1011      1234 A   A\u0014'],
  ])('protocol 1 with a 1-digit line and a letter in its zone is refused as ambiguous: %s', (_name, packet) => {
    const result = decodeSurgard(packet);
    expect(result.ok ? result.value : result.error.code).toBe('SURGARD_AMBIGUOUS');
  });

  test('protocol 1 with a 1-digit line and a decimal zone, or a 3-digit line, is still read', () => {
    expect(decoded('1011      1234 21003\u0014')).toMatchObject({ kind: 'event', signals: [{ code: { value: 'PA' }, address: 3 }] });
    expect(decoded('101100      1234 R   E\u0014')).toMatchObject({ kind: 'event', signals: [{ code: { value: 'UR' } }] });
  });

  test('protocol 1 area is a hex digit (1-F)', () => {
    const value = decoded('101100      1234 3F012\u0014');
    expect(value.kind === 'event' && value.signals[0]?.partition).toBe(15);
  });

  test.each([
    ['lost space before the format', '501100181234E12101001\u0014', 'SURGARD_FORMAT_INVALID'],
    ['non-hex account', '501100 1812x4E12101001\u0014', 'SURGARD_FORMAT_INVALID'],
    ['hex A in the event code', '501100 181234E12A01001\u0014', 'CID_FORMAT_INVALID'],
    ['protocol 1 without the account padding', '1011001234  1234 21003\u0014', 'SURGARD_FORMAT_INVALID'],
    ['protocol 1 with a control character as event', '101100      1234 \u000121003\u0014', 'SURGARD_FORMAT_INVALID'],
    ['protocol S without brackets', 'S01100#1234|NBA01\u0014', 'SURGARD_FORMAT_INVALID'],
    ['protocol S with an 8-digit line', 'S0112345678[#1234|NBA01]\u0014', 'SURGARD_FORMAT_INVALID'],
    ['protocol 5 with an 8-digit line', '50112345678 181234E12101001\u0014', 'SURGARD_FORMAT_INVALID'],
    ['protocol 5 with no line', '501 181234E12101001\u0014', 'SURGARD_FORMAT_INVALID'],
    ['protocol S closing bracket only', 'S01100]\u0014', 'SURGARD_FORMAT_INVALID'],
  ])('%s', (_name, packet, code) => {
    expect(errorCode(packet)).toBe(code);
  });

  /**
   * The receiver's setting decides the line's width: SG-System III DRL3 option 02 "Line Card Number Length" (1-3
   * hex digits), SG-System 5 option [409] "Output RRLLL Digits" (RRL to RRLLLLLLL, 1-7 line digits).
   */
  test.each([1, 2, 3, 4, 5, 6, 7])('reads a %i-digit line in every layout', (width) => {
    const line = '1234567'.slice(-width);
    const packets = {
      heartbeat: `101${'0'.repeat(width)}${' '.repeat(11)}@    \u0014`,
      '1': `101${line}      1234 21003\u0014`,
      '3': `301${line}    001234BA0003\u0014`,
      '5': `501${line} 181234E12101001\u0014`,
      Q: `Q01${line} 581234567890E12101001\u0014`,
      S: `S01${line}[#1234|Nri1/HA05]\u0014`,
      '0': `001${line}[#0000000007|NYC]\u0014`,
    };
    for (const [layout, packet] of Object.entries(packets)) {
      const expected = layout === 'heartbeat' ? { kind: 'heartbeat', line: '0'.repeat(width) } : { kind: 'event', line, receiver: '01' };
      expect(decoded(packet), layout).toMatchObject(expected);
    }
  });

  test('protocol S hands the data to the DC-03 parser, strict mode included', () => {
    const tolerant = decoded('S011[#1234|]\u0014');
    expect(tolerant).toMatchObject({ kind: 'event', protocolId: 'S', line: '1', account: '1234', signals: [] });
    expect(tolerant.kind === 'event' && tolerant.quirks.length).toBeGreaterThan(0);
    expect(errorCode('S011[#1234|]\u0014', { strict: true })).toMatch(/^SIA03_/);
  });
});

describe('the two-way audio (listen-in) character, MLR2-E Option [4D]', () => {
  // Installation manual p.14: Option [4D] holds the ASCII code of the character sent, under the internal account
  // 0000, when audio mode begins; "P" (50) is the manual's example, not a fixed letter.
  const codeOf = (packet: string, listenInCharacter?: string) => {
    const result = decodeSurgard(packet, listenInCharacter === undefined ? {} : { listenInCharacter });
    if (!result.ok) expect.unreachable(`${result.error.code}: ${result.error.message}`);
    return result.value.kind === 'event' ? result.value.signals[0]?.code?.value : undefined;
  };

  test('the programmed character under account 0000 reads as SIA LF, P as the default', () => {
    expect(codeOf('1011      0000 P  01\u0014')).toBe('LF');
    expect(codeOf('1011      0000 L  01\u0014', 'L')).toBe('LF');
  });

  test('any printable character can be programmed, not only a letter of the SG 4/3 table', () => {
    expect(codeOf('1011      0000 *  01\u0014', '*')).toBe('LF');
  });

  test('once another character is programmed, P under 0000 is no longer a listen-in, nor L a panel event', () => {
    expect(codeOf('1011      0000 P  01\u0014', 'L')).toBe('P');
    expect(codeOf('1011      1234 L  01\u0014', 'L')).toBe('L');
  });
});
