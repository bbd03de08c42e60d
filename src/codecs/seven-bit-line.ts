/**
 * A receiver that sends 7 data bits and a parity bit (the Sur-Gard MLR2-E's documented 7E1) to a port set to 8 data
 * bits and no parity: every byte then carries the parity in its top bit, and no packet reads. The serial protocols
 * are 7-bit ASCII, so once the top bits show a parity, it is stripped from what arrives and put on what is sent back
 * (an ACK or NAK without it is a parity error the receiver drops, so it resends until it gives up).
 */
export type LineParity = 'even' | 'odd';

function hasOddOnes(byte: number): boolean {
  let ones = 0;
  for (let bits = byte & 0x7f; bits !== 0; bits &= bits - 1) ones += 1;
  return (ones & 1) === 1;
}

/**
 * Terminator bytes as a 7-bit receiver may send them to an 8-bit port: with its parity bit on top (the 7E1 CR is
 * 0x8D, the 7O1 DC4 0x94) or without. A line's first bytes arrive before enough of them show the parity.
 */
export function withParityBits(terminators: readonly number[]): number[] {
  return terminators.flatMap((byte) => [byte & 0x7f, byte | 0x80]);
}

export class SevenBitLine {
  /** Bytes with the top bit set: about half of a 7-bit receiver's, none of an 8N1 ASCII line's but noise. */
  private topBits = 0;
  /** Bytes whose top bit is wrong for that parity (each byte fits exactly one of the two). */
  private notEven = 0;
  private notOdd = 0;

  /**
   * The parity the top bits show: undefined until enough bytes carry one (a noise byte on an 8N1 line must not
   * decide it), or when they fit neither (8-bit data). A byte in twenty may break it: line noise must not stop a
   * real receiver's packets from reading.
   */
  get parity(): LineParity | undefined {
    const total = this.notEven + this.notOdd;
    if (this.topBits < 4 || this.topBits < total / 10) return undefined;
    const tolerated = total / 20;
    if (this.notEven <= tolerated) return 'even';
    return this.notOdd <= tolerated ? 'odd' : undefined;
  }

  /** The chunk with its parity bits removed once a parity shows; else the chunk itself. */
  receive(chunk: Uint8Array): Uint8Array {
    for (const byte of chunk) {
      const top = byte >> 7 === 1;
      if (top) this.topBits += 1;
      // Even parity: the top bit makes the ones even, so it is set exactly when the low seven have an odd count.
      if (top !== hasOddOnes(byte)) this.notEven += 1;
      else this.notOdd += 1;
    }
    if (this.parity === undefined) return chunk;
    return chunk.map((byte) => byte & 0x7f);
  }

  /**
   * A whole frame without its parity bits once a parity shows: the bytes that came before it showed passed
   * receive() as they arrived.
   */
  frame(bytes: Uint8Array): Uint8Array {
    return this.parity === undefined ? bytes : bytes.map((byte) => byte & 0x7f);
  }

  /** An answer with the line's parity bit on each byte (as it is, while none shows). */
  send(answer: Uint8Array): Uint8Array {
    const parity = this.parity;
    if (parity === undefined) return answer;
    return answer.map((byte) => (hasOddOnes(byte) === (parity === 'even') ? byte | 0x80 : byte & 0x7f));
  }
}
