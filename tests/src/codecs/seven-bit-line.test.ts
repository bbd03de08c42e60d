import { describe, expect, it } from 'vitest';
import { SevenBitLine, withParityBits } from '../../../src/codecs/seven-bit-line.js';

/** What a 7-data-bit UART with this parity puts on the wire, read by a port set to 8 data bits and no parity. */
function onTheWire(text: string, parity: 'even' | 'odd'): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'latin1'), (byte) => {
    let ones = 0;
    for (let bits = byte; bits !== 0; bits &= bits - 1) ones += 1;
    const odd = (ones & 1) === 1;
    return (parity === 'even' ? odd : !odd) ? byte | 0x80 : byte;
  });
}

// A Sur-Gard Contact ID packet (duress, user 3) and its heartbeat, as MLR2 receivers send them.
const PACKET = '5011 18123411210100 3\x14';
const HEARTBEAT = '1011           @    \x14';

describe('SevenBitLine: a 7-bit receiver read by an 8-bit port', () => {
  it.each(['even', 'odd'] as const)('strips %s parity from what arrives and puts it on what goes back', (parity) => {
    const line = new SevenBitLine();
    expect(Buffer.from(line.receive(onTheWire(HEARTBEAT + PACKET, parity))).toString('latin1')).toBe(HEARTBEAT + PACKET);
    expect(line.parity).toBe(parity);
    // ACK 0x06 (two ones) and NAK 0x15 (three): each goes with the bit that makes its parity right.
    expect([...line.send(Uint8Array.of(0x06, 0x15))]).toEqual([...onTheWire('\x06\x15', parity)]);
  });

  it('leaves an 8N1 ASCII line as it is', () => {
    const line = new SevenBitLine();
    const bytes = Buffer.from(HEARTBEAT + PACKET, 'latin1');
    expect(line.receive(bytes)).toBe(bytes);
    expect(line.parity).toBeUndefined();
    expect([...line.send(Uint8Array.of(0x06, 0x15))]).toEqual([0x06, 0x15]);
  });

  it('takes no parity from 8-bit data, and keeps it through a noisy byte', () => {
    const binary = new SevenBitLine();
    binary.receive(Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff));
    expect(binary.parity).toBeUndefined();
    // A noise byte on an 8N1 line whose traffic happens to be nearly all of one parity class decides nothing.
    const quiet = new SevenBitLine();
    quiet.receive(Buffer.from('\x14\x14\x14\x14\x14\x14\x140000'.repeat(4), 'latin1'));
    quiet.receive(Uint8Array.of(0x81));
    expect(quiet.parity).toBeUndefined();
    const noisy = new SevenBitLine();
    noisy.receive(onTheWire(HEARTBEAT.repeat(3), 'even'));
    noisy.receive(Uint8Array.of(0x81));
    expect(Buffer.from(noisy.receive(onTheWire(PACKET, 'even'))).toString('latin1')).toBe(PACKET);
  });

  it('strips a whole frame whose first bytes came before the parity showed, and frames on a terminator with its parity bit', () => {
    const line = new SevenBitLine();
    const wire = onTheWire(PACKET, 'odd');
    const first = line.receive(wire.subarray(0, 3));
    expect(line.parity).toBeUndefined();
    const rest = line.receive(wire.subarray(3));
    expect(Buffer.from(line.frame(Buffer.concat([first, rest]))).toString('latin1')).toBe(PACKET);
    // The 7O1 DC4 (two ones) arrives as 0x94.
    expect(wire.at(-1)).toBe(0x94);
    expect(withParityBits([0x14, 0x0d])).toEqual([0x14, 0x94, 0x0d, 0x8d]);
  });
});
