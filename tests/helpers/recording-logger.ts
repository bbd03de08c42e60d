import type { Logger } from '../../src/ports.js';

export interface LoggedLine {
  level: string;
  fields: Record<string, unknown>;
  message: string | undefined;
}

/** A Logger that keeps every line it is given (children log into the same list). */
export function recordingLogger(): { logger: Logger; lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  const at = (level: string) => (fields: object, message?: string) => lines.push({ level, fields: fields as Record<string, unknown>, message });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return { logger, lines };
}
