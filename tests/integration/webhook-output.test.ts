import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { classifyStatus, signWebhook, WebhookOutput, webhookSigningKey, type WebhookOutputOptions } from '../../adapters/outputs/webhook.js';
import { MemoryOutbox } from '../../src/outbox/memory-outbox.js';
import { Dispatcher } from '../../src/pipeline/dispatcher.js';
import { silentLogger, systemClock, type Clock } from '../../src/ports.js';
import { freePort } from '../helpers/broker.js';
import { testEvent } from '../helpers/output-events.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

interface ReceivedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A receiver that answers each request with the next scripted status ('hang' never answers). */
async function startReceiver(script: Array<number | 'hang'>): Promise<{ url: string; requests: ReceivedRequest[]; close(): Promise<void> }> {
  const requests: ReceivedRequest[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const answer = script[Math.min(requests.length - 1, script.length - 1)] ?? 200;
      if (answer !== 'hang') res.writeHead(answer).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The receiver's check, written with WebCrypto rather than the output's node:crypto HMAC. */
async function expectedSignature(secret: string, id: string, timestamp: string, body: string): Promise<string> {
  const keyBytes = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const key = await crypto.subtle.importKey('raw', keyBytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${id}.${timestamp}.${body}`));
  return `v1,${Buffer.from(mac).toString('base64')}`;
}

function webhook(url: string, extra: Partial<WebhookOutputOptions> = {}, clock: Clock = systemClock): WebhookOutput {
  return new WebhookOutput({ name: 'cloud', url, secret: SECRET, timeout: 2_000, audience: 'central', ...extra }, { clock });
}

describe('Standard Webhooks signing', () => {
  it('reproduces the specification\'s published test vector', () => {
    // Test vector from the Standard Webhooks specification (github.com/standard-webhooks/standard-webhooks).
    const signature = signWebhook(webhookSigningKey(SECRET), 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
    expect(signature).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('refuses a secret with no key bytes', () => {
    expect(() => webhookSigningKey('whsec_')).toThrow(/CONFIG_INVALID/);
  });
});

describe('HTTP status classification', () => {
  it.each([
    [200, { ok: true }],
    [204, { ok: true }],
    [408, { ok: false, retryable: true }],
    [429, { ok: false, retryable: true }],
    [500, { ok: false, retryable: true }],
    [503, { ok: false, retryable: true }],
    [301, { ok: false, retryable: false }],
    [400, { ok: false, retryable: false }],
    [401, { ok: false, retryable: false }],
    [404, { ok: false, retryable: false }],
    [422, { ok: false, retryable: false }],
  ])('%i → %o', (status, expected) => {
    expect(classifyStatus(status, '')).toMatchObject(expected);
  });
});

describe('webhook output against a local HTTP receiver', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function receiver(script: Array<number | 'hang'>) {
    const server = await startReceiver(script);
    cleanups.push(() => server.close());
    return server;
  }

  function dispatch(output: WebhookOutput): { outbox: MemoryOutbox; dispatcher: Dispatcher } {
    const outbox = new MemoryOutbox();
    const dispatcher = new Dispatcher({
      outbox,
      outputs: [output],
      clock: systemClock,
      logger: silentLogger,
      backoff: { initialMs: 10, jitter: 0 },
    });
    dispatcher.start();
    cleanups.push(() => dispatcher.stop());
    return { outbox, dispatcher };
  }

  async function until(condition: () => boolean): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it('retries 500 and 429, then delivers once; every attempt is signed and verifiable', async () => {
    const server = await receiver([500, 429, 200]);
    const output = webhook(server.url);
    await output.start();
    const { outbox, dispatcher } = dispatch(output);
    const event = testEvent({ category: 'duress', siteId: 'branch-1' });
    await outbox.append([event]);
    await until(() => outbox.backlog('cloud') === 0);

    expect(server.requests).toHaveLength(3);
    for (const request of server.requests) {
      expect(request.method).toBe('POST');
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['webhook-id']).toBe(event.id);
      expect(JSON.parse(request.body)).toEqual(event);
      const timestamp = String(request.headers['webhook-timestamp']);
      expect(request.headers['webhook-signature']).toBe(await expectedSignature(SECRET, event.id, timestamp, request.body));
    }
    expect(dispatcher.stats().cloud).toMatchObject({ delivered: 1, failed: 2, dead: 0 });
  });

  it('stamps webhook-timestamp in unix seconds from the injected clock', async () => {
    const server = await receiver([200]);
    const output = webhook(server.url, {}, { now: () => 1_700_000_000_999 });
    await output.start();
    expect(await output.deliver(testEvent())).toEqual({ ok: true });
    expect(server.requests[0]?.headers['webhook-timestamp']).toBe('1700000000');
  });

  it('turns a 4xx refusal into a dead letter, without retrying it', async () => {
    const server = await receiver([422]);
    const output = webhook(server.url);
    await output.start();
    const { outbox, dispatcher } = dispatch(output);
    const event = testEvent();
    await outbox.append([event]);
    await until(() => outbox.deadLetters('cloud').length === 1);

    expect(outbox.deadLetters('cloud')[0]).toMatchObject({ reason: 'HTTP 422 Unprocessable Entity', event: { id: event.id } });
    expect(server.requests).toHaveLength(1);
    expect(dispatcher.stats().cloud).toMatchObject({ dead: 1, delivered: 0 });
  });

  it('attack: a redirect is not followed; the signed duress and the basic-auth credentials never reach the address it names', async () => {
    const elsewhere = await receiver([200]);
    const redirecting = http.createServer((req, res) => {
      req.resume();
      res.writeHead(307, { location: elsewhere.url }).end();
    });
    redirecting.listen(0, '127.0.0.1');
    await new Promise((resolve) => redirecting.once('listening', resolve));
    cleanups.push(() => new Promise((resolve) => redirecting.close(resolve)));
    const output = webhook(`http://alarm:pw@127.0.0.1:${(redirecting.address() as AddressInfo).port}/hook`);
    await output.start();
    // Not retried either: the dispatcher keeps it as a dead letter, listed and alerted on.
    expect(await output.deliver(testEvent({ category: 'duress' }))).toEqual({ ok: false, retryable: false, error: 'HTTP 307 Temporary Redirect' });
    expect(elsewhere.requests).toEqual([]);
  });

  it('sends the credentials of a user:password@ URL as basic auth, the rest of the URL as it is', async () => {
    const server = await receiver([200]);
    // Percent-encoded in the URL, as a password with ':' or '@' must be; basic auth carries it decoded.
    const output = webhook(server.url.replace('http://', 'http://alarm:S3cret%3Apw@') + '?site=12');
    await output.start();
    expect(await output.deliver(testEvent({ category: 'duress' }))).toEqual({ ok: true });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.url).toBe('/hook?site=12');
    expect(server.requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from('alarm:S3cret:pw').toString('base64')}`);
  });

  it('never shows the password of a user:password@ URL in a failure', async () => {
    const output = webhook(`http://alarm:S3cretPw@127.0.0.1:${await freePort()}/hook`);
    await output.start();
    const result = await output.deliver(testEvent());
    expect(result).toMatchObject({ ok: false, retryable: true });
    expect(output.health().state).toBe('degraded');
    expect(JSON.stringify([result, output.health()])).not.toContain('S3cretPw');
  });

  it('gives up on a receiver that never answers and reports it as retryable', async () => {
    const server = await receiver(['hang']);
    const output = webhook(server.url, { timeout: 200 });
    await output.start();
    const result = await output.deliver(testEvent());
    expect(result).toEqual({ ok: false, retryable: true, error: 'no response within 200 ms' });
    expect(output.health()).toEqual({ state: 'degraded', detail: 'no response within 200 ms' });
  });

  it('reports a refused connection as retryable', async () => {
    const output = webhook(`http://127.0.0.1:${await freePort()}/hook`);
    await output.start();
    const result = await output.deliver(testEvent());
    expect(result).toMatchObject({ ok: false, retryable: true, error: expect.stringMatching(/ECONNREFUSED/) });
  });

  it('reads the secret from secretFile, and will not start without a secret', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'pb-webhook-'));
    cleanups.push(() => rm(dir, { recursive: true }));
    const secretFile = path.join(dir, 'secret');
    await writeFile(secretFile, `${SECRET}\n`);
    const server = await receiver([200]);
    const fromFile = new WebhookOutput(
      { name: 'cloud', url: server.url, secretFile, timeout: 2_000, audience: 'central' },
      { clock: systemClock },
    );
    await fromFile.start();
    await fromFile.deliver(testEvent());
    const request = server.requests[0];
    expect(request?.headers['webhook-signature']).toBe(
      await expectedSignature(SECRET, String(request?.headers['webhook-id']), String(request?.headers['webhook-timestamp']), request?.body ?? ''),
    );

    const unsigned = new WebhookOutput({ name: 'cloud', url: server.url, timeout: 2_000, audience: 'central' }, { clock: systemClock });
    await expect(unsigned.start()).rejects.toThrow(/secret or secretFile/);
  });
});
