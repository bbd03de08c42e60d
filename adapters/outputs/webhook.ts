import { createHmac } from 'node:crypto';
import type { NormalizedEvent } from '../../src/model/event.js';
import { eventJson } from '../../src/model/event-json.js';
import type { AdapterHealth, Audience, Clock, DeliveryResult, OutputAdapter } from '../../src/ports.js';
import { DEFAULT_JSON_PAD_BYTES, padBucket, type WebhookOutputSettings } from '../../src/settings/settings.js';
import { bucketSize, padJson } from '../../src/model/padding.js';
import { errorText, GatewayError } from '../../src/errors.js';
import { readSecret } from '../system/secrets.js';
import { redactUrlCredentials } from '../system/redact.js';

export type WebhookOutputOptions = Omit<WebhookOutputSettings, 'type'>;

export interface WebhookOutputDeps {
  clock: Clock;
}

const SECRET_PREFIX = 'whsec_';

/** The HMAC key of a Standard Webhooks secret: the base64 part of `whsec_<base64>`. */
export function webhookSigningKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const key = Buffer.from(encoded, 'base64');
  if (key.length === 0) throw new GatewayError('CONFIG_INVALID', 'webhook secret must look like whsec_<base64> with a non-empty key');
  return key;
}

/** Standard Webhooks `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`. */
export function signWebhook(key: Buffer, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}

/** Where a webhook POSTs: the URL fetch is given, and the `authorization` header its credentials became. */
export interface WebhookTarget {
  url: string;
  authorization: string | undefined;
}

/** Percent-decoded userinfo; as written when it is not valid percent-encoding (a bare `%` in a password). */
function decodeUserinfo(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * `https://user:password@host/…`, the way an endpoint behind basic auth is configured, as fetch takes it: the URL
 * without its userinfo (fetch refuses a URL with credentials) and the `authorization: Basic` value they stand for
 * (the userinfo is percent-encoded in a URL, Basic takes it decoded).
 */
export function webhookTarget(url: string): WebhookTarget {
  const parsed = new URL(url);
  if (parsed.username === '' && parsed.password === '') return { url, authorization: undefined };
  const credentials = `${decodeUserinfo(parsed.username)}:${decodeUserinfo(parsed.password)}`;
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.href, authorization: `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}` };
}

/** 2xx delivered; 408, 429 and 5xx are worth retrying; any other status (4xx, 3xx) will not change on a retry. */
export function classifyStatus(status: number, statusText: string): DeliveryResult {
  if (status >= 200 && status < 300) return { ok: true };
  const retryable = status === 408 || status === 429 || status >= 500;
  return { ok: false, retryable, error: `HTTP ${status}${statusText ? ` ${statusText}` : ''}` };
}

/** POSTs each event as JSON, signed per Standard Webhooks (webhook-id / webhook-timestamp / webhook-signature). */
export class WebhookOutput implements OutputAdapter<NormalizedEvent> {
  readonly kind = 'webhook';
  /** Concurrent POSTs to one receiver; more would mostly queue in its connection pool or trip its rate limit. */
  readonly maxInFlight = 16;
  readonly name: string;
  readonly audience: Audience;
  private readonly options: WebhookOutputOptions;
  private readonly deps: WebhookOutputDeps;
  private readonly target: WebhookTarget;
  /** Bodies are padded to a multiple of this many bytes (0: not padded). */
  private readonly padBytes: number;
  private key: Buffer | undefined;
  private lastFailure: string | undefined;

  constructor(options: WebhookOutputOptions, deps: WebhookOutputDeps) {
    this.options = options;
    this.deps = deps;
    this.target = webhookTarget(options.url);
    this.padBytes = padBucket(options, DEFAULT_JSON_PAD_BYTES);
    this.name = options.name;
    this.audience = options.audience;
  }

  async start(): Promise<void> {
    const { secret, secretFile } = this.options;
    const text = readSecret({ value: secret, file: secretFile });
    if (text === undefined) throw new GatewayError('CONFIG_INVALID', `webhook output "${this.name}" needs secret or secretFile`);
    this.key = webhookSigningKey(text);
  }

  async deliver(event: NormalizedEvent): Promise<DeliveryResult> {
    if (this.key === undefined) return { ok: false, retryable: true, error: 'webhook output not started' };
    const json = eventJson(event);
    // Padded and then signed: the receiver checks the signature over the body as it arrives.
    const bytes = Buffer.byteLength(json);
    const body = padJson(json, bucketSize(bytes, this.padBytes) - bytes);
    const timestamp = Math.floor(this.deps.clock.now() / 1000);
    let result: DeliveryResult;
    try {
      const response = await fetch(this.target.url, {
        method: 'POST',
        headers: {
          ...(this.target.authorization === undefined ? {} : { authorization: this.target.authorization }),
          'content-type': 'application/json',
          'webhook-id': event.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signWebhook(this.key, event.id, timestamp, body),
        },
        body,
        // A redirect would turn the POST into a GET; report it instead (3xx counts as a refusal).
        redirect: 'manual',
        signal: AbortSignal.timeout(this.options.timeout),
      });
      // The body is not needed; cancelling it frees the connection for reuse.
      await response.body?.cancel();
      result = classifyStatus(response.status, response.statusText);
    } catch (error) {
      const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
      // The text is shown on /healthz: no URL credentials in it, whatever the error quotes (security.md rule 7).
      result = { ok: false, retryable: true, error: timedOut ? `no response within ${this.options.timeout} ms` : redactUrlCredentials(errorText(error)) };
    }
    this.lastFailure = result.ok ? undefined : result.error;
    return result;
  }

  async stop(): Promise<void> {}

  health(): AdapterHealth {
    return this.lastFailure === undefined ? { state: 'up' } : { state: 'degraded', detail: this.lastFailure };
  }
}
