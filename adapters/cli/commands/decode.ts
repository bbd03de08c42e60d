import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { parseFrameText, parseHex } from '../../../src/codecs/escapes.js';
import { decodeKey } from '../../../src/settings/keys.js';
import { createIdSource } from '../../../src/model/ids.js';
import { unverified } from '../../../src/pipeline/event-builder.js';
import { systemClock } from '../../../src/ports.js';
import type { DecodeError } from '../../../src/codecs/result.js';

interface DecodeOptions {
  hex?: boolean;
  key?: string;
  keyEncoding: 'hex' | 'ascii';
  strict?: boolean;
}

/** `panelbridge decode`: one frame (argument, or each line of standard input) → normalized events as JSON lines. */
export function decodeCommand(): Command {
  return new Command('decode')
    .description('decode a frame (DC-09, Contact ID, SIA DC-03, Sur-Gard) and print the normalized event(s) as JSON')
    .argument('[frame]', 'text with \\n \\r \\xNN escapes, or hex with --hex; read from standard input when absent')
    .option('--hex', 'the frame is hex bytes')
    .option('--key <key>', 'AES key for encrypted DC-09 frames')
    .addOption(new Option('--key-encoding <encoding>', 'how --key is written').choices(['hex', 'ascii']).default('hex'))
    .option('--strict', 'reject tolerated field quirks')
    .action(async (frame: string | undefined, options: DecodeOptions) => {
      // Imported when a frame is decoded, not with every command's definition: codecs, catalogs, classification.
      const [{ decodeFrame }, { eventFromSignal }] = await Promise.all([
        import('../../../src/pipeline/decode-frame.js'),
        import('../../../src/pipeline/event-builder.js'),
      ]);
      const inputs = frame !== undefined ? [frame] : stdinFrames(options.hex === true);
      let failed = inputs.length === 0;
      if (inputs.length === 0) printError({ code: 'INPUT_EMPTY', message: 'no frame given' });
      let key: Uint8Array | undefined;
      if (options.key !== undefined) {
        const decoded = decodeKey(options.key, options.keyEncoding);
        if (!decoded.ok) {
          printError({ code: 'CONFIG_KEY_INVALID', message: decoded.message });
          process.exitCode = 1;
          return;
        }
        key = decoded.bytes;
      }
      const ids = createIdSource(systemClock);
      for (const input of inputs) {
        const bytes = options.hex === true ? parseHex(input) : parseFrameText(input);
        if (!bytes.ok) {
          printError(bytes.error);
          failed = true;
          continue;
        }
        const decoded = decodeFrame(bytes.value, {
          strict: options.strict === true,
          requireHeader: false,
          ...(key === undefined ? {} : { keyFor: () => key }),
        });
        if (!decoded.ok) {
          printError(decoded.error);
          failed = true;
          continue;
        }
        const origin = { input: 'cli', transport: 'cli' as const, receivedAt: systemClock.now(), raw: bytes.value, trust: unverified('unauthenticated-source') };
        for (const signal of decoded.value.signals) {
          process.stdout.write(JSON.stringify(eventFromSignal(signal, origin, { ids, sites: () => [] })) + '\n');
        }
      }
      if (failed) process.exitCode = 1;
    });
}

function printError(error: Pick<DecodeError, 'code' | 'message'>): void {
  process.stdout.write(JSON.stringify({ error: { code: error.code, message: error.message } }) + '\n');
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
