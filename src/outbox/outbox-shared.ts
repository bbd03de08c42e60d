import { GatewayError } from '../errors.js';
import type { NormalizedEvent } from '../model/event.js';
import { eventJson } from '../model/event-json.js';
import type { AppendListener, DeadLetter, OutboxEntry } from './outbox.js';
import { PendingIndex } from './pending-index.js';

/** A DC-09 panel retransmits within seconds to minutes; ten minutes covers its whole retry schedule. */
export const DEFAULT_DEDUPE_WINDOW_MS = 10 * 60_000;

/**
 * Keyed appends remembered for dedupe, at most: ten minutes of 160 frames/s. Past it the oldest are forgotten
 * early, so under a sustained flood (or a replay at full speed) a very late retransmit may be stored a second
 * time: a duplicate, never a loss, and memory stays bounded.
 */
export const DEDUPE_CAPACITY = 100_000;

export function outboxWriteFailed(message: string, cause?: unknown): GatewayError {
  return new GatewayError('OUTBOX_WRITE_FAILED', message, { cause });
}

/** Serialises up front, so an unserialisable event rejects its own append instead of failing a whole batch. */
export function serializeEvents(events: readonly NormalizedEvent[]): string[] {
  try {
    return events.map(eventJson);
  } catch (cause) {
    throw outboxWriteFailed('event is not serialisable', cause);
  }
}

/** Dead letters are listed by seq, then output, in every implementation. */
export function compareDeadLetters(a: DeadLetter, b: DeadLetter): number {
  if (a.seq !== b.seq) return a.seq - b.seq;
  return a.output < b.output ? -1 : a.output > b.output ? 1 : 0;
}

/** onAppend subscribers. A throwing listener is a bug elsewhere: it surfaces as an uncaught error, never as a failed append. */
export class AppendListeners {
  private readonly listeners = new Set<AppendListener>();

  add(listener: AppendListener): () => void {
    // A fresh wrapper per subscription: the same function subscribed twice unsubscribes independently.
    const subscription: AppendListener = (entries, output) => listener(entries, output);
    this.listeners.add(subscription);
    return () => {
      this.listeners.delete(subscription);
    };
  }

  notify(entries: readonly OutboxEntry[], output?: string): void {
    for (const listener of this.listeners) {
      try {
        listener(entries, output);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/**
 * What every Outbox answers from memory: the pending entries' order and backlog figures from its PendingIndex, and
 * the onAppend subscribers. Implementations own storage (reading an entry back), dedupe and dead letters.
 */
export abstract class IndexedOutbox {
  protected readonly index = new PendingIndex();
  protected readonly listeners = new AppendListeners();

  pending(output: string, limit: number, exclude?: ReadonlySet<number>, skipAccounts?: ReadonlySet<string>, duressFirst = true): OutboxEntry[] {
    return this.entriesOf(this.index.select(output, limit, exclude, skipAccounts, duressFirst));
  }

  pendingDuress(output: string, limit: number): OutboxEntry[] {
    return this.entriesOf(this.index.duress(output, limit));
  }

  backlog(output: string): number {
    return this.index.backlog(output);
  }

  maxBacklog(): number {
    return this.index.maxBacklog();
  }

  oldestPending(output: string, limit: number, exclude?: ReadonlySet<number>): number[] {
    return this.index.oldest(output, limit, exclude);
  }

  pendingEntries(seqs: readonly number[]): OutboxEntry[] {
    return this.entriesOf(seqs);
  }

  oldestPendingAt(output: string): number | null {
    return this.index.oldestPendingAt(output);
  }

  onAppend(listener: AppendListener): () => void {
    return this.listeners.add(listener);
  }

  /** The stored entries of pending seqs, in the order given. */
  protected abstract entriesOf(seqs: readonly number[]): OutboxEntry[];
}
