import { z } from 'zod';
import generic from '../catalog/profiles/generic.json' with { type: 'json' };
import ajax from '../catalog/profiles/ajax.json' with { type: 'json' };
import dsc from '../catalog/profiles/dsc.json' with { type: 'json' };
import bosch from '../catalog/profiles/bosch.json' with { type: 'json' };
import lupus from '../catalog/profiles/lupus.json' with { type: 'json' };
import paradox from '../catalog/profiles/paradox.json' with { type: 'json' };
import { PROFILE_NAMES, type ProfileName } from '../catalog/profile-names.js';


const ruleSchema = z.strictObject({
  match: z
    .strictObject({
      scheme: z.enum(['contact-id', 'sia']).optional(),
      code: z.string().min(1).optional(),
      /** The qualifier after the code table resolved it. */
      qualifier: z.enum(['new', 'restore', 'status']).optional(),
      /** The message's address as sent: a number, `zero` (0 or no address) or `nonzero`. */
      address: z.union([z.number().int().nonnegative(), z.literal('zero'), z.literal('nonzero')]).optional(),
      /** The user the event names: a number, or `present` for any user. */
      user: z.union([z.number().int().nonnegative(), z.literal('present')]).optional(),
    })
    .refine((m) => m.code !== undefined || m.user !== undefined, 'a rule must name a code or a user'),
  // Profiles may only add duress labels, never take one away.
  category: z.enum(['duress', 'holdup']),
  reason: z.string().min(1),
  source: z.string().min(1),
});

const profileSchema = z.strictObject({
  profile: z.enum(PROFILE_NAMES),
  title: z.string().min(1),
  rules: z.array(ruleSchema),
  notes: z.array(z.string()),
});

export type ProfileRule = z.infer<typeof ruleSchema>;
export type Profile = z.infer<typeof profileSchema>;

const PROFILE_FILES: Record<ProfileName, unknown> = { generic, ajax, dsc, bosch, lupus, paradox };

function loadProfile(name: ProfileName): Profile {
  const profile = profileSchema.parse(PROFILE_FILES[name]);
  if (profile.profile !== name) throw new Error(`src/catalog/profiles/${name}.json declares profile "${profile.profile}"`);
  return profile;
}

export const PROFILES: Readonly<Record<ProfileName, Profile>> = Object.fromEntries(
  PROFILE_NAMES.map((name) => [name, loadProfile(name)]),
) as Record<ProfileName, Profile>;

/** A rule with the profile it comes from. */
export interface SourcedRule {
  profile: ProfileName;
  rule: ProfileRule;
}

const RULES_BY_PROFILE = new Map<ProfileName, readonly SourcedRule[]>(
  PROFILE_NAMES.map((name) => {
    const names: ProfileName[] = name === 'generic' ? ['generic'] : ['generic', name];
    return [name, names.flatMap((profile) => PROFILES[profile].rules.map((rule) => ({ profile, rule })))];
  }),
);

/**
 * The rules a site's profile applies, each with the profile it comes from: the generic base first, then the
 * vendor's own. Built once per profile: every event is classified against them.
 */
export function profileRules(name: ProfileName): readonly SourcedRule[] {
  return RULES_BY_PROFILE.get(name)!;
}

/** What a rule can match on, taken from the signal after the code table resolved it. */
export interface RuleFacts {
  code: { scheme: 'contact-id' | 'sia'; value: string } | null;
  qualifier: 'new' | 'restore' | 'status';
  address: number | null;
  users: readonly number[];
}

export function ruleMatches(rule: ProfileRule, facts: RuleFacts): boolean {
  const { match } = rule;
  if (match.scheme !== undefined && facts.code?.scheme !== match.scheme) return false;
  if (match.code !== undefined && facts.code?.value.toUpperCase() !== match.code.toUpperCase()) return false;
  if (match.qualifier !== undefined && facts.qualifier !== match.qualifier) return false;
  if (match.address !== undefined && !addressMatches(match.address, facts.address)) return false;
  if (match.user !== undefined && !(match.user === 'present' ? facts.users.length > 0 : facts.users.includes(match.user)))
    return false;
  return true;
}

function addressMatches(expected: number | 'zero' | 'nonzero', address: number | null): boolean {
  if (expected === 'zero') return address === null || address === 0;
  if (expected === 'nonzero') return address !== null && address !== 0;
  return address === expected;
}
