import type { Site } from '../settings/sites.js';
import { localDate, localTime, zonedInstant, zonedInstants } from '../settings/time-zone.js';

/** One occurrence of a site's `testSchedule`: the window it opens. */
export interface ScheduledSlot {
  site: string;
  /** `{site}@{local date}T{HH:MM}`: the same slot after a restart has the same key. */
  key: string;
  startsAt: number;
  endsAt: number;
  devices?: readonly string[];
}

function hhmm(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/**
 * The slot of the site's test schedule that is running at `now`, if one is: it ends the first time the wall clock
 * reaches `to` after `now`. On the night the clocks go back the slot's hours may come twice (one slot, one key); on
 * the night they go forward over them, they do not come.
 */
export function currentSlot(site: Site, now: number): ScheduledSlot | undefined {
  const schedule = site.testSchedule;
  if (schedule === undefined) return undefined;
  const local = localTime(now, site.timeZone);
  if (!schedule.days.includes(local.weekday) || local.minutes < schedule.from || local.minutes >= schedule.to) return undefined;
  const { year, month, day } = local;
  const startsAt = zonedInstant(year, month, day, schedule.from, site.timeZone);
  const endsAt = zonedInstants(year, month, day, schedule.to, site.timeZone).find((at) => at > now);
  // The wall clock reads less than `to` now, so it reaches it later; a slot without an end is never opened.
  if (endsAt === undefined) return undefined;
  return {
    site: site.id,
    key: `${site.id}@${localDate(local)}T${hhmm(schedule.from)}`,
    startsAt,
    endsAt,
    ...(schedule.devices === undefined ? {} : { devices: schedule.devices }),
  };
}
