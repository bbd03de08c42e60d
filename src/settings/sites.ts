import { z } from 'zod';
import { PROFILE_NAMES } from '../catalog/profile-names.js';
import { durationSchema } from './duration.js';

const testEvery = durationSchema
  .refine((ms) => ms > 0, 'testEvery must be longer than zero')
  .describe('How often this duress device must be tested; an overdue device is reported.');

const number = z.number({ error: 'expected a whole number' }).int('expected a whole number').nonnegative();

const guidance = z
  .string()
  .min(1)
  .describe('What the person should do after pressing or entering it (shown in the test walk and on the printed card).');

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];
const DAY_SETS: Record<string, readonly Weekday[]> = {
  daily: WEEKDAYS,
  weekdays: ['mon', 'tue', 'wed', 'thu', 'fri'],
  weekends: ['sat', 'sun'],
};

/** `08:15` → minutes after midnight. */
const timeOfDay = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time of day as HH:MM (00:00 to 23:59)')
  .transform((text) => Number(text.slice(0, 2)) * 60 + Number(text.slice(3, 5)));

export const timeZoneSchema = z
  .string()
  .refine((zone) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  }, 'expected an IANA time zone such as Europe/Berlin or America/New_York')
  .describe('IANA time zone of the site: test schedules, report days and the panel times of SIA da/ti modifiers are in it (default UTC).');

export const testScheduleSchema = z
  .strictObject({
    days: z
      .union([
        z.enum(['daily', 'weekdays', 'weekends']).transform((set) => [...DAY_SETS[set]!]),
        z.array(z.enum(WEEKDAYS, { error: `a day is one of ${WEEKDAYS.join(', ')}` })).min(1),
      ])
      .describe('daily, weekdays, weekends, or a list of days (mon, tue, …).'),
    from: timeOfDay.describe('When the window opens, HH:MM in the site time zone.'),
    to: timeOfDay.describe('When it closes, HH:MM, later the same day.'),
    devices: z.array(z.string().min(1)).min(1).optional().describe('Devices to test (zone-5, user-12, door-lobby); default every duress device of the site.'),
  })
  .refine((schedule) => schedule.from < schedule.to, {
    message: 'to must be later than from on the same day',
    path: ['to'],
    when: (payload) => payload.issues.length === 0,
  })
  .describe('Recurring test window: opens by itself; a device not exercised in it is reported as a missed test.');
export type TestSchedule = z.output<typeof testScheduleSchema>;

/**
 * The most of the week a testSchedule's windows should cover (`check` warns above it): in a test window a hold-up
 * is a test and opens no incident, so a schedule covering most of the time silences the site's duress devices.
 */
export const MAX_SCHEDULED_TEST_SHARE = 0.1;

/** The share of a week (0 to 1) the schedule's windows cover, by the wall clock. */
export function scheduledTestShare(schedule: TestSchedule): number {
  return (new Set(schedule.days).size * (schedule.to - schedule.from)) / (7 * 24 * 60);
}

export const ZONE_TYPES = ['holdup', 'panic', 'duress', 'medical', 'fire', 'burglary', 'other'] as const;
export type ZoneType = (typeof ZONE_TYPES)[number];
/** Zone types whose device exists only to call for help: each is a duress device with a test ledger entry. */
export const DURESS_ZONE_TYPES: ReadonlySet<ZoneType> = new Set(['holdup', 'panic', 'duress']);

export const supervisionSchema = durationSchema
  .refine((ms) => ms > 0, 'supervision must be longer than zero')
  .describe('Longest silence (no NULL, heartbeat or event) before the link is reported lost.');

export const siteZoneSchema = z.strictObject({
  number,
  name: z.string().min(1),
  type: z.enum(ZONE_TYPES, { error: `type must be one of ${ZONE_TYPES.join(', ')}` }),
  location: z.string().min(1).optional(),
  holder: z.string().min(1).optional().describe('Who carries the device (pendants).'),
  testEvery: testEvery.optional(),
  guidance: guidance.optional(),
});

export const siteUserSchema = z.strictObject({
  number,
  name: z.string().min(1),
  duress: z.boolean().optional().describe('Every event by this user (arming and disarming included) is duress.'),
  testEvery: testEvery.optional(),
  guidance: guidance.optional(),
});

export const siteDoorSchema = z.strictObject({
  id: z.string().min(1).describe('The access point id the controller reports (ONVIF AccessPointToken, feed door id).'),
  name: z.string().min(1),
  location: z.string().min(1).optional(),
  zone: number.optional().describe('The zone/point number a panel reports for this door (Contact ID 124/125).'),
  duress: z.boolean().optional().describe('The door takes duress PINs: an unknown event at it is treated as duress.'),
  testEvery: testEvery.optional(),
  guidance: guidance.optional(),
});

const account = z.string({
  error: (issue) =>
    typeof issue.input === 'number'
      ? 'write the account in quotes ("0123"): YAML reads an unquoted number and drops leading zeros'
      : 'expected an account as text',
}).min(1, 'an account cannot be empty');

function requireUnique<T>(
  items: readonly T[] | undefined,
  key: (item: T) => string | number | undefined,
  what: string,
  ctx: z.RefinementCtx,
  path: (index: number) => PropertyKey[],
) {
  const seen = new Set<string | number>();
  items?.forEach((item, index) => {
    const value = key(item);
    if (value === undefined) return;
    if (seen.has(value)) ctx.addIssue({ code: 'custom', path: path(index), message: `${what} ${value} is listed twice` });
    seen.add(value);
  });
}

export const siteSchema = z
  .strictObject({
    id: z.string().min(1, 'a site needs an id'),
    name: z.string().min(1).optional(),
    address: z.string().min(1).optional(),
    accounts: z.array(account).min(1, 'a site needs at least one account'),
    profile: z
      .enum(PROFILE_NAMES, { error: `profile must be one of ${PROFILE_NAMES.join(', ')}` })
      .default('generic')
      .describe('Vendor conventions of the panel (src/catalog/profiles).'),
    response: z.string().min(1).optional().describe('What responders must do; published with every event.'),
    supervision: supervisionSchema.optional(),
    timeZone: timeZoneSchema.default('UTC'),
    testSchedule: testScheduleSchema.optional(),
    zones: z.array(siteZoneSchema).optional(),
    users: z.array(siteUserSchema).optional(),
    doors: z.array(siteDoorSchema).optional(),
  })
  .superRefine((site, ctx) => {
    requireUnique(site.zones, (zone) => zone.number, 'zone', ctx, (i) => ['zones', i]);
    requireUnique(site.users, (user) => user.number, 'user', ctx, (i) => ['users', i]);
    requireUnique(site.doors, (door) => door.id, 'door', ctx, (i) => ['doors', i]);
    requireUnique(site.doors, (door) => door.zone, 'door zone', ctx, (i) => ['doors', i, 'zone']);
    const scheduled = site.testSchedule?.devices ?? [];
    const known = new Set([
      ...(site.zones ?? []).filter((zone) => DURESS_ZONE_TYPES.has(zone.type)).map((zone) => `zone-${zone.number}`),
      ...(site.users ?? []).filter((user) => user.duress === true).map((user) => `user-${user.number}`),
      ...(site.doors ?? []).filter((door) => door.duress === true).map((door) => `door-${door.id}`),
    ]);
    scheduled.forEach((device, i) => {
      if (!known.has(device))
        ctx.addIssue({
          code: 'custom',
          path: ['testSchedule', 'devices', i],
          message: `${device} is not a duress device of this site; its duress devices: ${[...known].join(', ') || '(none)'}`,
        });
    });
  });

export const sitesSchema = z.array(siteSchema);

export type Site = z.output<typeof siteSchema>;
export type SiteZone = z.output<typeof siteZoneSchema>;
export type SiteUser = z.output<typeof siteUserSchema>;
export type SiteDoor = z.output<typeof siteDoorSchema>;
/** A site as written in the configuration (durations as text, profile optional). */
export type SiteConfig = z.input<typeof siteSchema>;
