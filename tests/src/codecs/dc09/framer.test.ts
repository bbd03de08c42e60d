import { describe, expect, it } from 'vitest';
import { crc16 } from '../../../../src/codecs/dc09/crc16.js';
import { decodeDc09Frame, wrapDc09Body } from '../../../../src/codecs/dc09/frame.js';
import { Dc09Framer } from '../../../../src/codecs/dc09/framer.js';
import type { FramerOutput } from '../../../../src/codecs/framing.js';

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');
// fioletoven/dc09 message.tests.rs to_string_test and parse_message_test
const FRAME_A = '\nF4D20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]\r';
const FRAME_B = '\n96ED0016"SIA-DCS"0001L0#1234[]\r';

/** Outputs as readable text: frames verbatim, discards as "REASON:bytes". */
function describeOutputs(outputs: FramerOutput[]): string[] {
  return outputs.map((output) => {
    const bytes = Buffer.from(output.bytes).toString('latin1');
    return output.kind === 'frame' ? bytes : `${output.reason}:${bytes}`;
  });
}

function pushAll(framer: Dc09Framer, chunks: Uint8Array[]): string[] {
  return chunks.flatMap((chunk) => describeOutputs(framer.push(chunk)));
}

describe('Dc09Framer', () => {
  it('yields one frame', () => {
    expect(pushAll(new Dc09Framer(), [latin1(FRAME_A)])).toEqual([FRAME_A]);
  });

  it('yields two frames from one chunk', () => {
    expect(pushAll(new Dc09Framer(), [latin1(FRAME_A + FRAME_B)])).toEqual([FRAME_A, FRAME_B]);
  });

  it('yields the same frame however it is split across two chunks', () => {
    const bytes = latin1(FRAME_A);
    for (let offset = 0; offset <= bytes.length; offset++) {
      const framer = new Dc09Framer();
      expect(pushAll(framer, [bytes.subarray(0, offset), bytes.subarray(offset)])).toEqual([FRAME_A]);
      expect(framer.flush()).toEqual([]);
    }
  });

  it('yields the frame when it arrives one byte at a time', () => {
    const bytes = latin1(FRAME_A + FRAME_B);
    expect(pushAll(new Dc09Framer(), [...bytes].map((byte) => Uint8Array.of(byte)))).toEqual([FRAME_A, FRAME_B]);
  });

  it('passes a frame with a bad CRC on, for the decoder to reject', () => {
    const corrupted = FRAME_A.replace('NRR', 'NRP');
    expect(pushAll(new Dc09Framer(), [latin1(corrupted)])).toEqual([corrupted]);
    const result = decodeDc09Frame(latin1(corrupted));
    expect(result.ok ? 'ok' : result.error.code).toBe('DC09_CRC_MISMATCH');
  });

  it('discards bytes before the LF as noise', () => {
    expect(pushAll(new Dc09Framer(), [latin1('\x00\xffnoise'), latin1(FRAME_A)])).toEqual(['FRAME_NOISE:\x00\xffnoise', FRAME_A]);
  });

  it('discards a frame longer than maxFrameBytes and resyncs on the next LF', () => {
    const framer = new Dc09Framer({ maxFrameBytes: 40 });
    const long = `\n0000${'x'.repeat(60)}\r`;
    expect(pushAll(framer, [latin1(long + FRAME_B)])).toEqual([
      `FRAME_OVERSIZE:${long.slice(0, 40)}`,
      `FRAME_OVERSIZE:${long.slice(40)}`,
      FRAME_B,
    ]);
  });

  it('bounds noise without any LF or CR by maxFrameBytes', () => {
    const framer = new Dc09Framer({ maxFrameBytes: 16 });
    expect(pushAll(framer, [latin1('y'.repeat(20))])).toEqual([`FRAME_NOISE:${'y'.repeat(20)}`]);
  });

  it('refuses a maxFrameBytes too small for any frame', () => {
    expect(() => new Dc09Framer({ maxFrameBytes: 8 })).toThrow(RangeError);
    expect(() => new Dc09Framer({ maxFrameBytes: 100.5 })).toThrow(RangeError);
  });

  it('drops a partial frame on flush and starts clean afterwards', () => {
    const framer = new Dc09Framer();
    expect(pushAll(framer, [latin1(FRAME_A.slice(0, 20))])).toEqual([]);
    expect(describeOutputs(framer.flush())).toEqual([`FRAME_IDLE_TIMEOUT:${FRAME_A.slice(0, 20)}`]);
    expect(framer.flush()).toEqual([]);
    expect(pushAll(framer, [latin1(FRAME_B)])).toEqual([FRAME_B]);
  });

  it('reads a last frame that lacks only its CR when the sender half-closes, and names a cut-off one', () => {
    const withoutCr = FRAME_A.slice(0, -1);
    const framer = new Dc09Framer();
    expect(pushAll(framer, [latin1(withoutCr)])).toEqual([]);
    expect(describeOutputs(framer.end())).toEqual([withoutCr]);
    expect(framer.end()).toEqual([]);
    // Cut short by the FIN: its length field and CRC do not fit what came.
    expect(pushAll(framer, [latin1(FRAME_A.slice(0, 30))])).toEqual([]);
    expect(describeOutputs(framer.end())).toEqual([`FRAME_TRUNCATED:${FRAME_A.slice(0, 30)}`]);
    // Bytes outside a frame keep their reason.
    expect(pushAll(framer, [latin1('junk')])).toEqual([]);
    expect(describeOutputs(framer.end())).toEqual(['FRAME_NOISE:junk']);
  });

  it('does not cut at binary CRC bytes that are LF or CR', () => {
    for (const crcByte of [0x0a, 0x0d]) {
      let body = '';
      for (let seq = 0; body === ''; seq++) {
        const candidate = `"NULL"${String(seq).padStart(4, '0')}L0#1234[]`;
        if (crc16(latin1(candidate)) >>> 8 === crcByte) body = candidate;
      }
      const frame = Buffer.from(wrapDc09Body(latin1(body), 'binary')).toString('latin1');
      expect(frame.charCodeAt(1)).toBe(crcByte);
      expect(pushAll(new Dc09Framer(), [latin1(frame + FRAME_B)])).toEqual([frame, FRAME_B]);
    }
  });

  it('restarts at an LF inside a frame, discarding the broken start as noise', () => {
    const broken = FRAME_A.slice(0, 25);
    expect(pushAll(new Dc09Framer(), [latin1(broken + FRAME_B)])).toEqual([`FRAME_NOISE:${broken}`, FRAME_B]);
  });

  it('cuts a frame whose length field is too large at its CR without waiting (pysiaalarm case_cl)', () => {
    const frame = '\nE5D50078"SIA-DCS"6002L0#AAA[|Nri1/CL501]_14:12:04,09-25-2019\r';
    expect(pushAll(new Dc09Framer(), [latin1(frame)])).toEqual([frame]);
  });

  it('accepts CR-terminated frames that come without the LF, and Osborne-Hoffman lines', () => {
    const withoutLf = FRAME_B.slice(1);
    const heartbeat = 'SR0001L0001    006969XX    [ID00000000]\r';
    expect(pushAll(new Dc09Framer(), [latin1(withoutLf + heartbeat + 'junk\r')])).toEqual([withoutLf, heartbeat, 'FRAME_NOISE:junk\r']);
  });

  it('hands out frames that do not change when the caller reuses its chunk', () => {
    const chunk = latin1(FRAME_A + FRAME_B.slice(0, 10));
    const framer = new Dc09Framer();
    const [first] = framer.push(chunk);
    chunk.fill(0);
    expect(Buffer.from(first!.bytes).toString('latin1')).toBe(FRAME_A);
    expect(pushAll(framer, [latin1(FRAME_B.slice(10))])).toEqual([FRAME_B]);
  });

  // The decimal reading of "0034" ends 34 bytes into this body, and those bytes' CRC happens to be the frame's (one
  // in 65,536; found by decode-frame's property test, seed 1813819623). With only those bytes read, the framer cannot
  // tell this from a sender that writes lengths in decimal (ELDES): it cuts there. The frame decodes with its data
  // whole and its timestamp cut short; the rest is discarded as noise.
  it('cuts a frame without CR where a decimal reading of its length matches the CRC by chance, its data whole', () => {
    const body = '"SIA-DCS"5915L0#1234[|Nri1/BA62]_09:35:45,02-24-2024';
    const frame = `DC400034${body}`;
    expect(crc16(latin1(body), 0, 34)).toBe(0xdc40);
    const [first] = pushAll(new Dc09Framer(), [latin1(frame.slice(0, 42))]);
    expect(first).toBe(frame.slice(0, 42));
    const decoded = decodeDc09Frame(latin1(first!), { network: true });
    expect(decoded.ok && decoded.value.data).toBe('Nri1/BA62');
  });
});

