import type { Writable } from 'node:stream';
import type { NormalizedEvent } from '../../src/model/event.js';
import { eventJson } from '../../src/model/event-json.js';
import type { AdapterHealth, Audience, DeliveryResult, OutputAdapter } from '../../src/ports.js';
import { terminalText } from '../system/terminal-text.js';

export interface StdoutOutputOptions {
  name: string;
  audience?: Audience;
  /** Where the lines go; process.stdout by default. */
  stream?: Writable;
}

/** One JSON event per line (JSON Lines), for piping into jq, a log shipper or a test, or for a terminal. */
export class StdoutOutput implements OutputAdapter<NormalizedEvent> {
  readonly kind = 'stdout';
  readonly name: string;
  readonly audience: Audience;
  private readonly stream: Writable;
  private lastError: string | undefined;

  constructor(options: StdoutOutputOptions) {
    this.name = options.name;
    this.audience = options.audience ?? 'central';
    this.stream = options.stream ?? process.stdout;
    // A pipe whose reader went away (EPIPE) also emits 'error': unheard, it would end the gateway. The write's own
    // callback fails the delivery; this keeps it an output fault, shown in health, as any output's.
    this.stream.on('error', (error) => {
      this.lastError = error.message;
    });
  }

  async start(): Promise<void> {}

  /** Resolves when the stream has taken the line, so a slow reader holds the dispatcher back (backpressure). */
  deliver(event: NormalizedEvent): Promise<DeliveryResult> {
    return new Promise((resolve) => {
      // A terminal's controls in a panel's text become JSON's own escapes: the same values, and a terminal shows them.
      this.stream.write(`${terminalText(eventJson(event))}\n`, (error) => {
        this.lastError = error?.message;
        resolve(error ? { ok: false, retryable: true, error: error.message } : { ok: true });
      });
    });
  }

  async stop(): Promise<void> {}

  health(): AdapterHealth {
    return this.lastError === undefined ? { state: 'up' } : { state: 'degraded', detail: this.lastError };
  }
}
