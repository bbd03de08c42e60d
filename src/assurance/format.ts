const UNITS: ReadonlyArray<readonly [string, number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
];

/** A configured duration back in the configuration's notation: 90s, 30m, 7d (the largest exact unit up to days). */
export function formatDuration(ms: number): string {
  const exact = UNITS.find(([, size]) => ms > 0 && ms % size === 0);
  return exact === undefined ? `${ms}ms` : `${ms / exact[1]}${exact[0]}`;
}

/** A measured span for people: whole seconds under an hour, else hours and minutes, else days and hours. */
export function describeSpan(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 24 * 60) return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  const hours = Math.floor(minutes / 60);
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}
