import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino';
import { redactUrlCredentials, redactUrlCredentialsIn } from './redact.js';

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
 * path, credentials in URLs wherever they appear. `destination` lets tests capture the output.
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
    },
  };
  if (pretty) {
    return pino({ ...config, transport: { target: 'pino-pretty', options: { colorize: true, destination: 2 } } });
  }
  return pino(config, options.destination ?? pino.destination({ dest: 1, sync: true }));
}
