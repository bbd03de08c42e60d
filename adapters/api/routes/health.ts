import type { ApiServer } from '../server.js';

type Part = { name: string; state: string };

/** What /healthz tells a caller without a token: nothing a duress can change (security.md rule 3, the host). */
export interface PublicHealth {
  status: 'ok' | 'degraded';
  inputs: Part[];
  outputs: Part[];
}

export interface HealthSource {
  /** `status` and `body` weigh everything, the assurance included; `public` is the part a caller without a token sees. */
  health(): { status: 'ok' | 'degraded'; body: Record<string, unknown>; public: PublicHealth };
}

export interface MetricsSource {
  render(): Promise<string>;
  readonly contentType: string;
}

/**
 * `GET /healthz` (the one route without a token: the links' status and states, nothing else; with a token,
 * everything), `GET /metrics` and `GET /dead-letters` (viewer). Undelivered duress, incidents, backlogs and a
 * central output's failed deliveries are behind a token: they tell whoever asks that a duress happened.
 */
export function registerHealthRoutes(
  api: ApiServer,
  deps: { gateway: HealthSource; metrics: MetricsSource; deadLetters(output: string | undefined): unknown[] },
): void {
  api.route('GET', '/healthz', 'public', (req) => {
    const health = deps.gateway.health();
    const codeOf = (s: 'ok' | 'degraded') => (s === 'ok' ? 200 : 503);
    if (req.identity !== undefined) return { status: codeOf(health.status), body: health.body };
    return { status: codeOf(health.public.status), body: health.public };
  });
  // Events an output refused for good are kept, not dropped: this is where an operator finds them.
  api.route('GET', '/dead-letters', 'read', (req) => ({ status: 200, body: { deadLetters: deps.deadLetters(req.query.get('output') ?? undefined) } }));
  api.route('GET', '/metrics', 'read', async () => ({ status: 200, text: await deps.metrics.render(), contentType: deps.metrics.contentType }));
}
