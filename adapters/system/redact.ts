/**
 * `scheme://user:password@host` → `scheme://[redacted]@host`: credentials written into a URL never reach a log.
 * Up to the authority's last `@`, as a URL parser reads it (a password may hold an `@`, a `'` or a `"` of its
 * own); the authority ends at `/`, `\`, `?`, `#`, or whitespace. A quote does not end it: a URL quoted in the
 * text and followed, with no space, by another `@` loses that text too, which is the safe side.
 */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/\\?#]+@/gi;

export function redactUrlCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1[redacted]@');
}

const MAX_DEPTH = 6;

/**
 * A copy of a log record's fields with URL credentials redacted in every string, errors included (message,
 * stack, cause).
 */
export function redactUrlCredentialsIn(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactUrlCredentials(value);
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (value instanceof Error) {
    // Same prototype, so the logger's error serializer still names its type (GatewayError, …).
    const copy = Object.create(Object.getPrototypeOf(value) as object) as Error & { code?: unknown; cause?: unknown };
    if (Object.hasOwn(value, 'name')) copy.name = value.name;
    copy.message = redactUrlCredentials(value.message);
    if (value.stack !== undefined) copy.stack = redactUrlCredentials(value.stack);
    const { code, cause } = value as Error & { code?: unknown; cause?: unknown };
    if (code !== undefined) copy.code = code;
    if (cause !== undefined) copy.cause = redactUrlCredentialsIn(cause, depth + 1);
    return copy;
  }
  if (Array.isArray(value)) return value.map((item) => redactUrlCredentialsIn(item, depth + 1));
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) copy[key] = redactUrlCredentialsIn(field, depth + 1);
  return copy;
}
