import type { NormalizedEvent } from '../../src/model/event.js';
import type { AdapterHealth, Audience, DeliveryResult, OutputAdapter } from '../../src/ports.js';

/**
 * An output that keeps what it delivered; `failing` makes every attempt fail (retryable), `refusing` refuses each
 * for good (a dead letter, as a webhook's 401).
 */
export class RecordingOutput implements OutputAdapter<NormalizedEvent> {
  readonly kind = 'recording';
  readonly delivered: NormalizedEvent[] = [];
  failing = false;
  refusing = false;
  constructor(
    readonly name: string,
    readonly audience: Audience,
  ) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  health(): AdapterHealth {
    return { state: 'up' };
  }
  async deliver(event: NormalizedEvent): Promise<DeliveryResult> {
    if (this.failing) return { ok: false, retryable: true, error: 'central station unreachable' };
    if (this.refusing) return { ok: false, retryable: false, error: 'HTTP 401 Unauthorized' };
    this.delivered.push(event);
    return { ok: true };
  }
}
