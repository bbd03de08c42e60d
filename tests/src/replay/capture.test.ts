import { describe, expect, it } from 'vitest';
import { captureLine, parseLastReplayLine, parseReplayLine, type ReplayFrame } from '../../../src/replay/capture.js';

// Public vector 43 (spandsp Contact ID report) and vector 21 (DC-09 frame with LF…CR framing).
const CONTACT_ID = '1234181131010158';
const DC09_FRAME = '\n' + 'F4D20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]' + '\r';

function frameOf(line: string): ReplayFrame {
  const parsed = parseReplayLine(line);
  if (parsed === null || !parsed.ok) return expect.unreachable(`not a frame: ${JSON.stringify(parsed)}`);
  return parsed.value;
}

function errorOf(line: string): { code: string; message: string } {
  const parsed = parseReplayLine(line);
  if (parsed === null || parsed.ok) return expect.unreachable(`accepted: ${line}`);
  return parsed.error;
}

describe('capture records', () => {
  it('reads back exactly what `run --capture` writes', () => {
    const bytes = Buffer.from(DC09_FRAME, 'latin1');
    const at = Date.UTC(2024, 4, 1, 12, 0, 0, 250);
    const frame = frameOf(captureLine(bytes, at, 'panels', 'tcp', '10.0.0.7:40112'));
    expect(frame).toEqual({ t: at, input: 'panels', transport: 'tcp', peer: '10.0.0.7:40112', bytes: Uint8Array.from(bytes) });
  });

  it('writes the documented fields in order', () => {
    const line = captureLine(Uint8Array.of(0x0a, 0x41, 0x0d), 0, 'ip', 'udp', '127.0.0.1:9');
    expect(line).toBe('{"t":"1970-01-01T00:00:00.000Z","input":"ip","transport":"udp","peer":"127.0.0.1:9","hex":"0a410d"}');
  });

  it('accepts a record without a peer and ignores extra fields (a golden note)', () => {
    const frame = frameOf('{"t":"2024-05-01T12:00:00+02:00","input":"line1","transport":"serial","hex":"4142","note":"vector 51"}');
    expect(frame.peer).toBeNull();
    expect(frame.t).toBe(Date.UTC(2024, 4, 1, 10, 0, 0));
    expect(Buffer.from(frame.bytes).toString('latin1')).toBe('AB');
  });

  it('reads a record written with escapes or in another key order as JSON, the same as the written form', () => {
    const written = frameOf('{"t":"2024-05-01T12:00:00.000Z","input":"ip","transport":"tcp","peer":"10.0.0.7:1","hex":"0a41"}');
    expect(frameOf('{"t":"2024-05-01T12:00:00.000Z","input":"\\u0069p","transport":"tcp","peer":"10.0.0.7:1","hex":"0a41"}')).toEqual(written);
    expect(frameOf('{"hex":"0a41","peer":"10.0.0.7:1","transport":"tcp","input":"ip","t":"2024-05-01T12:00:00.000Z"}')).toEqual(written);
    expect(frameOf('{ "t": "2024-05-01T12:00:00.000Z", "input": "ip", "transport": "tcp", "peer": "10.0.0.7:1", "hex": "0a41" }')).toEqual(written);
  });

  it('refuses a raw control character inside a value, as JSON does, in the written form too', () => {
    expect(errorOf('{"t":"2024-05-01T12:00:00Z","input":"i\tp","transport":"tcp","hex":"41"}').message).toContain('not valid JSON');
    expect(errorOf('{"t":"2024-05-01T12:00:00Z","input":"ip","transport":"tcp","peer":"a\u0000","hex":"41"}').message).toContain('not valid JSON');
  });

  it.each([
    ['{"t":"2024-05-01T12:00:00Z","input":"ip","transport":"tcp","hex":"4', 'not valid JSON'],
    ['{"input":"ip","transport":"tcp","hex":"41"}', '"t"'],
    ['{"t":"yesterday","input":"ip","transport":"tcp","hex":"41"}', '"t"'],
    ['{"t":"2024-13-45T99:00:00Z","input":"ip","transport":"tcp","hex":"41"}', '"t"'],
    ['{"t":"2024-05-01T12:00:00Z","input":"","transport":"tcp","hex":"41"}', '"input"'],
    ['{"t":"2024-05-01T12:00:00Z","input":"ip","transport":"carrier-pigeon","hex":"41"}', '"transport"'],
    ['{"t":"2024-05-01T12:00:00Z","input":"ip","transport":"tcp","peer":7,"hex":"41"}', '"peer"'],
    ['{"t":"2024-05-01T12:00:00Z","input":"ip","transport":"tcp","hex":"414"}', '"hex"'],
    ['{"t":"2024-05-01T12:00:00Z","input":"ip","transport":"tcp","hex":""}', '"hex"'],
    ['{"t":"2024-05-01T12:00:00Z","input":"ip","transport":"tcp","hex":"zz"}', '"hex"'],
  ])('refuses %s naming %s', (line, naming) => {
    const error = errorOf(line);
    expect(error.code).toBe('REPLAY_LINE_MALFORMED');
    expect(error.message).toContain(naming);
  });
});

describe('capture records of discarded bytes', () => {
  it('reads back the discard note `run --capture` writes for bytes an input discarded unread', () => {
    const note = { reason: 'FRAME_OVERSIZE', count: 3, bytes: 3000 };
    const line = captureLine(Buffer.from(DC09_FRAME, 'latin1'), Date.parse('2024-05-01T08:00:00.000Z'), 'ip', 'udp', '192.0.2.10:40002', note);
    expect(JSON.parse(line)).toMatchObject({ transport: 'udp', discarded: note });
    expect(frameOf(line)).toMatchObject({ input: 'ip', transport: 'udp', discarded: note });
    expect(frameOf(captureLine(Buffer.from(DC09_FRAME, 'latin1'), 0, 'ip', 'udp', 'p')).discarded).toBeUndefined();
  });

  it.each([['a string', '"FRAME_NOISE"'], ['no reason', '{"count":1,"bytes":8}'], ['a negative count', '{"reason":"FRAME_NOISE","count":-1,"bytes":8}']])(
    'refuses a discard note that is %s',
    (_, note) => {
      const line = `{"t":"2024-05-01T08:00:00.000Z","input":"ip","transport":"tcp","hex":"0d","discarded":${note}}`;
      expect(errorOf(line).code).toBe('REPLAY_LINE_MALFORMED');
    },
  );
});

describe("the file's last line, with no LF after it", () => {
  it('is a record cut short when it is a capture record that does not parse; whole records and plain-log lines read as any line', () => {
    const whole = captureLine(Buffer.from(DC09_FRAME, 'latin1'), 0, 'ip', 'tcp', 'p');
    expect(parseLastReplayLine(whole.slice(0, 40))).toMatchObject({ ok: false, error: { code: 'REPLAY_FILE_TRUNCATED' } });
    expect(parseLastReplayLine(whole)).toEqual(parseReplayLine(whole));
    expect(parseLastReplayLine(CONTACT_ID)).toEqual(parseReplayLine(CONTACT_ID));
    // A file system that lost the last write in a crash leaves zero bytes where it was.
    expect(parseLastReplayLine('\0'.repeat(512))).toMatchObject({ ok: false, error: { code: 'REPLAY_FILE_TRUNCATED' } });
    expect(parseLastReplayLine(whole.slice(0, 40) + '\0'.repeat(24))).toMatchObject({ ok: false, error: { code: 'REPLAY_FILE_TRUNCATED' } });
  });
});

describe('plain-log lines', () => {
  it('takes a frame written with escapes, without time, input or transport', () => {
    const frame = frameOf('\\n' + 'F4D20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]' + '\\r');
    expect(frame).toMatchObject({ t: null, input: null, transport: null, peer: null });
    expect(Buffer.from(frame.bytes).toString('latin1')).toBe(DC09_FRAME);
  });

  it('drops the CR of a CRLF line ending but keeps the bytes of the frame', () => {
    expect(Buffer.from(frameOf(`${CONTACT_ID}\r`).bytes).toString('latin1')).toBe(CONTACT_ID);
    expect(Buffer.from(frameOf('501100 181234E12101001\\x14').bytes).toString('latin1')).toBe('501100 181234E12101001\u0014');
  });

  it('skips blank lines', () => {
    expect(parseReplayLine('')).toBeNull();
    expect(parseReplayLine('   \r')).toBeNull();
  });

  it('refuses a broken escape as a malformed line, naming the escape', () => {
    expect(errorOf('N Ri01 BA 01 \\q')).toMatchObject({ code: 'REPLAY_LINE_MALFORMED', message: expect.stringContaining('"\\q"') });
  });
});
