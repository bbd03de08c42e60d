import { z } from 'zod';
import { LineCounter, parseDocument } from 'yaml';
import { ADDRESS_RANGE_RULE, isAddressRange } from './address-ranges.js';
import { DC09_ACCOUNT_PATTERN, DC09_ACCOUNT_RULE } from './dc09-account.js';
import { durationSchema } from './duration.js';
import { sitesSchema, supervisionSchema } from './sites.js';

/**
 * The configuration file's schema. Keys named in the issues are the public contract: extend, never rename.
 * Durations are text such as `40s`, `5m`, `1d` and arrive here as milliseconds.
 */
const name = z.string().min(1).regex(/^[A-Za-z0-9_.-]+$/, 'use letters, digits, "_", "." or "-"');
const port = z.number().int().min(0).max(65535);

const keyEncoding = z.enum(['hex', 'ascii']);

/** Exactly one of key, keyFile, keyEnv, and keyEncoding with it: a 32-character key is ambiguous. */
function oneKeySource(a: { key?: string | undefined; keyFile?: string | undefined; keyEnv?: string | undefined; keyEncoding?: string | undefined }, ctx: z.RefinementCtx): void {
  const sources = [a.key, a.keyFile, a.keyEnv].filter((s) => s !== undefined).length;
  if (sources > 1) ctx.addIssue({ code: 'custom', message: 'give only one of key, keyFile, keyEnv' });
  if (sources === 1 && a.keyEncoding === undefined)
    ctx.addIssue({ code: 'custom', path: ['keyEncoding'], message: 'keyEncoding (hex or ascii) is required with a key: a 32-character key is ambiguous' });
}

export const dc09AccountSchema = z
  .object({
    account: z.string().regex(DC09_ACCOUNT_PATTERN, DC09_ACCOUNT_RULE),
    key: z.string().optional(),
    keyFile: z.string().optional(),
    keyEnv: z.string().optional(),
    keyEncoding: keyEncoding.optional(),
    supervision: supervisionSchema.optional(),
  })
  .strict()
  .superRefine(oneKeySource);

const windowSchema = z.object({ past: durationSchema, future: durationSchema }).strict();

/**
 * A DC-09 input's datagrams waiting for an answer, by default: four full batches of its socket worker. A panel
 * waits for each answer, so only a flood (or thousands of panels reporting in the same instant) reaches it; what
 * it holds is a few hundred kilobytes.
 */
export const DEFAULT_MAX_DATAGRAMS = 4096;

export const dc09InputSchema = z
  .object({
    type: z.literal('dc09'),
    name,
    host: z.string().default('0.0.0.0'),
    port,
    tcp: z.boolean().default(true),
    udp: z.boolean().default(true),
    timestampWindow: windowSchema.optional(),
    accounts: z.array(dc09AccountSchema).optional(),
    strict: z.boolean().default(false),
    /** Osborne-Hoffman framing (Aritech/ATS): unauthenticated, so off unless the installer turns it on. */
    osborneHoffman: z.boolean().default(false),
    maxFrameBytes: z.number().int().min(64).max(65536).default(4096),
    idleTimeout: durationSchema
      .default(120_000)
      .describe('A TCP connection without a valid frame for this long is closed; noise and bad-CRC frames do not count.'),
    firstFrameTimeout: durationSchema
      .default(10_000)
      .describe('A new TCP connection must send a valid frame within this time or is closed.'),
    maxConnections: z.number().int().min(1).default(2000),
    maxConnectionsPerPeer: z
      .number()
      .int()
      .min(1)
      .default(64)
      .describe(
        'Open TCP connections one address may hold, so one host cannot fill maxConnections; at the limit its oldest connection without a valid frame makes room.',
      ),
    maxDatagrams: z
      .number()
      .int()
      .min(4)
      .default(DEFAULT_MAX_DATAGRAMS)
      .describe(
        'UDP datagrams waiting for an answer, at most, and a quarter of that from one address; past either a datagram is discarded unread and counted (the panel sends it again).',
      ),
  })
  .strict();

export const serialInputSchema = z
  .object({
    type: z.literal('serial'),
    name,
    path: z.string().min(1),
    baudRate: z.number().int().positive().default(19200),
    dataBits: z.union([z.literal(5), z.literal(6), z.literal(7), z.literal(8)]).default(8),
    parity: z.enum(['none', 'even', 'odd', 'mark', 'space']).default('none'),
    stopBits: z.union([z.literal(1), z.literal(1.5), z.literal(2)]).default(1),
    protocol: z.enum(['surgard', 'contact-id-lines', 'sia-dc03-lines']),
    account: z.string().optional(),
    maxFrameBytes: z.number().int().min(16).max(65536).default(1024),
    reconnect: z.object({ initial: durationSchema, max: durationSchema }).strict().optional(),
    downAlarmAfter: durationSchema.default(60_000),
    silenceAlarmAfter: durationSchema
      .default(0)
      .describe(
        'A port open but silent this long (not even a receiver heartbeat: a cut cable) raises a supervisory event, and its next bytes a restore; 0s: never (a panel line may be quiet for days). Set it above the receiver heartbeat interval.',
      ),
    maxNaks: z
      .number()
      .int()
      .min(0)
      .max(20)
      .default(2)
      .describe('Sur-Gard: an undecodable packet is NAKed this often; the next identical copy is stored as unrecognized and ACKed.'),
    retransmitWindow: durationSchema
      .default(30_000)
      .describe('Sur-Gard and contact-id-lines: the same packet or line again within this time of its last copy is a retransmit, stored once.'),
    listenInCharacter: z
      .string()
      .regex(/^[!-~]$/, 'one printable ASCII character')
      .default('P') // the manual's example, as decodeSurgard defaults (settings import no codec)
      .describe(
        "Sur-Gard: the character programmed in the receiver's two-way audio option (MLR2-E Option [4D]); a protocol 1 packet with it under the receiver's account 0000 is a listen-in (SIA LF).",
      ),
  })
  .strict();

/**
 * SIA DC-03 blocks over TCP, the "SIA over IP" of Galaxy and FX panels (protocol-notes.md). A panel sends one session
 * of a few blocks and waits for each answer; the bounds keep a connection to that.
 */
export const siaIpInputSchema = z
  .object({
    type: z.literal('sia-ip'),
    name,
    host: z.string().default('0.0.0.0'),
    port,
    allowFrom: z
      .array(z.string().refine(isAddressRange, ADDRESS_RANGE_RULE))
      .min(1)
      .optional()
      .describe(
        'Addresses and CIDR ranges (IPv4, IPv6) the panels connect from; a connection from any other is closed before a byte is read. Unset: any address, and anyone who reaches the port can send events (verified: false).',
      ),
    strict: z.boolean().default(false),
    idleTimeout: durationSchema.default(30_000).describe('A connection that sends nothing for this long is closed.'),
    retransmitWindow: durationSchema
      .default(30_000)
      .describe(
        'An event block sent again from the same address and account within this time of its first copy, before anything showed the panel took its acknowledge, is a resend: acknowledged again, stored once.',
      ),
    maxBlocksPerConnection: z
      .number()
      .int()
      .min(4)
      .default(256)
      .describe('Blocks one connection may send; past it the connection is closed (a panel sends a few per event).'),
    maxRejectsPerConnection: z
      .number()
      .int()
      .min(1)
      .default(8)
      .describe('Blocks with a bad length, parity or function code one connection may send before it is closed.'),
    maxConnections: z
      .number()
      .int()
      .min(1)
      .default(64)
      .describe('Connections open at once; at the limit the oldest connection that has sent no valid block makes room, else a new one is refused.'),
    maxConnectionsPerPeer: z
      .number()
      .int()
      .min(1)
      .default(16)
      .describe(
        'Open connections one address may hold, so one host cannot fill maxConnections; at the limit its oldest connection that has sent no valid block makes room, else a new one is refused.',
      ),
  })
  .strict();

/** The connection bounds of an HTTP listener (an access-xml input, the API): every resource bounded per peer. */
const httpConnectionLimits = {
  maxConnections: z
    .number()
    .int()
    .min(1)
    .default(64)
    .describe('Connections open at once; at the limit the oldest connection that has not sent a request makes room, else a new one is refused.'),
  maxConnectionsPerPeer: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe(
      'Open connections one address may hold (default a quarter of maxConnections, at least 8), so one host cannot fill maxConnections; at the limit its oldest connection that has not sent a request makes room. Behind a reverse proxy all clients share its address: raise this to maxConnections.',
    ),
};

export const accessXmlInputSchema = z
  .object({
    type: z.literal('access-xml'),
    name,
    host: z.string().default('127.0.0.1'),
    port,
    path: z.string().default('/access'),
    maxBodyBytes: z.number().int().min(256).default(65536),
    secret: z.string().optional(),
    secretFile: z.string().optional(),
    ...httpConnectionLimits,
    tls: z
      .object({
        cert: z.string(),
        key: z.string(),
        ca: z.string().optional(),
        requestCert: z.boolean().default(false).describe('Ask clients for a certificate (mutual TLS, checked against ca).'),
        rejectUnauthorized: z.boolean().default(true),
      })
      .strict()
      .optional(),
    site: z.string().optional(),
    account: z.string().optional(),
    mappings: z
      .array(
        z
          .object({
            name,
            match: z.string().describe('Path whose presence selects this mapping, e.g. "Event.Type"'),
            eventType: z.string(),
            account: z.string().optional(),
            site: z.string().optional(),
            door: z.string().optional(),
            doorName: z.string().optional(),
            user: z.string().optional(),
            holder: z.string().optional(),
            time: z.string().optional(),
            duressFlag: z
              .string()
              .optional()
              .describe('Path of a field that makes any event a duress: true, 1, yes or on, or a value naming a duress (Lenel OnGuard Duress, C•CURE 9000 state code)'),
            duressValues: z.array(z.string()).default([]),
            grantedValues: z.array(z.string()).default([]),
            deniedValues: z.array(z.string()).default([]),
          })
          .strict(),
      )
      .default([]),
  })
  .strict();

/**
 * Whether an access-xml input's TLS lets in only clients with a certificate signed by its ca. requestCert alone
 * asks for one but, with rejectUnauthorized: false, admits anyone: such a listener authenticates nobody by TLS.
 */
export function refusesUncertifiedClients(tls: { requestCert: boolean; rejectUnauthorized: boolean } | undefined): boolean {
  return tls !== undefined && tls.requestCert && tls.rejectUnauthorized;
}

export const inputSchema = z.discriminatedUnion('type', [dc09InputSchema, serialInputSchema, accessXmlInputSchema, siaIpInputSchema]);

const audience = z.enum(['central', 'local']).default('central');

/** `local` outputs only (central ones count toward backlogLimit); the default is DEFAULT_LOCAL_MAX_BACKLOG. */
const maxBacklog = z
  .number()
  .int()
  .positive()
  .optional()
  .describe('audience local: undelivered events this output may fall behind by (default 10000); past it its oldest are skipped for it and counted');

/** What a `central` MQTT or webhook output pads each message to a multiple of when `pad` is not set (bytes). */
export const DEFAULT_JSON_PAD_BYTES = 1_024;
/** What a `central` DC-09 output pads the encrypted part of each frame to a multiple of when `pad` is not set (bytes). */
export const DEFAULT_DC09_PAD_BYTES = 256;

/**
 * `pad`: an observer of an encrypted link sees each message's size, and a duress event is longer than an ordinary
 * alarm's. Unset, a `central` output pads by the default; a `local` one never does (it never sees a duress).
 */
const pad = (what: string, defaultBytes: number) =>
  z
    .number()
    .int()
    .min(0)
    .max(65_536)
    .optional()
    .describe(`Pad ${what} to a multiple of this many bytes, so a duress takes the same size on the wire as an ordinary alarm; 0 turns it off (default ${defaultBytes} on a central output, 0 on a local one).`);

/** The padding bucket an output applies: its `pad`, else the default of its audience. */
export function padBucket(output: { pad?: number | undefined; audience: 'central' | 'local' }, defaultBytes: number): number {
  return output.pad ?? (output.audience === 'central' ? defaultBytes : 0);
}

export const stdoutOutputSchema = z.object({ type: z.literal('stdout'), name, audience, maxBacklog }).strict();

export const DEFAULT_MQTT_MAX_ATTEMPTS = 10;

/** A regular expression source matching `word` in any letter case: JSON Schema patterns carry no `i` flag. */
const anyLetterCase = (word: string): string => word.replace(/[a-z]/g, (letter) => `[${letter}${letter.toUpperCase()}]`);

/**
 * The broker URLs the MQTT client speaks, with the scheme in any letter case as URL schemes are; anything else it
 * refuses at start ("Missing protocol") or guesses at. Written without the `i` flag so the published JSON Schema
 * (config/panelbridge.schema.json, for editors) accepts what the loader accepts.
 */
const MQTT_URL = new RegExp(
  `^(?:${anyLetterCase('embedded')}|(?:${['mqtt', 'mqtts', 'tcp', 'tls', 'ssl', 'ws', 'wss'].map(anyLetterCase).join('|')})(?:\\+${anyLetterCase('unix')})?:\\/\\/\\S+)$`,
);

export const mqttOutputSchema = z
  .object({
    type: z.literal('mqtt'),
    name,
    url: z
      .string()
      .regex(MQTT_URL, 'a broker URL is mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (or tcp, tls, ssl, ws, wss), or "embedded"')
      // The output and the MQTT client compare the scheme (and `embedded`) as written: they see one spelling.
      .overwrite((url) => url.replace(/^[^:]+/, (scheme) => scheme.toLowerCase()))
      .describe('mqtt://, mqtts://, or "embedded" for the in-process broker'),
    topicPrefix: z
      .string()
      .min(1)
      // Every topic starts with it: a wildcard or NUL makes each publish invalid, and `$` topics are the broker's own.
      .regex(/^(?!\$)[^+#\u0000]+$/, 'no MQTT wildcards (+, #), NUL or leading $')
      .default('panelbridge'),
    audience,
    maxBacklog,
    pad: pad('each PUBLISH packet (topic and JSON payload; the JSON is followed by spaces)', DEFAULT_JSON_PAD_BYTES),
    username: z.string().optional(),
    password: z.string().optional(),
    passwordFile: z.string().optional(),
    ca: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
    clientId: z.string().optional(),
    protocolVersion: z
      .union([z.literal(4), z.literal(5)])
      .optional()
      .describe(
        'MQTT 5 (default) or 4 = 3.1.1 for old brokers; with 3.1.1 a publish the broker ACL drops is still acknowledged. The embedded broker speaks 3.1.1.',
      ),
    maxAttempts: z
      .number()
      .int()
      .min(1)
      .default(DEFAULT_MQTT_MAX_ATTEMPTS)
      .describe('A publish the broker refuses (MQTT 5 reason code 0x80 or more) this many times is kept as a dead letter.'),
    embeddedPort: port.default(1884),
    incidentAcks: z
      .boolean()
      .default(false)
      .describe('Take incident acknowledgements on {topicPrefix}/incidents/{id}/ack (central outputs only; restrict who may publish there with a broker ACL).'),
    homeAssistant: z
      .union([
        z.boolean(),
        z.object({ discoveryPrefix: z.string().min(1).regex(/^[^+#]+$/, 'no MQTT wildcards').default('homeassistant') }).strict(),
      ])
      .optional()
      .describe('Publish Home Assistant MQTT discovery (true, or { discoveryPrefix }; the default prefix is "homeassistant").'),
  })
  .strict();

export const webhookOutputSchema = z
  .object({
    type: z.literal('webhook'),
    name,
    url: z.url(),
    secret: z.string().regex(/^whsec_[A-Za-z0-9+/=]+$/, 'a secret looks like whsec_<base64>').optional(),
    secretFile: z.string().optional(),
    timeout: durationSchema.default(5_000),
    audience,
    maxBacklog,
    pad: pad('each request body (the event JSON followed by spaces)', DEFAULT_JSON_PAD_BYTES),
  })
  .strict();

const linkUrl = z
  .string()
  .regex(/^(tcp|udp):\/\/(\[[0-9A-Fa-f:.]+\]|[^\s/:[\]]+):\d{1,5}$/, 'a path is tcp://HOST:PORT or udp://HOST:PORT');
const hexField = (digits: string) => z.string().regex(new RegExp(`^[0-9A-Fa-f]{${digits}}$`), `${digits.replace(',', '-')} hex digits`);

/** The gateway as a DC-09 transmitter towards a monitoring centre's receiver (issue 20). */
export const dc09OutputSchema = z
  .object({
    type: z.literal('dc09'),
    name,
    primary: linkUrl.describe('The receiver: tcp://HOST:PORT or udp://HOST:PORT.'),
    backup: linkUrl.optional().describe('The second receiver path, used while the primary does not answer.'),
    account: hexField('3,16').describe('The account the monitoring centre knows this gateway by.'),
    receiver: hexField('1,6').optional().describe('DC-09 R field.'),
    line: hexField('1,6').default('0').describe('DC-09 L field (account prefix).'),
    key: z.string().optional(),
    keyFile: z.string().optional(),
    keyEnv: z.string().optional(),
    keyEncoding: keyEncoding.optional(),
    format: z.enum(['adm-cid', 'sia-dcs']).default('adm-cid'),
    supervision: durationSchema.default(90_000).describe('NULL poll after this long without traffic; 0s turns polls off.'),
    ackTimeout: durationSchema.default(5_000),
    retries: z.number().int().min(0).max(10).default(2).describe('Resends on a path that does not answer before failing over.'),
    audience,
    maxBacklog,
    pad: pad('the encrypted part of each frame (with a key; more DC-09 pad bytes before the "|")', DEFAULT_DC09_PAD_BYTES).refine(
      (bytes) => bytes === undefined || bytes % 16 === 0,
      'a multiple of 16: AES encrypts whole 16-byte blocks',
    ),
  })
  .strict()
  .superRefine(oneKeySource);

/**
 * The gateway as a Sur-Gard MLR2/System 5 receiver towards monitoring software (issue 20): like the receiver, it
 * listens on the automation port and the automation connects to it (SG-System 5 option [415], default 1025).
 */
export const automationOutputSchema = z
  .object({
    type: z.literal('automation'),
    name,
    protocol: z.literal('surgard').default('surgard'),
    host: z.string().default('127.0.0.1'),
    port,
    allow: z
      .array(z.string().min(1))
      .min(1)
      .default(['127.0.0.1', '::1'])
      .describe('Addresses the automation may connect from; any other connection is closed unanswered.'),
    allowUids: z
      .array(z.number().int().min(0))
      .min(1)
      .optional()
      .describe(
        'User ids (Linux) of the processes on this host that may connect, e.g. the monitoring software\'s account: every other account can reach a loopback port. With it, a connection from any other account, or from another host, is closed unanswered.',
      ),
    receiver: z.string().regex(/^[0-9A-F]{2}$/, 'RR is 2 digits').default('01'),
    line: z.string().regex(/^[0-9A-F]{3}$/, 'LLL is 3 digits').default('001'),
    account: z
      .string()
      .regex(/^([0-9A-F]{4}|[0-9A-F]{10})$/, 'a Sur-Gard account is 4 (protocol 5) or 10 (protocol Q) digits')
      .optional()
      .describe('Sent for events whose own account does not fit protocol 5 or Q.'),
    heartbeat: durationSchema.default(30_000).describe('Heartbeat after this long without traffic; 0s turns it off (a failed link is still probed every 30 s).'),
    ackTimeout: durationSchema.default(4_000),
    retries: z.number().int().min(0).max(20).default(3).describe('Retransmissions of an unanswered packet before the link counts as failed.'),
    audience,
    maxBacklog,
  })
  .strict();

export const outputSchema = z.discriminatedUnion('type', [
  stdoutOutputSchema,
  mqttOutputSchema,
  webhookOutputSchema,
  dc09OutputSchema,
  automationOutputSchema,
]);

export const API_ROLES = ['viewer', 'operator', 'installer', 'admin'] as const;
export type ApiRole = (typeof API_ROLES)[number];

/** A token's name: named in every action the token takes. */
export const tokenNameSchema = name;

export const apiTokenSchema = z
  .object({
    name: tokenNameSchema,
    role: z.enum(API_ROLES),
    token: z.string().min(16).optional().describe('Inline token (check warns): prefer tokenFile or tokenEnv.'),
    tokenFile: z.string().optional(),
    tokenEnv: z.string().optional(),
  })
  .strict()
  .refine((t) => [t.token, t.tokenFile, t.tokenEnv].filter((s) => s !== undefined).length === 1, {
    message: 'give exactly one of token, tokenFile, tokenEnv',
  });

export const apiSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port,
    tokens: z.array(apiTokenSchema).optional().describe('Without tokens the gateway creates an admin token in {dataDir}/api-token.'),
    allowedOrigins: z.array(z.string().min(1)).default([]).describe('Browser origins (scheme://host[:port]) allowed to call the API.'),
    tls: z
      .object({
        cert: z.string(),
        key: z.string(),
        ca: z.string().optional(),
        requestCert: z.boolean().default(false).describe('Require a client certificate signed by ca (mutual TLS).'),
      })
      .strict()
      .optional(),
    ...httpConnectionLimits,
    maxBodyBytes: z.number().int().min(256).default(65_536),
    headersTimeout: durationSchema.default(10_000).describe('Time a client has to send its request headers.'),
    requestTimeout: durationSchema.default(30_000).describe('Time a client has to send its whole request.'),
  })
  .strict();

/** Names that always mean this machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

export const settingsSchema = z
  .object({
    gateway: z.object({ id: z.string().min(1).optional() }).strict().optional(),
    dataDir: z.string().min(1).default('./var'),
    api: apiSchema.optional(),
    timestampWindow: windowSchema.default({ past: 40_000, future: 20_000 }),
    backlogLimit: z
      .number()
      .int()
      .positive()
      .default(1_000_000)
      .describe('Undelivered events of any central output past which non-duress frames get NAK (duress and hold-up are still stored and ACKed, and so are the gateway\'s own events)'),
    retention: durationSchema.default(30 * 86_400_000).describe('Delivered events older than this are pruned from the outbox'),
    deadLetterRetention: durationSchema.default(90 * 86_400_000).describe('Dead letters older than this are pruned'),
    dedupeWindow: durationSchema.default(600_000),
    duressDeadline: durationSchema.default(10_000),
    supervision: supervisionSchema.optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
    stopTimeout: durationSchema
      .default(20_000)
      .describe('On SIGTERM the gateway drains and stops within this time, whatever an output is waiting for; keep it below systemd TimeoutStopSec.'),
    inputs: z.array(inputSchema),
    outputs: z.array(outputSchema),
    sites: sitesSchema.default([]),
  })
  .strict();

export type Settings = z.infer<typeof settingsSchema>;
export type InputSettings = z.infer<typeof inputSchema>;
export type Dc09InputSettings = z.infer<typeof dc09InputSchema>;
export type SerialInputSettings = z.infer<typeof serialInputSchema>;
export type AccessXmlInputSettings = z.infer<typeof accessXmlInputSchema>;
export type SiaIpInputSettings = z.infer<typeof siaIpInputSchema>;
export type OutputSettings = z.infer<typeof outputSchema>;
export type MqttOutputSettings = z.infer<typeof mqttOutputSchema>;
export type WebhookOutputSettings = z.infer<typeof webhookOutputSchema>;
export type Dc09OutputSettings = z.infer<typeof dc09OutputSchema>;
export type AutomationOutputSettings = z.infer<typeof automationOutputSchema>;
export type ApiSettings = z.infer<typeof apiSchema>;
export type ApiTokenSettings = z.infer<typeof apiTokenSchema>;

export interface SettingsIssue {
  path: string;
  message: string;
}

export type SettingsResult = { ok: true; settings: Settings } | { ok: false; issues: SettingsIssue[] };

function pathText(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc === '' ? String(key) : `${acc}.${String(key)}`),
    '',
  );
}

/**
 * A YAML document's data, or its first syntax error by code and position only: the offending line, which yaml
 * quotes in its messages, may hold an AES key or a password, and the message reaches the journal.
 */
export function parseYamlText(text: string): { ok: true; data: unknown } | { ok: false; message: string } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter: lines });
  const error = doc.errors[0];
  if (error !== undefined) {
    const { line, col } = lines.linePos(error.pos[0]);
    return { ok: false, message: `not valid YAML (${error.code}) at line ${line}, column ${col}: fix the syntax there (the line is not shown: it may hold a key or a password)` };
  }
  try {
    return { ok: true, data: doc.toJS() };
  } catch (error) {
    // An alias without its anchor, or too many aliases: the message names the alias, never the line.
    return { ok: false, message: `not valid YAML: ${(error as Error).message}` };
  }
}

/** YAML (or JSON) text → validated settings, or every problem with its path. Pure: no file access. */
export function parseSettings(text: string): SettingsResult {
  const yaml = parseYamlText(text);
  if (!yaml.ok) return { ok: false, issues: [{ path: '(file)', message: yaml.message }] };
  const parsed = settingsSchema.safeParse(yaml.data ?? {});
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((issue) => ({ path: pathText(issue.path) || '(top level)', message: issue.message })),
    };
  }
  const issues = crossCheck(parsed.data);
  return issues.length === 0 ? { ok: true, settings: parsed.data } : { ok: false, issues };
}

/** An MQTT scheme's port when the URL names none (MQTT.js's defaults). */
const MQTT_DEFAULT_PORTS: Readonly<Record<string, number>> = { 'mqtt:': 1883, 'tcp:': 1883, 'mqtts:': 8883, 'tls:': 8883, 'ssl:': 8883, 'ws:': 80, 'wss:': 443 };

/** `host:port` of an MQTT output's broker as far as its URL tells (loopback by any name is one host); undefined when unreadable. */
function mqttBrokerOf(output: MqttOutputSettings): string | undefined {
  if (output.url === 'embedded') return `loopback:${output.embeddedPort}`;
  let url: URL;
  try {
    url = new URL(output.url);
  } catch {
    return undefined;
  }
  const port = url.port === '' ? MQTT_DEFAULT_PORTS[url.protocol] : Number(url.port);
  const host = url.hostname.toLowerCase();
  return `${isLoopbackHost(host) ? 'loopback' : host}:${port ?? 'unix'}`;
}

/** Whether a prefix's topics hold another's: the same prefix, or one the other sits under (by whole levels). */
export function holdsTopicsOf(prefix: string, other: string): boolean {
  return other === prefix || other.startsWith(`${prefix}/`);
}

/**
 * A local MQTT output whose audience can read a central one's topics, which covert routing exists to keep from them:
 * on the same broker, a local topic tree that holds the central one (whoever reads `{prefix}/#` reads every duress),
 * or any two embedded brokers (one subscriber password opens each of them whole; they have no ACL).
 */
function localMqttOverlaps(outputs: Settings['outputs']): SettingsIssue[] {
  const mqtt = outputs.flatMap((output, i) => (output.type === 'mqtt' ? [{ output, i, broker: mqttBrokerOf(output) }] : []));
  const issues: SettingsIssue[] = [];
  for (const local of mqtt) {
    if (local.output.audience !== 'local') continue;
    const named = `local output "${local.output.name}"`;
    const centrals = mqtt.filter(({ output }) => output.audience === 'central');
    const embedded = local.output.url === 'embedded' ? centrals.find(({ output }) => output.url === 'embedded') : undefined;
    if (embedded !== undefined) {
      issues.push({
        path: `outputs[${local.i}].url`,
        message: `${named} and central output "${embedded.output.name}" are both on embedded brokers, which every client holding the one subscriber password (dataDir/mqtt-password) reads whole: whoever reads the local topics can read every duress; point the local output at a broker with an ACL per account`,
      });
      continue;
    }
    const overlapped = centrals.find(({ output, broker }) => local.broker !== undefined && broker === local.broker && holdsTopicsOf(local.output.topicPrefix, output.topicPrefix));
    if (overlapped !== undefined)
      issues.push({
        path: `outputs[${local.i}].topicPrefix`,
        message: `${named} publishes under "${local.output.topicPrefix}", on the broker of central output "${overlapped.output.name}" ("${overlapped.output.topicPrefix}"): whoever reads the local topics reads every duress; give the local output a topicPrefix of its own, outside the central one, and keep the local audience from reading the central prefix with a broker ACL`,
      });
  }
  return issues;
}

/** Rules that span several keys: unique names, site references, local MQTT topics apart from central ones. */
function crossCheck(settings: Settings): SettingsIssue[] {
  const issues: SettingsIssue[] = [];
  const unique = (items: readonly { name: string }[], where: string) => {
    const seen = new Set<string>();
    items.forEach((item, i) => {
      if (seen.has(item.name)) issues.push({ path: `${where}[${i}].name`, message: `duplicate name "${item.name}"` });
      seen.add(item.name);
    });
  };
  unique(settings.inputs, 'inputs');
  unique(settings.outputs, 'outputs');
  issues.push(...localMqttOverlaps(settings.outputs));
  const siteIds = new Set<string>();
  settings.sites.forEach((site, i) => {
    if (siteIds.has(site.id)) issues.push({ path: `sites[${i}].id`, message: `duplicate site id "${site.id}"` });
    siteIds.add(site.id);
  });
  const api = settings.api;
  if (api !== undefined && !isLoopbackHost(api.host) && api.tokens === undefined && api.tls?.requestCert !== true)
    issues.push({
      path: 'api.host',
      message: `the API listens on ${api.host}, beyond this machine, without tokens or client certificates: add api.tokens or api.tls with requestCert, or use 127.0.0.1`,
    });
  settings.inputs.forEach((input, i) => {
    if (input.type === 'access-xml' && input.site !== undefined && !siteIds.has(input.site))
      issues.push({ path: `inputs[${i}].site`, message: `no site with id "${input.site}"` });
  });
  return issues;
}
