import { utcTime } from '../date-time.js';

/** The DC-09 timestamp `HH:MM:SS,MM-DD-YYYY` (UTC), written after '_' at the end of a message. */
const TIMESTAMP_LENGTH = 19;

function twoDigits(value: number): string {
  return value < 10 ? '0' + value : String(value);
}

/** `HH:MM:SS,MM-DD-YYYY` in UTC, without the leading '_'. */
export function formatDc09Timestamp(ms: number): string {
  const date = new Date(ms);
  return (
    `${twoDigits(date.getUTCHours())}:${twoDigits(date.getUTCMinutes())}:${twoDigits(date.getUTCSeconds())},` +
    `${twoDigits(date.getUTCMonth() + 1)}-${twoDigits(date.getUTCDate())}-${String(date.getUTCFullYear()).padStart(4, '0')}`
  );
}

/** Parses digits text[at, at+count) as a decimal number; -1 when any is not a digit. */
function digitsAt(text: string, at: number, count: number): number {
  let value = 0;
  for (let i = at; i < at + count; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/** Epoch ms of the timestamp that runs from `at` to the end of text, or null when it is not a real UTC time. */
export function parseDc09Timestamp(text: string, at: number): number | null {
  if (text.length - at !== TIMESTAMP_LENGTH) return null;
  if (
    text[at + 2] !== ':' || text[at + 5] !== ':' || text[at + 8] !== ',' ||
    text[at + 11] !== '-' || text[at + 14] !== '-'
  ) return null;
  const hours = digitsAt(text, at, 2);
  const minutes = digitsAt(text, at + 3, 2);
  const seconds = digitsAt(text, at + 6, 2);
  const month = digitsAt(text, at + 9, 2);
  const day = digitsAt(text, at + 12, 2);
  const year = digitsAt(text, at + 15, 4);
  // A field that is not all digits reads -1, which utcTime refuses.
  return utcTime(year, month, day, hours, minutes, seconds);
}
