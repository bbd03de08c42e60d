import { describe, expect, it } from 'vitest';
import { decodeDc09Frame, type Dc09Message } from '../../../../src/codecs/dc09/frame.js';
import { Dc09Framer } from '../../../../src/codecs/dc09/framer.js';
import { expectCitedCases, readGolden } from '../../../helpers/golden-file.js';

/**
 * Golden DC-09 byte streams as real senders put them on the wire: over TCP through the framer (several frames per
 * read, frames split across reads, no LF/CR, NUL padding), over UDP one datagram per frame. Every frame is then
 * decoded as the receiver does (`network: true`, so a missing LF or CR is named in the quirks).
 */
interface Expected {
  /** A frame the framer cut, as text. */
  frame?: string;
  /** Bytes the framer discarded, by reason. */
  discarded?: string;
  decoded?: Partial<Dc09Message>;
  error?: string;
}

interface StreamCase {
  name: string;
  source: string;
  transport: 'tcp' | 'udp';
  /** TCP reads or UDP datagrams, as Latin-1 text. */
  chunks: string[];
  strict?: boolean;
  expect: Expected[];
}

const cases = readGolden<StreamCase>(new URL('./dc09-stream.jsonl', import.meta.url));
const latin1 = (text: string) => Buffer.from(text, 'latin1');

function framesOf(c: StreamCase): Array<{ frame: Uint8Array } | { discarded: string }> {
  if (c.transport === 'udp') return c.chunks.map((chunk) => ({ frame: latin1(chunk) }));
  const framer = new Dc09Framer();
  const outputs = [...c.chunks.flatMap((chunk) => framer.push(latin1(chunk))), ...framer.flush()];
  return outputs.map((out) => (out.kind === 'frame' ? { frame: out.bytes } : { discarded: out.reason }));
}

describe('dc09-stream.jsonl', () => {
  it('every line names its source and what comes out', () => expectCitedCases(cases));

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const got = framesOf(c).map((out): Expected => {
      if ('discarded' in out) return { discarded: out.discarded };
      const decoded = decodeDc09Frame(out.frame, { network: true, ...(c.strict === undefined ? {} : { strict: c.strict }) });
      const frame = Buffer.from(out.frame).toString('latin1');
      return decoded.ok ? { frame, decoded: decoded.value } : { frame, error: decoded.error.code };
    });
    expect(got).toHaveLength(c.expect.length);
    c.expect.forEach((partial, i) => expect(got[i]).toMatchObject(partial));
  });
});
