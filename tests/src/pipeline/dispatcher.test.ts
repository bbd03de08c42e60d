import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StdoutOutput } from '../../../adapters/outputs/stdout.js';
import type { NormalizedEvent } from '../../../src/model/event.js';
import { MemoryOutbox } from '../../../src/outbox/memory-outbox.js';
import { backoffDelay } from '../../../src/backoff.js';
import {
  DEFAULT_BACKOFF,
  DEFAULT_LOCAL_MAX_BACKLOG,
  Dispatcher,
  type DispatcherOptions,
} from '../../../src/pipeline/dispatcher.js';
import { silentLogger, type AdapterHealth, type Audience, type DeliveryResult, type OutputAdapter } from '../../../src/ports.js';
import { testEvent } from '../../helpers/output-events.js';
import { recordingLogger } from '../../helpers/recording-logger.js';

type Responder = (event: NormalizedEvent, attempt: number) => DeliveryResult | Promise<DeliveryResult>;

/** An output whose answers the test scripts; it records every call and how many ran at once. */
class ScriptedOutput implements OutputAdapter<NormalizedEvent> {
  readonly kind = 'scripted';
  readonly calls: NormalizedEvent[] = [];
  readonly delivered: NormalizedEvent[] = [];
  inFlight = 0;
  peakInFlight = 0;
  private readonly attempts = new Map<string, number>();

  constructor(
    readonly name: string,
    private readonly respond: Responder = () => ({ ok: true }),
    readonly audience: Audience = 'central',
  ) {}

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  health(): AdapterHealth {
    return { state: 'up' };
  }

  async deliver(event: NormalizedEvent): Promise<DeliveryResult> {
    const attempt = (this.attempts.get(event.id) ?? 0) + 1;
    this.attempts.set(event.id, attempt);
    this.calls.push(event);
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    try {
      const result = await this.respond(event, attempt);
      if (result.ok) this.delivered.push(event);
      return result;
    } finally {
      this.inFlight--;
    }
  }
}

/** Deliveries that complete only when the test says so. */
class Gate {
  private readonly waiting: Array<() => void> = [];
  readonly responder: Responder = () =>
    new Promise((resolve) => {
      this.waiting.push(() => resolve({ ok: true }));
    });
  get pending(): number {
    return this.waiting.length;
  }
  releaseOne(): void {
    this.waiting.shift()?.();
  }
}

const noJitter = () => 0.5;

/**
 * Moves fake time on by `ms`, then lets the chain of immediates and resolved deliveries that follows run to
 * the end (each completion schedules the next scan).
 */
async function settle(ms = 0): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
  for (let round = 0; round < 20; round++) {
    await new Promise((resolve) => setImmediate(resolve)); // drains every pending promise reaction
    await vi.advanceTimersByTimeAsync(0);
  }
}

function newDispatcher(outbox: MemoryOutbox, outputs: OutputAdapter[], extra: Partial<DispatcherOptions> = {}): Dispatcher {
  return new Dispatcher({
    outbox,
    outputs,
    clock: { now: () => Date.now() },
    logger: silentLogger,
    random: noJitter,
    ...extra,
  });
}

describe('Dispatcher', () => {
  let outbox: MemoryOutbox;
  let dispatcher: Dispatcher | undefined;

  beforeEach(() => {
    // Backoff and stop timeouts run on fake time; the dispatcher's scan scheduling (setImmediate) stays real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    outbox = new MemoryOutbox();
  });

  afterEach(async () => {
    const stopping = dispatcher?.stop();
    await settle(10_000);
    await stopping;
    dispatcher = undefined;
    vi.useRealTimers();
  });

  /** Registers the outputs first, as the gateway does, so they see events appended before start(). */
  function prepare(outputs: OutputAdapter[], extra: Partial<DispatcherOptions> = {}): Dispatcher {
    outbox.registerOutputs(outputs.map((output) => output.name));
    dispatcher = newDispatcher(outbox, outputs, extra);
    return dispatcher;
  }

  it('delivers each queued event once, records it in the outbox and tells the hook', async () => {
    const output = new ScriptedOutput('out');
    const hooked: string[] = [];
    const d = prepare([output], { onDelivered: (name, event) => hooked.push(`${name}:${event.id}`) });
    const events = [testEvent({ account: 'A' }), testEvent({ account: 'B' }), testEvent({ account: 'A' })];
    await outbox.append(events);

    d.start();
    await settle();

    expect(output.calls.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(outbox.backlog('out')).toBe(0);
    expect(hooked).toEqual(events.map((e) => `out:${e.id}`));
    expect(d.stats().out).toMatchObject({ delivered: 3, failed: 0, dead: 0, skippedCovert: 0, backlog: 0 });
  });

  it('wakes up when an event is appended after it started', async () => {
    const output = new ScriptedOutput('out');
    prepare([output]).start();
    await settle();
    expect(output.calls).toHaveLength(0);

    const event = testEvent();
    await outbox.append([event]);
    await settle();

    expect(output.delivered.map((e) => e.id)).toEqual([event.id]);
  });

  it('retries a retryable failure with exponential backoff until it is delivered', async () => {
    const output = new ScriptedOutput('out', (_event, attempt) =>
      attempt <= 3 ? { ok: false, retryable: true, error: 'broker down' } : { ok: true },
    );
    const d = prepare([output]);
    await outbox.append([testEvent()]);
    d.start();
    await settle();
    expect(output.calls).toHaveLength(1);

    // 500 ms, then 1 s, then 2 s: each retry comes exactly when its delay has passed, not before.
    for (const [delay, callsAfter] of [
      [500, 2],
      [1_000, 3],
      [2_000, 4],
    ] as const) {
      await settle(delay - 1);
      expect(output.calls).toHaveLength(callsAfter - 1);
      await settle(1);
      expect(output.calls).toHaveLength(callsAfter);
    }
    expect(outbox.backlog('out')).toBe(0);
    expect(d.stats().out).toMatchObject({ delivered: 1, failed: 3, dead: 0 });
  });

  it('treats a deliver() that throws as a retryable failure', async () => {
    const output = new ScriptedOutput('out', (_event, attempt) => {
      if (attempt === 1) throw new Error('bug in output');
      return { ok: true };
    });
    const d = prepare([output]);
    await outbox.append([testEvent()]);
    d.start();
    await settle(DEFAULT_BACKOFF.initialMs);

    expect(output.calls).toHaveLength(2);
    expect(d.stats().out).toMatchObject({ delivered: 1, failed: 1 });
  });

  it('keeps a permanently refused event as a dead letter and carries on with the account', async () => {
    const refused = testEvent({ account: 'A', raw: 'refused' });
    const next = testEvent({ account: 'A' });
    const output = new ScriptedOutput('out', (event) =>
      event.id === refused.id ? { ok: false, retryable: false, error: 'HTTP 400 Bad Request' } : { ok: true },
    );
    const d = prepare([output]);
    await outbox.append([refused, next]);
    d.start();
    await settle();

    expect(output.calls.map((e) => e.id)).toEqual([refused.id, next.id]);
    expect(outbox.deadLetters('out')).toMatchObject([{ reason: 'HTTP 400 Bad Request', event: { id: refused.id } }]);
    expect(d.stats().out).toMatchObject({ delivered: 1, dead: 1, backlog: 0 });
  });

  // A centre that refuses everything (a rotated secret) turns a backlog into dead letters at once: one error line per
  // event flooded the journal (journald drops lines past its rate limit, a duress's among them).
  it('logs the dead letters of a refusing output a few lines at a time, except each duress, which is logged alone', async () => {
    const { logger, lines } = recordingLogger();
    const output = new ScriptedOutput('out', () => ({ ok: false, retryable: false, error: 'HTTP 401 Unauthorized' }));
    const d = prepare([output], { logger });
    const duress = testEvent({ account: 'B', category: 'duress', duress: true });
    await outbox.append([...Array.from({ length: 500 }, () => testEvent({ account: 'A' })), duress]);
    d.start();
    for (let round = 0; round < 100 && d.stats().out!.backlog > 0; round++) await settle();

    expect(d.stats().out).toMatchObject({ dead: 501, backlog: 0 });
    const refused = lines.filter((line) => line.level === 'error' && line.message?.startsWith('delivery refused'));
    expect(refused.length).toBeLessThan(5);
    expect(refused.filter((line) => line.fields['eventId'] === duress.id)).toHaveLength(1);
  });

  it('holds back the later entries of an account whose entry failed, while other accounts carry on', async () => {
    const a1 = testEvent({ account: 'A' });
    const a2 = testEvent({ account: 'A' });
    const b1 = testEvent({ account: 'B' });
    const b2 = testEvent({ account: 'B' });
    const output = new ScriptedOutput('out', (event, attempt) =>
      event.id === a1.id && attempt === 1 ? { ok: false, retryable: true, error: 'timeout' } : { ok: true },
    );
    const d = prepare([output]);
    await outbox.append([a1, a2, b1, b2]);
    d.start();
    await settle();

    // A waits out its backoff: a2 is not sent ahead of the failed a1, but B is not held up by A.
    expect(output.delivered.map((e) => e.id)).toEqual([b1.id, b2.id]);
    expect(output.calls.map((e) => e.id)).not.toContain(a2.id);
    expect(d.stats().out).toMatchObject({ waiting: 1 });

    await settle(DEFAULT_BACKOFF.initialMs);
    expect(output.delivered.map((e) => e.id)).toEqual([b1.id, b2.id, a1.id, a2.id]);
  });

  it('looks past a long backlog of a waiting account to deliver other accounts', async () => {
    const backlogOfA = [1, 2, 3, 4, 5, 6].map(() => testEvent({ account: 'A' }));
    const b1 = testEvent({ account: 'B' });
    const output = new ScriptedOutput('out', (event) =>
      event.account === 'A' ? { ok: false, retryable: true, error: 'HTTP 503' } : { ok: true },
    );
    const d = prepare([output], { batch: 2 });
    await outbox.append([...backlogOfA, b1]);
    d.start();
    await settle();

    expect(output.delivered.map((e) => e.id)).toEqual([b1.id]);
    expect(output.calls.filter((e) => e.account === 'A')).toHaveLength(1);
  });

  it('pipelines different accounts but never has two entries of one account in flight', async () => {
    const gate = new Gate();
    const perAccount = new Map<string, number>();
    let sameAccountOverlap = false;
    const output = new ScriptedOutput('out', async (event) => {
      const account = event.account ?? '';
      const busy = (perAccount.get(account) ?? 0) + 1;
      perAccount.set(account, busy);
      if (busy > 1) sameAccountOverlap = true;
      const result = await gate.responder(event, 1);
      perAccount.set(account, (perAccount.get(account) ?? 1) - 1);
      return result;
    });
    const d = prepare([output], { maxInFlight: 8 });
    const events = ['A', 'B', 'C'].flatMap((account) => [1, 2, 3].map(() => testEvent({ account })));
    await outbox.append(events);
    d.start();
    await settle();
    expect(gate.pending).toBe(3);

    while (gate.pending > 0) {
      gate.releaseOne();
      await settle();
    }

    expect(output.peakInFlight).toBe(3);
    expect(sameAccountOverlap).toBe(false);
    for (const account of ['A', 'B', 'C']) {
      const order = output.delivered.filter((e) => e.account === account).map((e) => e.id);
      expect(order).toEqual(events.filter((e) => e.account === account).map((e) => e.id));
    }
  });

  it('delivers account-less entries side by side, never held back by an account that looks like their seq', async () => {
    const gate = new Gate();
    const output = new ScriptedOutput('out', gate.responder);
    const d = prepare([output], { maxInFlight: 8 });
    // The MemoryOutbox numbers entries from 1: the account '1' and the account-less entry with seq 1 are unrelated.
    const events = [testEvent({ account: null }), testEvent({ account: '1' }), testEvent({ account: null }), testEvent({ account: '1' })];
    await outbox.append(events);
    d.start();
    await settle();
    expect(output.calls.map((e) => e.id)).toEqual([events[0]!.id, events[1]!.id, events[2]!.id]);
    gate.releaseOne();
    gate.releaseOne();
    await settle();
    expect(output.calls.map((e) => e.id)).toEqual(events.map((e) => e.id));
  });

  it('keeps no more deliveries in flight than the output declares it takes', async () => {
    const gate = new Gate();
    const output = Object.assign(new ScriptedOutput('out', gate.responder), { maxInFlight: 2 });
    const d = prepare([output], { maxInFlight: 8 });
    await outbox.append(['A', 'B', 'C', 'D', 'E'].map((account) => testEvent({ account })));
    d.start();
    await settle();
    while (gate.pending > 0) {
      gate.releaseOne();
      await settle();
    }
    expect(output.delivered).toHaveLength(5);
    expect(output.peakInFlight).toBe(2);
  });

  it('sends a duress event ahead of the backlog that was queued before it', async () => {
    const gate = new Gate();
    const output = new ScriptedOutput('out', gate.responder);
    const d = prepare([output], { maxInFlight: 1 });
    const backlog = [1, 2, 3, 4].map(() => testEvent({ account: 'A' }));
    await outbox.append(backlog);
    d.start();
    await settle();
    expect(output.calls.map((e) => e.id)).toEqual([backlog[0]?.id]);

    const duress = testEvent({ account: 'D', category: 'duress' });
    await outbox.append([duress]);
    gate.releaseOne();
    await settle();

    expect(output.calls.map((e) => e.id)).toEqual([backlog[0]?.id, duress.id]);
  });

  it('never gives a local-audience output a duress or hold-up event, and counts what it withheld', async () => {
    const central = new ScriptedOutput('central');
    const local = new ScriptedOutput('siren', undefined, 'local');
    const d = prepare([central, local]);
    const burglary = testEvent({ account: 'A' });
    const duress = testEvent({ account: 'A', category: 'duress' });
    const holdup = testEvent({ account: 'B', category: 'holdup' });
    const opening = testEvent({ account: 'B', category: 'opening' });
    await outbox.append([burglary, duress, holdup, opening]);
    d.start();
    await settle();

    expect(central.delivered.map((e) => e.id).sort()).toEqual([burglary.id, duress.id, holdup.id, opening.id].sort());
    expect(local.calls.map((e) => e.id).sort()).toEqual([burglary.id, opening.id].sort());
    expect(local.calls.some((e) => e.duress)).toBe(false);
    // Withheld entries count as done for that output, so they neither pile up nor come back after a restart.
    expect(outbox.backlog('siren')).toBe(0);
    expect(d.stats().siren).toMatchObject({ delivered: 2, skippedCovert: 2 });
    expect(d.stats().central).toMatchObject({ delivered: 4, skippedCovert: 0 });
  });

  it('retries an outbox it cannot read once per backoff, however many frames arrive meanwhile', async () => {
    const d = prepare([new ScriptedOutput('cms')]);
    let reads = 0;
    outbox.pending = () => {
      reads++;
      throw new Error('database disk image is malformed');
    };
    d.start();
    // A panel's frames keep arriving while the page stays damaged: each append wakes the lane.
    for (let i = 0; i < 50; i++) {
      await outbox.append([testEvent({ account: 'A' })]);
      await settle(100);
    }
    reads = 0;
    await settle(10_000);
    // One retry each DEFAULT_BACKOFF.initialMs, not one more retry loop per frame that arrived.
    expect(reads).toBeLessThanOrEqual(10_000 / DEFAULT_BACKOFF.initialMs + 1);
    expect(d.readFailure('cms')).toMatch(/malformed/);
  });

  it('delivers a retried dead letter to its output alone once the endpoint accepts, and tells no other output of it', async () => {
    let secretRotated = false;
    const hook = new ScriptedOutput('hook', () => (secretRotated ? { ok: true } : { ok: false, retryable: false, error: 'HTTP 401 Unauthorized' }));
    const broker = new ScriptedOutput('broker');
    const siren = new ScriptedOutput('siren', undefined, 'local');
    const hooked: string[] = [];
    const d = prepare([hook, broker, siren], { onDelivered: (name, event) => hooked.push(`${name}:${event.id}`) });
    const holdup = testEvent({ account: 'A', category: 'holdup' });
    const burglary = testEvent({ account: 'B' });
    await outbox.append([holdup, burglary]);
    d.start();
    await settle();
    expect(outbox.deadLetterCount('hook')).toBe(2);

    secretRotated = true;
    outbox.retryDeadLetters('hook');
    await settle();

    expect(hook.delivered.map((e) => e.id)).toEqual([holdup.id, burglary.id]);
    expect(broker.calls.map((e) => e.id)).toEqual([holdup.id, burglary.id]);
    expect(siren.calls.map((e) => e.id)).toEqual([burglary.id]);
    expect(hooked.filter((h) => h.startsWith('hook:'))).toEqual([`hook:${holdup.id}`, `hook:${burglary.id}`]);
    expect(outbox.deadLetterCount()).toBe(0);
    expect(d.stats().siren).toMatchObject({ delivered: 1, skippedCovert: 1 });
    expect(d.stats().broker).toMatchObject({ delivered: 2, skippedCovert: 0 });
  });

  it('never gives a local output a retried duress dead letter: it is passed over as any covert entry', async () => {
    const siren = new ScriptedOutput('siren', undefined, 'local');
    const d = prepare([siren]);
    const duress = testEvent({ account: 'A', category: 'duress' });
    const opening = testEvent({ account: 'A', category: 'opening' });
    const { entries } = await outbox.append([duress, opening]);
    // As a retired output's letters are left under its name, which a later configuration gives a local output.
    for (const { seq } of entries) outbox.markDead('siren', seq, 'output removed from the configuration before it delivered this event');
    d.start();
    outbox.retryDeadLetters('siren');
    await settle();

    expect(siren.calls.map((e) => e.id)).toEqual([opening.id]);
    expect(outbox.backlog('siren')).toBe(0);
    expect(d.stats().siren).toMatchObject({ delivered: 1, skippedCovert: 1 });
  });

  it('gives a local output later events of the site without their incident id, and no event about a duress', async () => {
    const central = new ScriptedOutput('central');
    const local = new ScriptedOutput('keypad', undefined, 'local');
    const d = prepare([central, local]);
    const opening = testEvent({ account: 'A', category: 'opening', incident: 'inc-1' });
    const deadlineAlert = testEvent({ account: 'A', category: 'supervisory', covert: true, incident: 'inc-1' });
    const overdue = testEvent({ account: 'A', category: 'supervisory', covert: true });
    await outbox.append([opening, deadlineAlert, overdue]);
    d.start();
    await settle();

    expect(central.delivered.map((e) => e.incident)).toEqual(['inc-1', 'inc-1', undefined]);
    expect(local.calls).toHaveLength(1);
    expect(local.calls[0]!.id).toBe(opening.id);
    expect('incident' in local.calls[0]!).toBe(false);
    expect(d.stats().keypad).toMatchObject({ delivered: 1, skippedCovert: 2 });
  });

  it('delivers to a local output in storage order: a pending duress pulls no account forward', async () => {
    const central = new ScriptedOutput('central');
    const local = new ScriptedOutput('keypad', undefined, 'local');
    const d = prepare([central, local], { maxInFlight: 1 });
    const opening = testEvent({ account: 'B', category: 'opening' });
    const burglary = testEvent({ account: 'A' });
    const holdup = testEvent({ account: 'A', category: 'holdup' });
    await outbox.append([opening, burglary, holdup]);
    d.start();
    await settle();

    expect(central.calls.map((e) => e.id)).toEqual([burglary.id, holdup.id, opening.id]);
    expect(local.calls.map((e) => e.id)).toEqual([opening.id, burglary.id]);
  });

  it('skips the oldest undelivered events of a local output past its maxBacklog, counting them, and keeps the outbox for central', async () => {
    const central = new ScriptedOutput('central');
    const local = new ScriptedOutput('keypad', () => ({ ok: false, retryable: true, error: 'down' }), 'local');
    const d = prepare([central, local], { localMaxBacklog: new Map([['keypad', 3]]) });
    d.start();
    const events = Array.from({ length: 8 }, (_, i) => testEvent({ account: `A${i}` }));
    for (const event of events) await outbox.append([event]);
    await settle();

    expect(outbox.backlog('keypad')).toBeLessThanOrEqual(3);
    expect(d.stats().keypad!.skippedOverflow).toBeGreaterThanOrEqual(5);
    expect(central.delivered).toHaveLength(8);
    // The newest are the ones still waiting for the local output.
    expect(outbox.pending('keypad', 10).map((e) => e.event.id)).toEqual(events.slice(-outbox.backlog('keypad')).map((e) => e.id));
  });

  it('forgets the failed attempts of the entries a local output sheds: what it tracks stays within its backlog', async () => {
    let down = true;
    const local = new ScriptedOutput('keypad', () => (down ? { ok: false, retryable: true, error: 'down' } : { ok: true }), 'local');
    const d = prepare([local], { localMaxBacklog: new Map([['keypad', 3]]) });
    d.start();
    // Each round, the entries that failed are among the oldest and the next round sheds them.
    for (let round = 0; round < 50; round++) {
      await outbox.append(Array.from({ length: 20 }, (_, i) => testEvent({ account: `R${round}-${i}` })));
      await settle(DEFAULT_BACKOFF.initialMs * 2); // the retry timers of the last round fire: those entries fail again
      expect(d.stats().keypad!.retrying).toBeLessThanOrEqual(outbox.backlog('keypad'));
    }
    down = false;
    await settle(DEFAULT_BACKOFF.maxMs);
    expect(outbox.backlog('keypad')).toBe(0);
    expect(d.stats().keypad!.retrying).toBe(0);
  });

  it('sheds what a local output fell behind by before it started (a restart)', async () => {
    outbox.registerOutputs(['keypad']);
    await outbox.append(Array.from({ length: 6 }, () => testEvent({ account: null })));
    const local = new ScriptedOutput('keypad', () => ({ ok: false, retryable: true, error: 'down' }), 'local');
    const d = prepare([local], { localMaxBacklog: new Map([['keypad', 2]]) });
    d.start();
    await settle();
    expect(outbox.backlog('keypad')).toBeLessThanOrEqual(2);
    expect(d.stats().keypad!.skippedOverflow).toBeGreaterThanOrEqual(4);
  });

  it('holds a local output to the default maxBacklog when none is configured', async () => {
    const local = new ScriptedOutput('keypad', () => ({ ok: false, retryable: true, error: 'down' }), 'local');
    const d = prepare([local]);
    d.start();
    await outbox.append(Array.from({ length: DEFAULT_LOCAL_MAX_BACKLOG + 5 }, () => testEvent({ account: null })));
    await settle();
    expect(outbox.backlog('keypad')).toBeLessThanOrEqual(DEFAULT_LOCAL_MAX_BACKLOG);
    expect(d.stats().keypad!.skippedOverflow).toBeGreaterThanOrEqual(5);
  });

  it('waits for in-flight deliveries on stop, and a new dispatcher resumes from the outbox cursor', async () => {
    const gate = new Gate();
    const first = new ScriptedOutput('out', gate.responder);
    const d = prepare([first], { maxInFlight: 1 });
    const events = [1, 2, 3, 4].map(() => testEvent({ account: 'A' }));
    await outbox.append(events);
    d.start();
    await settle();
    gate.releaseOne();
    await settle();
    expect(first.calls).toHaveLength(2);

    const stopped = d.stop();
    gate.releaseOne();
    await settle();
    await stopped;
    expect(first.delivered.map((e) => e.id)).toEqual(events.slice(0, 2).map((e) => e.id));

    const second = new ScriptedOutput('out');
    dispatcher = newDispatcher(outbox, [second]);
    dispatcher.start();
    await settle();
    expect(second.calls.map((e) => e.id)).toEqual(events.slice(2).map((e) => e.id));
  });

  it('gives up waiting on stop after the timeout and leaves the entry pending for the next run', async () => {
    const stuck = new ScriptedOutput('out', () => new Promise<DeliveryResult>(() => {}));
    const d = prepare([stuck], { stopTimeoutMs: 1_000 });
    await outbox.append([testEvent()]);
    d.start();
    await settle();

    let stopped = false;
    const stopping = d.stop().then(() => {
      stopped = true;
    });
    await settle(999);
    expect(stopped).toBe(false);
    await settle(1);
    await stopping;
    expect(stopped).toBe(true);
    expect(outbox.backlog('out')).toBe(1);
  });
});

describe('Dispatcher with the stdout output', () => {
  it('writes each event as one JSON line, and treats a failed write as retryable', async () => {
    const lines = new PassThrough();
    const written: string[] = [];
    lines.setEncoding('utf8').on('data', (chunk: string) => written.push(chunk));
    const output = new StdoutOutput({ name: 'console', stream: lines });
    const outbox = new MemoryOutbox();
    outbox.registerOutputs(['console']);
    const dispatcher = newDispatcher(outbox, [output]);
    const events = [testEvent({ account: 'A' }), testEvent({ account: 'B', category: 'duress' })];
    await outbox.append(events);
    dispatcher.start();
    await vi.waitFor(() => expect(outbox.backlog('console')).toBe(0));
    await dispatcher.stop();

    const parsed = written.join('').trimEnd().split('\n').map((line) => JSON.parse(line) as NormalizedEvent);
    expect(parsed.map((e) => e.id).sort()).toEqual(events.map((e) => e.id).sort());

    lines.destroy();
    expect(await output.deliver(testEvent())).toMatchObject({ ok: false, retryable: true });
    expect(output.health().state).toBe('degraded');
  });
});

describe('backoffDelay', () => {
  const policy = { initialMs: 500, maxMs: 60_000, factor: 2, jitter: 0.2 };

  it('doubles from the initial delay and stops at the maximum', () => {
    expect([1, 2, 3, 4, 8, 20].map((attempt) => backoffDelay(policy, attempt, noJitter))).toEqual([
      500, 1_000, 2_000, 4_000, 60_000, 60_000,
    ]);
  });

  it('spreads the delay by the jitter fraction either way', () => {
    expect(backoffDelay(policy, 2, () => 0)).toBe(800);
    expect(backoffDelay(policy, 2, () => 0.999_999)).toBe(1_200);
  });
});
