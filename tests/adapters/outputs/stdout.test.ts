import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it, onTestFinished } from 'vitest';
import { StdoutOutput } from '../../../adapters/outputs/stdout.js';
import type { NormalizedEvent } from '../../../src/model/event.js';

const event = { schema: 'panelbridge.event/1', id: '01a24ff6-c8f0-77ad-b96c-fefa225562af', category: 'burglary' } as unknown as NormalizedEvent;

describe('StdoutOutput', () => {
  it('keeps the gateway running when the reader of its pipe goes away (EPIPE): the delivery fails, retryable, and health says so', async () => {
    // `panelbridge run --config F | head -1`, or a log shipper that died: the write fails with EPIPE, and the pipe
    // also emits 'error', which with no listener threw and ended the gateway with a stack trace, panels unanswered.
    // The reader closes its end of the pipe and stays: the writer's end is still open, as a shell pipeline leaves it.
    const reader = spawn(process.execPath, ['-e', "require('fs').closeSync(0); process.stdout.write('closed'); setTimeout(() => {}, 10_000)"], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    await once(reader.stdout, 'data');
    onTestFinished(() => void reader.kill());
    const output = new StdoutOutput({ name: 'out', stream: reader.stdin });
    const results = [await output.deliver(event), await output.deliver(event)];
    await new Promise((resolve) => setTimeout(resolve, 50)); // where the pipe's 'error' event lands
    expect(results.map((r) => r.ok)).toEqual([false, false]);
    expect(results[0]).toMatchObject({ retryable: true, error: expect.stringContaining('EPIPE') });
    expect(output.health()).toMatchObject({ state: 'degraded' });
  });
});
