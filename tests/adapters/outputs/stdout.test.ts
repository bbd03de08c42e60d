import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { describe, expect, it, onTestFinished } from 'vitest';
import { StdoutOutput } from '../../../adapters/outputs/stdout.js';
import type { NormalizedEvent } from '../../../src/model/event.js';
import { HOSTILE_ACCOUNT, OBEYED_BY_TERMINALS } from '../../helpers/terminal-text.js';

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

  it('writes what a panel sent that a terminal would obey as JSON escapes: `run` on a terminal shows the events, same values', async () => {
    // The quick start runs the gateway in a terminal with a stdout output: an access-XML controller's account or a
    // DC-09 location holding CSI SGR 8 (conceal) or a bidi override would hide or reorder the lines printed after it.
    const hostile = { ...event, account: HOSTILE_ACCOUNT, text: 'Lobby\u202e\u2028x\u007f' } as NormalizedEvent;
    let written = '';
    const stream = new Writable({ write: (chunk: Buffer, _encoding, done) => ((written += chunk.toString('utf8')), done()) });
    expect(await new StdoutOutput({ name: 'out', stream }).deliver(hostile)).toEqual({ ok: true });
    expect(written.endsWith('\n')).toBe(true);
    expect(written.slice(0, -1)).not.toMatch(OBEYED_BY_TERMINALS);
    expect(JSON.parse(written)).toEqual(hostile);
  });
});
