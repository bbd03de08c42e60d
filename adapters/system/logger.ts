import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger as PinoLogger, type LevelWithSilent } from 'pino';
import { redactUrlCredentials, redactUrlCredentialsIn } from './redact.js';
import { terminalText } from './terminal-text.js';

/** Paths whose values never reach a log line: AES keys, passwords, webhook secrets, API tokens, auth headers. */
export const REDACT_PATHS = [
  'key',
  '*.key',
  '*.*.key',
  'keys',
  'password',
  '*.password',
  'secret',
  '*.secret',
  '*.*.secret',
  'token',
  '*.token',
  'tokens[*].token',
  '*.tokens[*].token',
  'settings.api.tokens[*].token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'settings.inputs[*].accounts[*].key',
  'settings.inputs[*].secret',
  '*.accounts[*].key',
  'settings.outputs[*].password',
  'settings.outputs[*].secret',
];

/**
 * The single root logger: JSON lines on stdout for journald; on a terminal (stderr is a TTY), pretty lines on
 * stderr, so stdout carries only events (`panelbridge run | jq` works). Keys, passwords and secrets are redacted by
 * path, credentials in URLs wherever they appear. Log fields carry text a panel sent (an account, DC-09 extended
 * data): no character a terminal obeys is written raw, in JSON lines as a JSON escape (same meaning), in pretty lines
 * as a visible `\uXXXX`. `destination` lets tests capture the output.
 */
export function createRootLogger(options: {
  level?: LevelWithSilent;
  gateway?: string;
  destination?: NodeJS.WritableStream;
  pretty?: boolean;
}): PinoLogger {
  const pretty = options.pretty ?? (options.destination === undefined && process.stderr.isTTY === true);
  const base = { service: 'panelbridge', ...(options.gateway === undefined ? {} : { gateway: options.gateway }) };
  const config = {
    level: options.level ?? 'info',
    base,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    // Credentials written into a URL (mqtt://user:pass@host) may sit in any string, an error message included.
    formatters: { log: (fields: Record<string, unknown>) => redactUrlCredentialsIn(fields) as Record<string, unknown> },
    hooks: {
      logMethod(this: PinoLogger, args: Parameters<PinoLogger['info']>, method: (...args: unknown[]) => void) {
        method.apply(this, args.map((arg) => (typeof arg === 'string' ? redactUrlCredentials(arg) : arg)));
      },
      streamWrite: jsonLineForTerminals,
    },
  };
  if (pretty) return pino(config, prettyLines(options.destination ?? process.stderr));
  return pino(config, options.destination ?? pino.destination({ dest: 1, sync: true }));
}

/**
 * A JSON line whose characters a terminal would obey are written as JSON's own `\uXXXX` escapes: the line parses to
 * the same values, and `tail -f` or `jq` on a terminal shows them. Inside pino's strings the C0 controls are escaped
 * already; C1 controls (CSI U+009B), DEL and bidi marks are not. The line break that ends the line stays.
 */
function jsonLineForTerminals(line: string): string {
  return line.endsWith('\n') ? terminalText(line.slice(0, -1)) + '\n' : terminalText(line);
}

/**
 * Pretty lines, made in this process (a terminal's output is small): pino-pretty strips C0 and C1 controls but writes
 * a field's line breaks and bidi marks as they are, so every string is escaped before it formats the line.
 */
function prettyLines(out: NodeJS.WritableStream): DestinationStream {
  // Required here, not imported: a gateway logging JSON never loads the formatter.
  const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  const prettify = prettyFactory({ colorize: true });
  return { write: (line: string) => void out.write(prettify(escapedForTerminal(JSON.parse(line)))) };
}

/** Every string and key of a parsed log line through terminalText; a stack keeps its own line breaks. */
function escapedForTerminal(value: unknown): unknown {
  if (typeof value === 'string') return terminalText(value);
  if (Array.isArray(value)) return value.map(escapedForTerminal);
  if (typeof value !== 'object' || value === null) return value;
  const fields = value as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(fields).map(([key, field]) => [
      terminalText(key),
      key === 'stack' && typeof field === 'string' ? stackForTerminal(field, fields['message']) : escapedForTerminal(field),
    ]),
  );
}

/** A stack's frames keep their lines; its first line holds the error's message, line breaks and all, escaped whole. */
function stackForTerminal(stack: string, message: unknown): string {
  const at = typeof message === 'string' && message !== '' ? stack.indexOf(message) : -1;
  const head = at === -1 ? '' : stack.slice(0, at + (message as string).length);
  return terminalText(head) + stack.slice(head.length).split('\n').map(terminalText).join('\n');
}
