import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI, tempDir } from '../helpers/gateway-process.js';
import type { Dc09Message } from '../../src/codecs/dc09/frame.js';
import { encodeAck } from '../../src/codecs/dc09/responses.js';
import { eventSchema } from '../../src/model/event.js';

const run = promisify(execFile);

interface GoldenLine {
  name: string;
  input?: string;
  inputHex?: string;
  key?: { value: string; encoding: 'hex' | 'ascii' };
  strict?: boolean;
  options?: { strict?: boolean };
  requireHeader?: boolean;
  expectError?: { code: string } | string;
}

/**
 * Golden lines with a frame to feed. The CLI decodes a bare DC-09 body (like `requireHeader: false`), so the
 * receiver-only case "refused without a header" does not apply to it.
 */
function golden(file: URL): GoldenLine[] {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as GoldenLine)
    .filter((l) => l.input !== undefined || l.inputHex !== undefined);
  const headerless = new Set(lines.filter((l) => l.requireHeader === false).map((l) => l.input));
  return lines.filter((l) => l.requireHeader === false || !headerless.has(l.input));
}

function errorCode(line: GoldenLine): string | undefined {
  return typeof line.expectError === 'string' ? line.expectError : line.expectError?.code;
}

async function decode(args: string[]): Promise<{ code: number; lines: Array<Record<string, unknown>> }> {
  try {
    const { stdout } = await run(process.execPath, [CLI, 'decode', ...args]);
    return { code: 0, lines: stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
  } catch (error) {
    const e = error as { code: number; stdout: string };
    return { code: e.code, lines: e.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
  }
}

function argsFor(line: GoldenLine): string[] {
  // Golden `input` is escaped text (\\n, \\xNN), exactly what the CLI takes; `inputHex` is raw bytes.
  return [
    ...(line.inputHex === undefined ? [line.input!] : ['--hex', line.inputHex]),
    ...(line.key === undefined ? [] : ['--key', line.key.value, '--key-encoding', line.key.encoding]),
    ...(line.strict === true || line.options?.strict === true ? ['--strict'] : []),
  ];
}

/** The real binary against every public vector in the golden files: valid ones decode, invalid ones are refused. */
describe('panelbridge decode on the public vectors', () => {
  for (const file of ['dc09/dc09.jsonl', 'contact-id.jsonl', 'surgard.jsonl']) {
    describe(path.basename(file), () => {
      it.concurrent.each(golden(new URL(`../src/codecs/${file}`, import.meta.url)).map((l) => [l.name, l] as const))('%s', async (_name, line) => {
        const { code, lines } = await decode(argsFor(line));
        if (line.expectError !== undefined) {
          expect(code).toBe(1);
          expect(lines[0]).toMatchObject({ error: { code: errorCode(line) } });
        } else {
          expect(code).toBe(0);
          expect(lines.length).toBeGreaterThan(0);
          // A receiver's answer (ACK, NAK) prints as one, every other frame as events.
          for (const event of lines) expect(event['answer'] !== undefined || eventSchema.safeParse(event).success).toBe(true);
        }
      });
    });
  }
});

describe('panelbridge decode', () => {
  // A receiver's answer carries no event: it is named an answer and its parts printed, never classified.
  it('prints a receiver\'s ACK as an answer with its parts (public vector 36, NiftyDC09 to Pyronix)', async () => {
    const { code, lines } = await decode(['59890012"ACK"0000L0#1409[]']);
    expect(code).toBe(0);
    expect(lines).toEqual([
      {
        answer: {
          token: 'ACK', encrypted: false, seq: '0000', receiver: null, line: '0', account: '1409',
          data: '', extended: {}, timestamp: null, crcForm: 'ascii', quirks: [],
        },
      },
    ]);
  });

  it('prints a NAK with the receiver\'s time, and a DUH (public vector 32)', async () => {
    const nak = await decode(['3C3B0025"NAK"0000R0L0A0[]_15:39:35,05-07-2019']);
    expect(nak.code).toBe(0);
    expect(nak.lines).toMatchObject([{ answer: { token: 'NAK', receiver: '0', line: '0', account: 'A0', timestamp: '2019-05-07T15:39:35.000Z' } }]);
    const duh = await decode(['"DUH"0007L0#1234[]']);
    expect(duh.lines).toMatchObject([{ answer: { token: 'DUH', seq: '0007', account: '1234', quirks: ['no-crc-header'] } }]);
  });

  // artis101/sia-dc09-dev-receiver (src/main.rs build_reply) answers `"ACK"0042L0`: no account, no data block. The
  // DC-09 output takes it; decode refused it as DC09_FORMAT_INVALID.
  it('prints a plain answer without account and data block as an answer (artis101\'s test receiver)', async () => {
    const { code, lines } = await decode(['"ACK"0042L0']);
    expect(code).toBe(0);
    expect(lines).toEqual([
      {
        answer: {
          token: 'ACK', encrypted: false, seq: '0042', receiver: null, line: '0', account: null,
          data: '', extended: {}, timestamp: null, crcForm: 'ascii', quirks: ['no-crc-header', 'no-header-account', 'no-data-block'],
        },
      },
    ]);
  });

  it('prints an encrypted ACK, read with --key, with the receiver\'s time', async () => {
    const key = Buffer.from('0123456789ABCDEF', 'latin1');
    const request = { seq: '0005', receiver: null, line: '0', account: '1234', encrypted: true, osborneHoffman: false, crcForm: 'ascii' } as Dc09Message;
    const ack = encodeAck(request, { now: Date.UTC(2024, 0, 2, 10, 0, 0), key, random: randomBytes });
    const { code, lines } = await decode(['--hex', Buffer.from(ack).toString('hex'), '--key', '0123456789ABCDEF', '--key-encoding', 'ascii']);
    expect(code).toBe(0);
    expect(lines).toMatchObject([{ answer: { token: 'ACK', encrypted: true, seq: '0005', account: '1234', timestamp: '2024-01-02T10:00:00.000Z' } }]);
  });

  it('prints one event per code of a SIA block with two codes', async () => {
    const { code, lines } = await decode(['"SIA-DCS"0002L0#1234[#1234|Nid22/CL/PA31]']);
    expect(code).toBe(0);
    expect(lines.map((l) => l['category'])).toEqual(['closing', 'panic']);
  });

  it('labels a keypad duress (Contact ID 121) duress and names the user', async () => {
    const { lines } = await decode(['1234181121010014']);
    expect(lines[0]).toMatchObject({ category: 'duress', duress: true, user: { number: 1 }, code: { value: '121' } });
  });

  it('takes the time of occurrence from the [H] extended field over the frame timestamp', async () => {
    const { lines } = await decode(['"SIA-DCS"0003L0#1234[#1234|NBA01][H10:00:05,03-01-2025]_10:00:30,03-01-2025']);
    expect(lines[0]).toMatchObject({ occurredAt: '2025-03-01T10:00:05.000Z', extended: { H: '10:00:05,03-01-2025' } });
  });

  it('shows a NULL as a heartbeat event', async () => {
    const { code, lines } = await decode(['\\nFE2E0013"NULL"0000L0#8312[]\\r']);
    expect(code).toBe(0);
    expect(lines[0]).toMatchObject({ category: 'heartbeat', protocol: 'null', account: '8312' });
  });

  it('reads frames from standard input, one per line, and fails with a typed error on garbage', async () => {
    const child = execFile(process.execPath, [CLI, 'decode']);
    child.stdin!.end('1234181131010158\nthis is not a parsable event\n');
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const exit = await new Promise<number | null>((r) => child.on('exit', r));
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(exit).toBe(1);
    expect(lines[0]).toMatchObject({ category: 'burglary', zone: { number: 15 } });
    expect(lines[1]).toHaveProperty('error.code');
  });

  it('reads text beyond Latin-1 in the FRAME argument (a Cyrillic zone name) as the same UTF-8 bytes standard input gives', async () => {
    const frame = '"SIA-DCS"0001L0#1234[#1234|NBA01^Кухня^][SУлица Ленина]';
    const fromArgument = await decode([frame]);
    const child = execFile(process.execPath, [CLI, 'decode']);
    child.stdin!.end(frame + '\n');
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const exit = await new Promise<number | null>((r) => child.on('exit', r));
    const fromStdin = JSON.parse(out.trim()) as Record<string, unknown>;
    expect(exit).toBe(0);
    expect(fromStdin).toMatchObject({ extended: { S: 'Улица Ленина' } });
    expect(fromArgument.code).toBe(0);
    expect(fromArgument.lines[0]).toMatchObject({ extended: fromStdin['extended'], raw: fromStdin['raw'] });
  });

  it('decrypts with an ASCII key given on the command line', async () => {
    const frame =
      '"*SIA-DCS"9876R579BDFL789ABC#12345A[209c9d400b655df7a26aecb6a887e7ee6ed8103217079aae7cbd9dd7551e96823263460f7ef0514864897ae9789534f1';
    const { code, lines } = await decode([frame, '--key', '0123456789ABCDEF0123456789ABCDEF', '--key-encoding', 'hex']);
    expect(code).toBe(0);
    expect(lines[0]).toMatchObject({ account: '12345A', category: 'fire', code: { value: 'FA' } });
  });

  // Every local user reads /proc/PID/cmdline: a key given with --key is theirs while the decode runs.
  it('reads the key from --key-file or --key-env, never from the command line the process list shows', async () => {
    const frame =
      '"*SIA-DCS"9876R579BDFL789ABC#12345A[209c9d400b655df7a26aecb6a887e7ee6ed8103217079aae7cbd9dd7551e96823263460f7ef0514864897ae9789534f1';
    const key = '0123456789ABCDEF0123456789ABCDEF';
    const keyFile = path.join(tempDir('decode-key'), 'arc.key');
    writeFileSync(keyFile, key + '\n', { mode: 0o600 });
    for (const [args, env] of [
      [['--key-file', keyFile], {}],
      [['--key-env', 'PB_TEST_DECODE_KEY'], { PB_TEST_DECODE_KEY: key }],
    ] as const) {
      const child = execFile(process.execPath, [CLI, 'decode', ...args, '--key-encoding', 'hex'], { env: { ...process.env, ...env } });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      // It waits for standard input: what the process list shows of it now is what another user sees.
      const cmdline = existsSync(`/proc/${child.pid}/cmdline`) ? readFileSync(`/proc/${child.pid}/cmdline`, 'utf8') : '';
      child.stdin!.end(frame + '\n');
      const exit = await new Promise<number | null>((r) => child.on('exit', r));
      expect(cmdline).not.toContain(key);
      expect(exit).toBe(0);
      expect(JSON.parse(out.trim())).toMatchObject({ account: '12345A', category: 'fire' });
    }
    expect(await decode([frame, '--key-file', keyFile, '--key', key])).toMatchObject({ code: 1, lines: [{ error: { code: 'CONFIG_KEY_INVALID', message: expect.stringMatching(/only one of/) } }] });
  });

  it('refuses a key that does not fit its encoding', async () => {
    const { code, lines } = await decode(['1234181131010158', '--key', 'ABC', '--key-encoding', 'ascii']);
    expect(code).toBe(1);
    expect(lines[0]).toMatchObject({ error: { code: 'CONFIG_KEY_INVALID' } });
  });
});
