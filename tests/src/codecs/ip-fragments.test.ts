import { describe, expect, it } from 'vitest';
import { IpReassembly, type GivenUp } from '../../../src/codecs/ip-fragments.js';

/** A fragment of `length` bytes, each byte its place in the datagram: pieces that overlap agree. */
const piece = (key: string, offset: number, length: number, more = true) => ({ key, offset, more, data: Uint8Array.from({ length }, (_, i) => (offset + i) & 0xff) });

describe('IpReassembly', () => {
  it('makes the datagram whole from pieces in any order, a piece sent twice and an overlap read once', () => {
    const reassembly = new IpReassembly();
    const givenUp: GivenUp[] = [];
    expect(reassembly.push(piece('a', 16, 8, false), 0, givenUp)).toEqual({ kind: 'held' });
    expect(reassembly.push(piece('a', 0, 8), 1, givenUp)).toEqual({ kind: 'held' });
    expect(reassembly.push(piece('a', 0, 8), 2, givenUp)).toEqual({ kind: 'held' });
    // Complete once the missing middle is there; the repeat read once.
    const last = reassembly.push(piece('a', 8, 16), 3, givenUp);
    expect(last.kind).toBe('whole');
    expect(last.kind === 'whole' && last.payload.length).toBe(24);
    expect(givenUp).toEqual([]);
  });

  it('bounds the bytes held in all: the datagrams begun longest ago are given up first', () => {
    const reassembly = new IpReassembly({ maxDatagrams: 64, maxFragments: 64, maxHeldBytes: 3_000, timeoutMs: 30_000 });
    const givenUp: GivenUp[] = [];
    for (const key of ['a', 'b', 'c', 'd']) reassembly.push(piece(key, 0, 1_000), 0, givenUp);
    expect(givenUp.map((g) => g.key)).toEqual(['a']);
    expect(givenUp[0]!.why).toContain('more than 3000 bytes');
    givenUp.length = 0;
    reassembly.end(givenUp);
    expect(givenUp.map((g) => g.key)).toEqual(['b', 'c', 'd']);
  });

  it('refuses a datagram whose pieces, sent again and again, would hold more than an IPv4 datagram can', () => {
    const reassembly = new IpReassembly();
    const givenUp: GivenUp[] = [];
    for (let i = 0; i < 50; i++) reassembly.push(piece('a', 0, 1_480), 0, givenUp);
    expect(givenUp).toHaveLength(1);
    expect(givenUp[0]!.why).toContain('hold more than the 65515 bytes');
  });

  it('gives up a datagram whose fragments overlap with different content, as a host\'s stack drops it, and says so', () => {
    // A forged fragment over a datagram's bytes (a hold-up in them): which copy a replay took depended on order; a
    // host since Linux 4.19 (and RFC 5722 for IPv6) drops the whole datagram. Equal overlaps stay read once.
    const reassembly = new IpReassembly();
    const givenUp: GivenUp[] = [];
    const bytes = (offset: number, text: string, more = true) => ({ key: 'a', offset, more, data: Uint8Array.from(Buffer.from(text, 'latin1')) });
    reassembly.push(bytes(0, 'holdup-x'), 0, givenUp);
    reassembly.push(bytes(8, 'BURGLARY'), 1, givenUp);
    expect(reassembly.push(bytes(8, 'HOLD-UP!'), 2, givenUp)).toEqual({ kind: 'held' });
    expect(givenUp).toEqual([{ key: 'a', fragments: 3, why: 'its fragments overlap with different content (a host drops such a datagram)' }]);
    const equal = reassembly.push({ ...bytes(0, 'holdup-xBURG'), key: 'b' }, 3, givenUp);
    expect(equal.kind).toBe('held');
    const whole = reassembly.push({ ...bytes(8, 'BURGLARY', false), key: 'b' }, 4, givenUp);
    expect(whole.kind === 'whole' && Buffer.from(whole.payload).toString('latin1')).toBe('holdup-xBURGLARY');
    expect(givenUp).toHaveLength(1);
  });
});
