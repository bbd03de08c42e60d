import type { Logger } from '../../src/ports.js';

/**
 * What the outputs towards a monitoring centre (dc09, automation) share: one exchange on the wire at a time, and
 * the report of their own link going down or coming back, which the gateway turns into a `supervisory` event.
 */

export interface LinkStateReport {
  qualifier: 'new' | 'restore';
  reasons: string[];
}

export type LinkStateListener = (report: LinkStateReport) => void;

/** Runs work one after the other, in call order; a failure does not stop the ones queued behind it. */
export class OneAtATime {
  private queue: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** Tells the listener; a listener that throws is logged, never allowed to break a delivery. */
export function reportLinkState(listener: LinkStateListener | undefined, logger: Logger, qualifier: LinkStateReport['qualifier'], reason: string): void {
  try {
    listener?.({ qualifier, reasons: [reason] });
  } catch (error) {
    logger.error({ err: (error as Error).message }, 'link state report failed');
  }
}
