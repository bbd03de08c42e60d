import { Command, Option } from 'commander';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { parseFrameText, parseHex } from '../../../src/codecs/escapes.js';
import { createIdSource } from '../../../src/model/ids.js';
import { unverified } from '../../../src/pipeline/event-builder.js';
import { systemClock } from '../../../src/ports.js';
import type { DecodeError } from '../../../src/codecs/result.js';
import { CAPTURE_MAGIC_BYTES, captureFormat } from '../../../src/codecs/pcap.js';
import type { ReplayFrame } from '../../../src/replay/capture.js';
import { EXIT_NOINPUT } from '../config.js';
import { resolveKey } from '../../system/secrets.js';
import { terminalText } from '../../system/terminal-text.js';
import { STDIN_FILE } from '../../inputs/replay-reader-protocol.js';

interface DecodeOptions {
  hex?: boolean;
  key?: string;
  keyFile?: string;
  keyEnv?: string;
  keyEncoding: 'hex' | 'ascii';
  strict?: boolean;
  pcap?: string;
}

/** `panelbridge decode`: one frame (argument, or each line of standard input) → normalized events as JSON lines. */
export function decodeCommand(): Command {
  return new Command('decode')
    .description(
      "decode a frame (DC-09, Contact ID, SIA DC-03, Sur-Gard) and print the normalized event(s) as JSON; a receiver's DC-09 answer (ACK, NAK, DUH, RSP) prints as {\"answer\": its parts}",
    )
    .argument('[frame]', 'text with \\n \\r \\xNN escapes, or hex with --hex; read from standard input when absent')
    .option('--hex', 'the frame is hex bytes')
    .option('--key <key>', 'AES key for encrypted DC-09 frames (every local user sees it in the process list: prefer --key-file)')
    .option('--key-file <file>', 'read the AES key from this file')
    .option('--key-env <variable>', 'read the AES key from this environment variable')
    .addOption(new Option('--key-encoding <encoding>', 'how the key is written').choices(['hex', 'ascii']).default('hex'))
    .option('--strict', 'reject tolerated field quirks')
    .option('--pcap <file>', 'decode the frames panels sent in a packet capture (pcap or pcapng, as tcpdump and Wireshark write it); - reads standard input')
    .action(async (frame: string | undefined, options: DecodeOptions, command: Command) => {
      if (options.pcap !== undefined && (frame !== undefined || options.hex === true)) command.error('error: --pcap takes no FRAME and no --hex');
      // Imported when a frame is decoded, not with every command's definition: codecs, catalogs, classification.
      const [{ decodeFrame }, { eventFromSignal }] = await Promise.all([
        import('../../../src/pipeline/decode-frame.js'),
        import('../../../src/pipeline/event-builder.js'),
      ]);
      const resolved = resolveKey(options, options.keyEncoding);
      if (!resolved.ok) {
        printError({ code: 'CONFIG_KEY_INVALID', message: `key: ${resolved.message}` });
        process.exitCode = 1;
        return;
      }
      const key = resolved.key;
      const ids = createIdSource(systemClock);
      /** Prints the events of one frame; false when it does not decode. `where` names the packet it came in. */
      const decodeOne = (bytes: Uint8Array, source: Pick<ReplayFrame, 't' | 'transport' | 'peer'>, where = ''): boolean => {
        const decoded = decodeFrame(bytes, {
          strict: options.strict === true,
          requireHeader: false,
          // A receiver's answer is printed, so every form the DC-09 output takes is read.
          blocklessAnswers: true,
          ...(key === undefined ? {} : { keyFor: () => key }),
        });
        if (!decoded.ok) {
          printError({ code: decoded.error.code, message: where + decoded.error.message });
          return false;
        }
        if (decoded.value.answer !== undefined) {
          // A receiver's answer carries no event: its parts, never a classification.
          printJson({ answer: decoded.value.answer });
          return true;
        }
        const origin = {
          input: 'cli',
          transport: source.transport ?? 'cli',
          receivedAt: source.t ?? systemClock.now(),
          raw: bytes,
          trust: unverified('unauthenticated-source'),
          ...(source.peer === null ? {} : { peer: source.peer }),
        };
        for (const signal of decoded.value.signals) {
          printJson(eventFromSignal(signal, origin, { ids, sites: () => [] }));
        }
        return true;
      };
      if (options.pcap !== undefined) {
        process.exitCode = await decodeCapture(options.pcap, decodeOne);
        return;
      }
      const inputs = frame !== undefined ? [frame] : stdinFrames(options.hex === true);
      let failed = inputs.length === 0;
      if (inputs.length === 0) printError({ code: 'INPUT_EMPTY', message: 'no frame given' });
      for (const input of inputs) {
        const bytes = options.hex === true ? parseHex(input) : parseFrameText(input);
        if (!bytes.ok) {
          printError(bytes.error);
          failed = true;
          continue;
        }
        if (!decodeOne(bytes.value, { t: null, transport: null, peer: null })) failed = true;
      }
      if (failed) process.exitCode = 1;
    });
}

/**
 * The frames of a packet capture, each decoded with its packet's time as receivedAt and its sender as the peer;
 * resolves with the exit status. Every frame a panel sent counts: without a configuration the panel side of a
 * flow is the one whose first payload starts with LF.
 */
async function decodeCapture(file: string, decodeOne: (bytes: Uint8Array, source: ReplayFrame, where: string) => boolean): Promise<number> {
  // Standard input cannot be looked at first: its reader tells a capture by the same magic number (its lines' unit).
  const fromStdin = file === STDIN_FILE;
  const named = fromStdin ? 'standard input' : file;
  const notCapture = () => {
    printError({ code: 'PCAP_FORMAT_INVALID', message: `${named} is not a pcap or pcapng file (no magic number)` });
    return 1;
  };
  if (!fromStdin) {
    let head: Uint8Array;
    try {
      head = readHead(file);
    } catch (error) {
      process.stderr.write(`decode: cannot read ${file}: ${(error as Error).message}\n`);
      return EXIT_NOINPUT;
    }
    if (captureFormat(head) === null) return notCapture();
  }
  // Imported only for a capture: it starts the replay reader's thread.
  const { ReplayFile } = await import('../../inputs/replay.js');
  let failed = false;
  let frames = 0;
  try {
    const source = new ReplayFile(file, { pacing: 'fast' });
    for await (const line of source.lines()) {
      if (line.unit !== 'packet') {
        source.close();
        return notCapture();
      }
      const where = `packet ${line.lineNumber}: `;
      if (!line.parsed.ok) {
        printError({ code: line.parsed.error.code, message: where + line.parsed.error.message });
        failed = true;
        continue;
      }
      frames += 1;
      if (!decodeOne(line.parsed.value.bytes, line.parsed.value, where)) failed = true;
    }
  } catch (error) {
    process.stderr.write(`decode: reading ${named} failed: ${(error as Error).message}\n`);
    return EXIT_NOINPUT;
  }
  if (frames === 0) {
    printError({ code: 'INPUT_EMPTY', message: `${named} holds no frame a panel sent` });
    failed = true;
  }
  return failed ? 1 : 0;
}

function readHead(file: string): Uint8Array {
  const fd = openSync(file, 'r');
  try {
    const head = new Uint8Array(CAPTURE_MAGIC_BYTES);
    return head.subarray(0, readSync(fd, head, 0, head.length, 0));
  } finally {
    closeSync(fd);
  }
}

/** One JSON line; a frame's text may hold controls JSON leaves as they are (C1, bidi), which terminalText escapes. */
function printJson(value: unknown): void {
  process.stdout.write(terminalText(JSON.stringify(value)) + '\n');
}

function printError(error: Pick<DecodeError, 'code' | 'message'>): void {
  printJson({ error: { code: error.code, message: error.message } });
}

/** Standard input: one frame per non-empty line (escapes keep CR/LF inside a frame), or all of it as hex. */
function stdinFrames(hex: boolean): string[] {
  let text: string;
  try {
    text = readFileSync(0, 'latin1');
  } catch {
    return [];
  }
  if (hex) return text.trim() === '' ? [] : [text];
  return text.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== '');
}
