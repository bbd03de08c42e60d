import { z } from 'zod';
import { durationSchema } from '../settings/duration.js';
import { parseYamlText } from '../settings/settings.js';
import { ACCOUNT_PATTERN, MAX_ADDRESS, parseSimEvent } from './events.js';

/**
 * A scenario file: every device of a site, played in order against a running gateway so an installer can see each
 * one ACKed (config/scenario.example.yaml). Keys come as in the gateway's configuration: key, keyFile or keyEnv,
 * with keyEncoding.
 */
const address = z.number().int().min(0).max(MAX_ADDRESS);

const scenarioEventSchema = z
  .object({
    event: z.string().transform((text, ctx) => {
      const parsed = parseSimEvent(text);
      if (parsed.ok) return parsed.event;
      ctx.issues.push({ code: 'custom', input: text, message: parsed.message });
      return z.NEVER;
    }),
    zone: address.optional(),
    user: address.optional(),
    label: z.string().min(1).optional(),
  })
  .strict();

const scenarioDeviceSchema = z
  .object({
    account: z.string().regex(ACCOUNT_PATTERN, 'an account is 3-16 hex digits (quote it: "0123")'),
    key: z.string().optional(),
    keyFile: z.string().optional(),
    keyEnv: z.string().optional(),
    keyEncoding: z.enum(['hex', 'ascii']).optional(),
    events: z.array(scenarioEventSchema).min(1),
  })
  .strict()
  .refine((d) => [d.key, d.keyFile, d.keyEnv].filter((s) => s !== undefined).length <= 1, 'give only one of key, keyFile, keyEnv')
  .refine((d) => (d.key ?? d.keyFile ?? d.keyEnv) === undefined || d.keyEncoding !== undefined, {
    message: 'keyEncoding (hex or ascii) is required with a key',
    path: ['keyEncoding'],
  });

export const scenarioSchema = z
  .object({
    site: z.string().min(1).optional(),
    /** tcp://HOST:PORT or udp://HOST:PORT; `--to` overrides it. */
    to: z.string().optional(),
    format: z.enum(['adm-cid', 'sia-dcs']).default('adm-cid'),
    /** Pause between two events. */
    delay: durationSchema.default(1_000),
    /** How long to wait for each answer. */
    timeout: durationSchema.default(5_000),
    devices: z.array(scenarioDeviceSchema).min(1),
  })
  .strict();

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioDevice = Scenario['devices'][number];
export type ScenarioEvent = ScenarioDevice['events'][number];

export type ScenarioResult = { ok: true; scenario: Scenario } | { ok: false; issues: string[] };

/** YAML text → scenario, or every problem with its path. Pure: the caller reads the file. */
export function parseScenario(text: string): ScenarioResult {
  const yaml = parseYamlText(text);
  if (!yaml.ok) return { ok: false, issues: [yaml.message] };
  const parsed = scenarioSchema.safeParse(yaml.data ?? {});
  if (parsed.success) return { ok: true, scenario: parsed.data };
  return {
    ok: false,
    issues: parsed.error.issues.map((issue) => `${issue.path.map(String).join('.') || '(top level)'}: ${issue.message}`),
  };
}
