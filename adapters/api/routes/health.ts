import type { DeadLetter, DeadLetterPage } from '../../../src/outbox/outbox.js';
import { ApiError, type ApiServer } from '../server.js';
import { checkOutputNamed } from './dead-letters.js';

type Part = { name: string; state: string };

/** What /healthz tells a caller without a token: nothing a duress can change (security.md rule 3, the host). */
export interface PublicHealth {
  status: 'ok' | 'degraded';
  inputs: Part[];
  outputs: Part[];
}

export interface HealthSource {
  /** `status` and `body` weigh everything, the assurance included. */
  health(): { status: 'ok' | 'degraded'; body: Record<string, unknown> };
  /** The part a caller without a token sees, from memory alone (anybody may ask it, as often as they like). */
  publicHealth(): PublicHealth;
}

export interface MetricsSource {
  render(): Promise<string>;
  readonly contentType: string;
}

/**
 * The events whose dead letters one `GET /dead-letters` answer holds: a webhook refusing for weeks leaves hundreds of
 * thousands, and reading them all at once held the event loop for seconds (200,000: 5.5 s and 128 MB of JSON).
 */
export const DEAD_LETTERS_PAGE = 1_000;

/**
 * `GET /healthz` (the one route without a token: the links' status and states, nothing else; with a token,
 * everything), `GET /metrics` and `GET /dead-letters` (viewer). Undelivered duress, incidents, backlogs and a
 * central output's failed deliveries are behind a token: they tell whoever asks that a duress happened.
 */
export function registerHealthRoutes(
  api: ApiServer,
  deps: {
    gateway: HealthSource;
    metrics: MetricsSource;
    deadLetters(output: string | undefined, page: DeadLetterPage): DeadLetter[];
    deadLetterCount(output: string | undefined): number;
    /** The configured outputs' names. */
    outputs: readonly string[];
  },
): void {
  api.route('GET', '/healthz', 'public', (req) => {
    const codeOf = (s: 'ok' | 'degraded') => (s === 'ok' ? 200 : 503);
    if (req.identity === undefined) {
      const shown = deps.gateway.publicHealth();
      return { status: codeOf(shown.status), body: shown };
    }
    const health = deps.gateway.health();
    return { status: codeOf(health.status), body: health.body };
  });
  // Events an output refused for good are kept, not dropped: this is where an operator finds them.
  // A page at a time, oldest first: `next` is the `after` that asks for the following page (null: none follows).
  api.route('GET', '/dead-letters', 'read', (req) => {
    const output = req.query.get('output') ?? undefined;
    const afterText = req.query.get('after');
    const after = afterText === null ? undefined : Number(afterText);
    if (after !== undefined && !Number.isSafeInteger(after)) throw new ApiError('BAD_REQUEST', 'after must be the seq a page answered as next');
    // One event more than a page tells whether another page follows.
    const total = deps.deadLetterCount(output);
    // A misspelt name must not read as "no dead letters"; one no longer configured still lists those it left.
    if (output !== undefined && total === 0) checkOutputNamed(deps.outputs, output);
    const letters = deps.deadLetters(output, { limit: DEAD_LETTERS_PAGE + 1, ...(after === undefined ? {} : { after }) });
    const seqs = [...new Set(letters.map((letter) => letter.seq))];
    const next = seqs.length > DEAD_LETTERS_PAGE ? seqs[DEAD_LETTERS_PAGE - 1]! : null;
    const deadLetters = next === null ? letters : letters.filter((letter) => letter.seq <= next);
    return { status: 200, body: { deadLetters, total, next } };
  });
  api.route('GET', '/metrics', 'read', async () => ({ status: 200, text: await deps.metrics.render(), contentType: deps.metrics.contentType }));
}
