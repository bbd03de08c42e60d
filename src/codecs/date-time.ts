/**
 * Epoch ms of a UTC date and time (month 1-12), or null when it is not a real one: no month 13, day 32, Feb 30,
 * Feb 29 of a year that is not a leap year, hour 24 or second 60, which Date.UTC would roll over into the next.
 * Years below 100 are refused: Date.UTC reads them as 19xx, and no device means them.
 */
export function utcTime(year: number, month: number, day: number, hours: number, minutes: number, seconds: number, ms = 0): number | null {
  if (year < 100 || month < 1 || month > 12 || hours < 0 || hours > 23 || minutes < 0 || minutes > 59 || seconds < 0 || seconds > 59) return null;
  if (day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return null;
  return Date.UTC(year, month - 1, day, hours, minutes, seconds, ms);
}

/** xs:dateTime: `YYYY-MM-DDTHH:MM:SS`, a fraction, and `Z` or an offset `±HH:MM`, or none; the T may be a space (RFC 3339). */
const XML_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-](?:(?:0\d|1[0-3]):[0-5]\d|14:00))?$/;

/**
 * Epoch ms of an xs:dateTime (ONVIF `UtcTime`, an access-control feed's time), or null when it is not one.
 * Without an offset it is read as UTC: Date.parse would read it in the gateway host's time zone, and takes
 * `March 1, 2025` or `1` as times too.
 */
export function parseXmlDateTime(text: string): number | null {
  const match = XML_DATE_TIME.exec(text.trim());
  if (match === null) return null;
  const [year, month, day, hours, minutes, seconds] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = match[7] === undefined ? 0 : Number(match[7].slice(0, 3).padEnd(3, '0'));
  const at = utcTime(year, month, day, hours, minutes, seconds, ms);
  const zone = match[8];
  if (at === null || zone === undefined || zone === 'Z') return at;
  const offset = (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  return zone.startsWith('-') ? at + offset : at - offset;
}
