import { afterEach, describe, expect, it } from 'vitest';
import { registerDeadLetterRoutes } from '../../../../adapters/api/routes/dead-letters.js';
import { ApiServer } from '../../../../adapters/api/server.js';
import { TokenRegistry } from '../../../../adapters/api/tokens.js';
import type { AuditEntry } from '../../../../src/assurance/audit-chain.js';
import { Assurance } from '../../../../src/assurance/assurance.js';
import { AssuranceStore } from '../../../../src/assurance/store.js';
import { supervisionPolicy } from '../../../../src/assurance/supervision.js';
import { createIdSource, seededRandom } from '../../../../src/model/ids.js';
import type { NormalizedEvent } from '../../../../src/model/event.js';
import { DEAD_LETTER_RETRY_LIMIT } from '../../../../src/outbox/outbox.js';
import { MemoryOutbox } from '../../../../src/outbox/memory-outbox.js';
import { silentLogger } from '../../../../src/ports.js';
import { apiSchema } from '../../../../src/settings/settings.js';
import { FakeClock, outboxTestEvent } from '../../../helpers/outbox-events.js';

const TOKENS = {
  viewer: 'viewer-token-0123456789',
  operator: 'operator-token-0123456789',
  installer: 'installer-token-0123456789',
  admin: 'admin-token-0123456789',
} as const;
type Role = keyof typeof TOKENS;

const servers: ApiServer[] = [];
afterEach(async () => {
  for (const api of servers.splice(0)) await api.stop();
});

/** The retry route on the real ApiServer and Assurance, over an outbox where the webhook refused a hold-up and a burglary. */
async function withRefusedEvents() {
  const clock = new FakeClock();
  const outbox = new MemoryOutbox({ clock });
  outbox.registerOutputs(['hook', 'mqtt']);
  const { entries } = await outbox.append([
    outboxTestEvent({ id: 'holdup', account: '1234', duress: true, receivedAt: clock.now() }),
    outboxTestEvent({ id: 'burglary', account: '1234', receivedAt: clock.now() }),
  ]);
  for (const { seq } of entries) outbox.markDead('hook', seq, 'HTTP 401 Unauthorized');
  const audit: AuditEntry[] = [];
  const published: NormalizedEvent[] = [];
  const assurance = new Assurance({
    store: AssuranceStore.open(':memory:'),
    sites: () => [],
    clock,
    builder: { ids: createIdSource(clock, seededRandom(1)), sites: () => [] },
    record: async (events) => {
      published.push(...events);
      return { ok: true, events, duplicate: false };
    },
    logger: silentLogger,
    duressDeadlineMs: 10_000,
    supervision: supervisionPolicy(undefined, [], () => []),
    centralOutputs: new Set(['hook', 'mqtt']),
    audit: (entry) => audit.push(entry),
  });
  // What the tests look at is what the retries record, not the start's (the sites it loaded).
  expect(audit.map((entry) => entry.action)).toEqual(['sites-loaded']);
  audit.length = 0;
  const tokens = Object.entries(TOKENS).map(([role, token]) => ({ name: `${role}-1`, role, token }));
  const loaded = TokenRegistry.load(apiSchema.parse({ port: 0, tokens }), '/nonexistent-not-used');
  if (!loaded.ok) throw new Error('tokens');
  const api = new ApiServer({ host: '127.0.0.1', port: 0, logger: silentLogger, tokens: loaded.registry });
  registerDeadLetterRoutes(api, { outputs: ['hook', 'mqtt'], outbox, assurance });
  await api.start();
  servers.push(api);
  const post = async (body: unknown, role: Role | null = 'operator', contentType = 'application/json') => {
    const response = await fetch(`http://127.0.0.1:${api.address!.port}/dead-letters/retry`, {
      method: 'POST',
      headers: { ...(role === null ? {} : { authorization: `Bearer ${TOKENS[role]}` }), 'content-type': contentType },
      body: JSON.stringify(body),
    });
    return {
      status: response.status,
      body: (await response.json()) as { retried?: number; remaining?: number; notFound?: number[]; error?: { code: string; message: string } },
    };
  };
  return { outbox, post, audit, published, seqs: entries.map((e) => e.seq) };
}

describe('POST /dead-letters/retry', () => {
  it('refuses a caller without a token, and a viewer or installer token: nothing is retried, nothing recorded', async () => {
    const { outbox, post, audit, published } = await withRefusedEvents();
    expect((await post({ output: 'hook' }, null)).status).toBe(401);
    expect(await post({ output: 'hook' }, 'viewer')).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    expect(await post({ output: 'hook' }, 'installer')).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    // A page in a browser cannot post JSON across sites without a preflight; a form post is refused.
    expect((await post({ output: 'hook' }, 'operator', 'text/plain')).status).toBe(415);
    expect(outbox.deadLetterCount('hook')).toBe(2);
    expect(outbox.backlog('hook')).toBe(0);
    expect([audit, published]).toEqual([[], []]);
  });

  it('retries for an operator, publishes the control action to central and audits it under the token', async () => {
    const { outbox, post, audit, published, seqs } = await withRefusedEvents();
    const answer = await post({ output: 'hook', note: 'webhook secret rotated' });

    expect(answer).toEqual({ status: 200, body: { retried: 2, remaining: 0 } });
    expect(outbox.pending('hook', 10).map((e) => e.event.id)).toEqual(['holdup', 'burglary']);
    // The broker has not delivered the originals yet: it still has them, and nothing more.
    expect(outbox.pending('mqtt', 10).map((e) => e.seq)).toEqual(seqs);
    expect(audit).toEqual([
      {
        action: 'dead-letters-retried',
        actor: { name: 'operator-1', role: 'operator', channel: 'api' },
        details: { output: 'hook', count: 2, seqs, eventIds: ['holdup', 'burglary'], note: 'webhook secret rotated' },
      },
    ]);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({
      category: 'supervisory',
      covert: true,
      control: { action: 'dead-letters-retried', by: 'operator-1', role: 'operator', channel: 'api', note: 'webhook secret rotated', output: 'hook' },
    });
    expect(published[0]!.reasons[0]).toContain('2 dead letter(s) of output hook');
    expect(published[0]!.reasons[0]).toContain('1 duress or hold-up');
  });

  it('retries only the seqs given, for an admin too', async () => {
    const { outbox, post, seqs } = await withRefusedEvents();
    expect(await post({ output: 'hook', seqs: [seqs[1]] }, 'admin')).toEqual({ status: 200, body: { retried: 1, remaining: 1, notFound: [] } });
    expect(outbox.pending('hook', 10).map((e) => e.event.id)).toEqual(['burglary']);
  });

  it('names the seqs given that are not dead letters of the output (a typo, another output\'s, one already retried)', async () => {
    const { post, seqs } = await withRefusedEvents();
    expect(await post({ output: 'hook', seqs: [seqs[0], 999] })).toEqual({ status: 200, body: { retried: 1, remaining: 1, notFound: [999] } });
    // seqs[0] was retried just now: it is no longer a dead letter.
    expect(await post({ output: 'hook', seqs: [seqs[0]] })).toEqual({ status: 200, body: { retried: 0, remaining: 1, notFound: [seqs[0]] } });
    // The broker refused nothing: the webhook's dead letter is not one of its.
    expect(await post({ output: 'mqtt', seqs: [seqs[1]] })).toEqual({ status: 200, body: { retried: 0, remaining: 0, notFound: [seqs[1]] } });
  });

  it('answers 404 for an output not configured and 400 for more seqs than one request may retry; records nothing', async () => {
    const { post, audit, published } = await withRefusedEvents();
    expect(await post({ output: 'gone' })).toMatchObject({ status: 404, body: { error: { code: 'OUTPUT_NOT_FOUND' } } });
    const tooMany = Array.from({ length: DEAD_LETTER_RETRY_LIMIT + 1 }, (_, i) => i + 1);
    expect(await post({ output: 'hook', seqs: tooMany })).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST' } } });
    expect(await post({ output: 'hook', seqs: ['1'] })).toMatchObject({ status: 400 });
    expect(await post({})).toMatchObject({ status: 400 });
    expect([audit, published]).toEqual([[], []]);
  });

  it('records nothing when no dead letter matched', async () => {
    const { post, audit, published } = await withRefusedEvents();
    expect(await post({ output: 'mqtt' })).toEqual({ status: 200, body: { retried: 0, remaining: 0 } });
    expect([audit, published]).toEqual([[], []]);
  });
});
