import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFrameText, parseHex } from '../../../../src/codecs/escapes.js';
import { decodeDc09Frame, encodeDc09Frame } from '../../../../src/codecs/dc09/frame.js';
import type { Dc09Message } from '../../../../src/codecs/dc09/frame.js';
import { expectCitedCases, readGolden } from '../../../helpers/golden-file.js';

/** One line of dc09.jsonl: a real frame (see `source`) and what decoding it must give. */
interface GoldenLine {
  name: string;
  /** Its index in the research vectors; absent for frames harvested from other public sources. */
  vector?: number;
  source: string;
  input?: string;
  inputHex?: string;
  key?: { value: string; encoding: 'hex' | 'ascii' };
  strict?: boolean;
  requireHeader?: boolean;
  /** Re-encoding the decoded message must give back the input bytes (wrapped in LF…CR). */
  mirror?: boolean;
  note?: string;
  expect?: Partial<Omit<Dc09Message, 'timestamp'>> & { timestamp?: string | null };
  expectError?: { code: string; messageContains?: string };
}

const lines = readGolden<GoldenLine>(new URL('./dc09.jsonl', import.meta.url));

function inputBytes(line: GoldenLine): Uint8Array {
  const parsed = line.inputHex !== undefined ? parseHex(line.inputHex) : parseFrameText(line.input ?? '');
  if (!parsed.ok) throw new Error(`golden line "${line.name}" has a bad input: ${parsed.error.message}`);
  return parsed.value;
}

function withFraming(bytes: Uint8Array): Buffer {
  const start = bytes[0] === 0x0a ? 1 : 0;
  const end = bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
  return Buffer.concat([Buffer.of(0x0a), bytes.subarray(start, end), Buffer.of(0x0d)]);
}

/** The research vectors live outside the repository; the coverage check runs where they are present. */
const PUBLIC_VECTORS = '/work/shared/vectors/public-vectors.json';

describe('DC-09 golden vectors (tests/src/codecs/dc09/dc09.jsonl)', () => {
  it.skipIf(!existsSync(PUBLIC_VECTORS))('covers every DC-09 public vector and keeps its source', () => {
    const vectors = JSON.parse(readFileSync(PUBLIC_VECTORS, 'utf8')) as Array<{ kind: string; source: string }>;
    const dc09 = vectors.flatMap((vector, index) => (vector.kind.startsWith('dc09') || vector.kind === 'oh' ? [index] : []));
    const vectorLines = lines.filter((line): line is GoldenLine & { vector: number } => line.vector !== undefined);
    expect([...new Set(vectorLines.map((line) => line.vector))].sort((a, b) => a - b)).toEqual(dc09);
    for (const line of vectorLines) expect(line.source).toBe(vectors[line.vector]!.source);
  });

  it('every line names its source and what comes out', () => expectCitedCases(lines));

  for (const line of lines) {
    it(line.name, () => {
      const key = line.key === undefined ? undefined : Buffer.from(line.key.value, line.key.encoding === 'hex' ? 'hex' : 'latin1');
      const result = decodeDc09Frame(inputBytes(line), {
        keyFor: () => key,
        ...(line.strict === undefined ? {} : { strict: line.strict }),
        ...(line.requireHeader === undefined ? {} : { requireHeader: line.requireHeader }),
      });
      if (line.expectError !== undefined) {
        expect(result.ok ? result.value : result.error.code).toBe(line.expectError.code);
        if (!result.ok && line.expectError.messageContains !== undefined) expect(result.error.message).toContain(line.expectError.messageContains);
        return;
      }
      if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
      const { timestamp, ...fields } = line.expect ?? {};
      expect(result.value).toMatchObject(fields);
      if (timestamp !== undefined) expect(result.value.timestamp).toBe(timestamp === null ? null : Date.parse(timestamp));
      if (line.mirror === true) {
        const { token, ...message } = result.value;
        if (token === 'OH') throw new Error('an OH line has no DC-09 encoding to mirror');
        expect(Buffer.from(encodeDc09Frame({ ...message, token })).toString('latin1')).toBe(withFraming(inputBytes(line)).toString('latin1'));
      }
    });
  }
});
