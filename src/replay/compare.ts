import { isDeepStrictEqual } from 'node:util';

/** One field that differs; `undefined` means the field is absent on that side. */
export interface FieldDifference {
  /** Dotted path with array indexes: `category`, `source.peer`, `reasons[1]`. */
  path: string;
  expected: unknown;
  actual: unknown;
}

/** `index` is 0-based: the event's position in both streams. */
export type EventDifference =
  | { index: number; kind: 'changed'; fields: FieldDifference[] }
  | { index: number; kind: 'missing'; expected: unknown }
  | { index: number; kind: 'unexpected'; actual: unknown };

export interface CompareOptions {
  /** Paths left out of the comparison; a path also covers what is under it (`source` covers `source.peer`). */
  ignore?: readonly string[];
}

/**
 * Replayed events against expected ones, position by position (a replay is deterministic, so order is part of
 * the result): every differing field of an event present on both sides, then the events only one side has.
 */
export function compareEvents(actual: readonly unknown[], expected: readonly unknown[], options: CompareOptions = {}): EventDifference[] {
  const ignore = options.ignore ?? [];
  const ignored = (path: string) => ignore.some((p) => path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`));
  const differences: EventDifference[] = [];
  for (let index = 0; index < Math.max(actual.length, expected.length); index++) {
    if (index >= actual.length) differences.push({ index, kind: 'missing', expected: expected[index] });
    else if (index >= expected.length) differences.push({ index, kind: 'unexpected', actual: actual[index] });
    else {
      const fields: FieldDifference[] = [];
      diffValues('', expected[index], actual[index], fields, ignored);
      if (fields.length > 0) differences.push({ index, kind: 'changed', fields });
    }
  }
  return differences;
}

function diffValues(path: string, expected: unknown, actual: unknown, out: FieldDifference[], ignored: (path: string) => boolean): void {
  if (path !== '' && ignored(path)) return;
  if (isRecord(expected) && isRecord(actual)) {
    const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])];
    for (const key of keys) diffValues(path === '' ? key : `${path}.${key}`, expected[key], actual[key], out, ignored);
  } else if (Array.isArray(expected) && Array.isArray(actual)) {
    for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
      diffValues(`${path}[${i}]`, expected[i], actual[i], out, ignored);
    }
  } else if (!isDeepStrictEqual(expected, actual)) {
    out.push({ path: path === '' ? '(event)' : path, expected, actual });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const VALUE_LIMIT = 160;

function show(value: unknown): string {
  if (value === undefined) return '(absent)';
  const text = JSON.stringify(value);
  return text.length > VALUE_LIMIT ? `${text.slice(0, VALUE_LIMIT)}…` : text;
}

/** The fields a person recognises an event by, for events only one side has. */
function summary(event: unknown): string {
  if (!isRecord(event)) return show(event);
  const code = isRecord(event['code']) ? event['code']['value'] : null;
  return show({ receivedAt: event['receivedAt'], account: event['account'], code, category: event['category'], raw: event['raw'] });
}

/**
 * Differences → lines for a person: `event 3: category: expected "duress", got "burglary"`. Events are numbered
 * from 1, like the lines of an expected file. Past `limit` lines, one line says how many more there are.
 */
export function formatDifferences(differences: readonly EventDifference[], limit = 50): string[] {
  const lines: string[] = [];
  for (const d of differences) {
    const event = `event ${d.index + 1}`;
    if (d.kind === 'missing') lines.push(`${event}: missing from the replay, expected ${summary(d.expected)}`);
    else if (d.kind === 'unexpected') lines.push(`${event}: not expected, the replay gave ${summary(d.actual)}`);
    else for (const f of d.fields) lines.push(`${event}: ${f.path}: expected ${show(f.expected)}, got ${show(f.actual)}`);
  }
  if (lines.length <= limit) return lines;
  return [...lines.slice(0, limit), `… and ${lines.length - limit} more difference lines`];
}
