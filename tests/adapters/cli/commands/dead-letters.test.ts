import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { deadLettersCommand } from '../../../../adapters/cli/commands/dead-letters.js';
import { DEAD_LETTER_RETRY_LIMIT } from '../../../../src/outbox/outbox.js';
import { runInProcess } from '../../../helpers/cli-in-process.js';

const servers: http.Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** A stand-in API that answers each POST /dead-letters/retry with the next of `answers` (the last one forever). */
async function fakeApi(answers: Array<{ retried: number; remaining: number; notFound?: number[] }>) {
  const bodies: unknown[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(body));
      const answer = answers[Math.min(bodies.length - 1, answers.length - 1)];
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies };
}

const runRetry = (args: string[]) => runInProcess(deadLettersCommand(), ['retry', ...args], 'operator-token-0123456789');

describe('panelbridge dead-letters retry', () => {
  it('retries every dead letter there was a request at a time, and stops there while the output refuses them again', async () => {
    // 2,500 dead letters; the centre still refuses, so each batch retried comes back as new dead letters.
    const api = await fakeApi([{ retried: DEAD_LETTER_RETRY_LIMIT, remaining: 1_500 }, { retried: DEAD_LETTER_RETRY_LIMIT, remaining: 1_500 }]);
    const run = await runRetry(['--output', 'hook', '--api', api.url]);
    expect(run).toEqual({ out: `retried ${3 * DEAD_LETTER_RETRY_LIMIT} dead letter(s) of hook; 1500 left\n`, err: '', exitCode: 0 });
    expect(api.bodies).toEqual([{ output: 'hook' }, { output: 'hook' }, { output: 'hook' }]);
  });

  it(`names the seqs given, at most ${DEAD_LETTER_RETRY_LIMIT} per request, with the note`, async () => {
    const api = await fakeApi([{ retried: 2, remaining: 4, notFound: [] }]);
    const run = await runRetry(['--output', 'hook', '--seq', '7', '--seq', '9', '--note', 'secret rotated', '--api', api.url]);
    expect(run).toEqual({ out: 'retried 2 dead letter(s) of hook; 4 left\n', err: '', exitCode: 0 });
    expect(api.bodies).toEqual([{ output: 'hook', seqs: [7, 9], note: 'secret rotated' }]);
  });

  it('fails with 64 naming the seq when none given was a dead letter of the output (a typo is not a success)', async () => {
    const api = await fakeApi([{ retried: 0, remaining: 4, notFound: [77] }]);
    const run = await runRetry(['--output', 'hook', '--seq', '77', '--api', api.url]);
    expect(run.exitCode).toBe(64);
    expect(run.out).toBe('');
    expect(run.err).toMatch(/\b77\b.*not a dead letter of hook/);
  });

  it('retries those that were dead letters and names the others', async () => {
    const api = await fakeApi([{ retried: 1, remaining: 4, notFound: [9] }]);
    const run = await runRetry(['--output', 'hook', '--seq', '7', '--seq', '9', '--api', api.url]);
    expect(run.out).toBe('retried 1 dead letter(s) of hook; 4 left\n');
    expect(run.err).toMatch(/\b9\b.*not a dead letter of hook/);
    expect(run.err).not.toMatch(/\b7\b/);
    expect(run.exitCode).toBe(0);
  });
});
