/** `scheme://user:password@host` → `scheme://[redacted]@host`: credentials written into a URL never reach a log. */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@'"]+@/gi;

export function redactUrlCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1[redacted]@');
}

const MAX_DEPTH = 6;

/**
 * A copy of a log record's fields with URL credentials redacted in every string, errors included (as plain
 * objects with type, message, code and stack). Fields without a string to change are returned as they are.
 */
export function redactUrlCredentialsIn(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactUrlCredentials(value);
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (value instanceof Error) {
    const code = (value as NodeJS.ErrnoException).code;
    return {
      type: value.name,
      message: redactUrlCredentials(value.message),
      ...(code === undefined ? {} : { code }),
      ...(value.stack === undefined ? {} : { stack: redactUrlCredentials(value.stack) }),
    };
  }
  if (Array.isArray(value)) return value.map((item) => redactUrlCredentialsIn(item, depth + 1));
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) copy[key] = redactUrlCredentialsIn(field, depth + 1);
  return copy;
}
