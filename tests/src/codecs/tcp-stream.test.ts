import { describe, expect, it } from 'vitest';
import { MAX_HELD_SEGMENTS, RETRANSMIT_CHECK_BYTES, TcpStream, type StreamPiece } from '../../../src/codecs/tcp-stream.js';

const text = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));

/** The pieces as text, gaps as `<gap N>`, a copy that differs from the bytes read as `<conflict TEXT>`, bytes never read that came too late as `<late TEXT>`. */
function readable(pieces: StreamPiece[]): string {
  const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString('latin1');
  return pieces.map((p) => (p.kind === 'data' ? latin1(p.bytes) : p.kind === 'gap' ? `<gap ${p.missing}>` : `<${p.kind} ${latin1(p.bytes)}>`)).join('');
}

describe('TcpStream', () => {
  it('yields in-order segments as they come, the first after a SYN one past its sequence number', () => {
    const stream = new TcpStream(1024);
    expect(readable(stream.push(100, new Uint8Array(0), true))).toBe('');
    expect(readable(stream.push(101, text('abc')))).toBe('abc');
    expect(readable(stream.push(104, text('def')))).toBe('def');
  });

  it('starts where the first segment is when the capture began inside the connection', () => {
    const stream = new TcpStream(1024);
    expect(readable(stream.push(5000, text('xyz')))).toBe('xyz');
    expect(readable(stream.push(5003, text('!')))).toBe('!');
  });

  it('holds an out-of-order segment until the bytes before it come, then yields both in order', () => {
    const stream = new TcpStream(1024);
    stream.push(0, new Uint8Array(0), true);
    expect(readable(stream.push(4, text('def')))).toBe('');
    expect(stream.waiting).toBe(3);
    expect(readable(stream.push(1, text('abc')))).toBe('abcdef');
    expect(stream.waiting).toBe(0);
  });

  it('reads a retransmit once, and only the new bytes of an overlapping segment', () => {
    const stream = new TcpStream(1024);
    stream.push(0, new Uint8Array(0), true);
    expect(readable(stream.push(1, text('abc')))).toBe('abc');
    expect(readable(stream.push(1, text('abc')))).toBe('');
    expect(readable(stream.push(2, text('bcdef')))).toBe('def');
    // An out-of-order retransmit, held twice, overlapping what the gap filler brings.
    expect(readable(stream.push(9, text('ijk')))).toBe('');
    expect(readable(stream.push(9, text('ijk')))).toBe('');
    expect(stream.waiting).toBe(3);
    expect(readable(stream.push(7, text('ghij')))).toBe('ghijk');
  });

  it('follows sequence numbers across 2^32', () => {
    const stream = new TcpStream(1024);
    stream.push(0xfffffffe, text('ab'));
    expect(readable(stream.push(2, text('ef')))).toBe('');
    expect(readable(stream.push(0, text('cd')))).toBe('cdef');
  });

  it('gives up on missing bytes once more than maxHeldBytes wait behind them, and says how many are missing', () => {
    const stream = new TcpStream(8);
    stream.push(1, text('abc'));
    expect(readable(stream.push(10, text('jklm')))).toBe('');
    expect(readable(stream.push(14, text('nopqr')))).toBe('<gap 6>jklmnopqr');
    expect(stream.waiting).toBe(0);
    // The bytes of the gap, arriving after all, come too late to be read: said, with their bytes.
    expect(readable(stream.push(4, text('defghi')))).toBe('<late defghi>');
  });

  it('bounds the segments it holds, not only their bytes: one-byte segments each behind a gap are given up on', () => {
    // A hostile capture: 1-byte segments, each one byte past a hole. Their bytes stay far under maxHeldBytes, but
    // each held segment costs a few hundred bytes of heap: 16 KiB of them per stream, times 1024 flows, is gigabytes.
    const stream = new TcpStream(16 * 1024);
    stream.push(0, text('a'));
    let gaps = 0;
    for (let i = 0; i < 3 * MAX_HELD_SEGMENTS; i++) {
      gaps += stream.push(2 + 2 * i, text('x')).filter((p) => p.kind === 'gap').length;
      expect(stream.waiting).toBeLessThanOrEqual(MAX_HELD_SEGMENTS);
    }
    expect(gaps).toBe(2 * MAX_HELD_SEGMENTS);
  });

  it('at its end yields what waits behind each gap', () => {
    const stream = new TcpStream(1024);
    stream.push(1, text('a'));
    stream.push(5, text('e'));
    stream.push(3, text('c'));
    expect(readable(stream.end())).toBe('<gap 1>c<gap 1>e');
    expect(readable(stream.end())).toBe('');
  });

  it('reports a retransmit or overlap that carries other bytes than the copy read, and keeps the copy read', () => {
    // A hostile capture (or an injected segment): the same sequence numbers twice with different content. Which copy
    // the receiving host kept depends on its stack; a replay reads the first and must say the other existed, or a
    // duress in it would vanish without a word.
    const stream = new TcpStream(1024);
    stream.push(0, new Uint8Array(0), true);
    expect(readable(stream.push(1, text('abc')))).toBe('abc');
    expect(readable(stream.push(1, text('xbc')))).toBe('<conflict xbc>');
    expect(readable(stream.push(3, text('Cdef')))).toBe('<conflict Cdef>def');
    // Held behind a hole: a second copy at the same place, then one overlapping it, differ.
    expect(readable(stream.push(10, text('jkl')))).toBe('');
    expect(readable(stream.push(10, text('JKL')))).toBe('<conflict JKL>');
    expect(readable(stream.push(8, text('hiJ')))).toBe('');
    expect(readable(stream.push(7, text('g')))).toBe('ghiJ<conflict jkl>kl');
    // Equal copies are retransmits, nothing more; bytes of a gap were never read, so they come late (below).
    expect(readable(stream.push(10, text('Jkl')))).toBe('');
    stream.push(20, text('t'));
    expect(readable(stream.end())).toBe('<gap 7>t');
    expect(readable(stream.push(14, text('nopqrst')))).toBe('<late nopqrst>');
  });

  it('says so when bytes come before the first segment of a connection captured without its handshake', () => {
    // A hostile segment far ahead, first in a capture that began inside the connection, must not make the panel's
    // own bytes after it look like old retransmits, dropped without a word (a duress among them).
    const stream = new TcpStream(1024);
    expect(readable(stream.push(100_000, text('forged')))).toBe('forged');
    expect(readable(stream.push(1000, text('duress')))).toBe('<late duress>');
    // Across 2^32 as well.
    const wrapped = new TcpStream(1024);
    wrapped.push(5, text('x'));
    expect(readable(wrapped.push(0xfffffffe, text('ab')))).toBe('<late ab>');
  });

  it('takes a copy of bytes read longer ago than it compares for a retransmit, not for bytes never read', () => {
    // A 64 KiB segment (coalesced by the capturing host's GRO) sent again whole after a lost ACK: read, too far back
    // to compare, and no reason to fail the replay.
    const stream = new TcpStream(1024);
    const big = new Uint8Array(RETRANSMIT_CHECK_BYTES * 16).fill(0x41);
    stream.push(1, big);
    expect(readable(stream.push(1, big))).toBe('');
    expect(readable(stream.push(0, text('x')))).toBe('<late x>');
  });
});
