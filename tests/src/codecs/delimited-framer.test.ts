import { describe, expect, test } from 'vitest';
import { DelimitedFramer } from '../../../src/codecs/delimited-framer.js';
import type { FramerOutput } from '../../../src/codecs/framing.js';
import { decodeContactId } from '../../../src/codecs/contact-id.js';
import { decodeSurgard } from '../../../src/codecs/surgard.js';

const DC4 = 0x14;
const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'));
const text = (data: Uint8Array): string => Buffer.from(data).toString('latin1');

/** Frames as text and discards as `reason:text`, so a case reads like the stream it describes. */
function render(outputs: FramerOutput[]): string[] {
  return outputs.map((o) => (o.kind === 'frame' ? text(o.bytes) : `${o.reason}:${text(o.bytes)}`));
}

const sgFramer = () => new DelimitedFramer({ terminators: [DC4], maxFrameBytes: 64 });
const lineFramer = (maxFrameBytes = 64) => new DelimitedFramer({ terminators: [0x0d, 0x0a], maxFrameBytes });

// Sur-Gard packets from vectors 51 and 52 (SGAUTO p.19, MLR2-DG p.43).
const DURESS = '501100 181234E12101001\u0014';
const HEARTBEAT = '1011           @    \u0014';

describe('DelimitedFramer', () => {
  test('one frame', () => {
    expect(render(sgFramer().push(bytes(DURESS)))).toEqual(['501100 181234E12101001']);
  });

  test('two frames in one chunk', () => {
    expect(render(sgFramer().push(bytes(HEARTBEAT + DURESS)))).toEqual([HEARTBEAT.slice(0, -1), DURESS.slice(0, -1)]);
  });

  test('a frame split across chunks, down to single bytes', () => {
    const framer = sgFramer();
    const outputs = [...bytes(DURESS + HEARTBEAT)].flatMap((byte) => framer.push(Uint8Array.of(byte)));
    expect(render(outputs)).toEqual([DURESS.slice(0, -1), HEARTBEAT.slice(0, -1)]);
  });

  test('frames are copies: reusing the input buffer does not change them', () => {
    const framer = sgFramer();
    const chunk = bytes('5011');
    framer.push(chunk);
    chunk.fill(0x58);
    const [frame] = framer.push(bytes('00 181234E12101001\u0014'));
    expect(render(frame ? [frame] : [])).toEqual(['501100 181234E12101001']);
  });

  test('a bad check digit passes framing and fails decoding', () => {
    const framer = lineFramer();
    const outputs = framer.push(bytes('1234181131010159\r\n'));
    expect(render(outputs)).toEqual(['1234181131010159']);
    const frame = outputs[0];
    const result = frame?.kind === 'frame' ? decodeContactId(text(frame.bytes)) : null;
    expect(result?.ok === false && result.error.code).toBe('CID_CHECKSUM_INVALID');
  });

  test('leading noise is its own frame and empty lines yield nothing', () => {
    const outputs = lineFramer().push(bytes('\r\n\r\n\n~~noise\r\n\r\n1234181131010158\r\n\n'));
    expect(render(outputs)).toEqual(['~~noise', '1234181131010158']);
    const decoded = outputs.map((o) => (o.kind === 'frame' ? decodeContactId(text(o.bytes)).ok : null));
    expect(decoded).toEqual([false, true]);
  });

  test('keepTerminator leaves the DC4 on each frame for decoders that expect it', () => {
    const framer = new DelimitedFramer({ terminators: [DC4], maxFrameBytes: 64, keepTerminator: true });
    const outputs = framer.push(bytes(`\u0014${DURESS}`));
    expect(render(outputs)).toEqual([DURESS]);
    const frame = outputs[0];
    expect(frame?.kind === 'frame' && decodeSurgard(frame.bytes).ok).toBe(true);
  });

  test('an oversize frame is discarded up to its terminator, bounded, and the next frame survives', () => {
    const framer = lineFramer(16);
    const first = framer.push(bytes('0123456789'));
    const second = framer.push(bytes('ABCDEFGHIJ'));
    const third = framer.push(bytes('KLMN\r\n1234181131010158\r\n'));
    expect(render(first)).toEqual([]);
    expect(render(second)).toEqual(['FRAME_OVERSIZE:0123456789ABCDEFGHIJ']);
    expect(render(third)).toEqual(['FRAME_OVERSIZE:KLMN', '1234181131010158']);
  });

  test('a frame of exactly maxFrameBytes is kept; the terminator does not count', () => {
    expect(render(lineFramer(16).push(bytes('1234181131010158\r\n')))).toEqual(['1234181131010158']);
    expect(render(lineFramer(15).push(bytes('1234181131010158\r\n')))).toEqual(['FRAME_OVERSIZE:1234181131010158']);
  });

  test('flush after idle drops a partial frame as FRAME_IDLE_TIMEOUT and starts clean', () => {
    const framer = sgFramer();
    expect(framer.flush()).toEqual([]);
    framer.push(bytes('501100 1812'));
    expect(render(framer.flush())).toEqual(['FRAME_IDLE_TIMEOUT:501100 1812']);
    expect(framer.flush()).toEqual([]);
    expect(render(framer.push(bytes(DURESS)))).toEqual([DURESS.slice(0, -1)]);
  });

  test('flush ends an oversize discard, so the next bytes start a new frame', () => {
    const framer = lineFramer(4);
    expect(render(framer.push(bytes('abcdef')))).toEqual(['FRAME_OVERSIZE:abcdef']);
    expect(framer.flush()).toEqual([]);
    expect(render(framer.push(bytes('ok\r\n')))).toEqual(['ok']);
  });

  describe('keepLastOfOversize (lines nothing marks the start of)', () => {
    const keepLast = (maxFrameBytes: number) => new DelimitedFramer({ terminators: [0x0d, 0x0a], maxFrameBytes, keepLastOfOversize: true });

    // Noise within the second before a 16-digit line is glued to it; a one-way panel never sends the line again.
    test('a line after noise that makes the run oversize is its own frame, the noise discarded', () => {
      expect(render(keepLast(16).push(bytes(`${'~'.repeat(40)}1234181131010158\r\n`)))).toEqual([`FRAME_OVERSIZE:${'~'.repeat(40)}`, '1234181131010158']);
    });

    test('holds at most maxFrameBytes across chunks, and the next frame survives', () => {
      const framer = keepLast(16);
      expect(render(framer.push(bytes('0123456789')))).toEqual([]);
      expect(render(framer.push(bytes('ABCDEFGHIJ')))).toEqual(['FRAME_OVERSIZE:0123']);
      expect(render(framer.push(bytes('KLMN\r\n1234181131010158\r\n')))).toEqual(['FRAME_OVERSIZE:4567', '89ABCDEFGHIJKLMN', '1234181131010158']);
      framer.push(bytes('x'.repeat(100)));
      expect(render(framer.flush())).toEqual([`FRAME_IDLE_TIMEOUT:${'x'.repeat(16)}`]);
    });
  });

  test('refuses options that cannot frame anything', () => {
    expect(() => new DelimitedFramer({ terminators: [], maxFrameBytes: 10 })).toThrow(RangeError);
    expect(() => new DelimitedFramer({ terminators: [DC4], maxFrameBytes: 0 })).toThrow(RangeError);
  });
});
