import type { ApiServer } from '../server.js';

type Part = { name: string; state: string };

export interface HealthSource {
  health(): { status: 'ok' | 'degraded'; body: Record<string, unknown> & { inputs: Part[]; outputs: Part[] } };
}

export interface MetricsSource {
  render(): Promise<string>;
  readonly contentType: string;
}

/**
 * `GET /healthz` (the one route without a token: its status, and each input's and output's state, nothing else;
 * with a token, everything), `GET /metrics` and `GET /dead-letters` (viewer). Undelivered duress, incidents and
 * backlogs are behind a token: they tell whoever asks that a duress happened.
 */
export function registerHealthRoutes(
  api: ApiServer,
  deps: { gateway: HealthSource; metrics: MetricsSource; deadLetters(output: string | undefined): unknown[] },
): void {
  api.route('GET', '/healthz', 'public', (req) => {
    const { status, body } = deps.gateway.health();
    const code = status === 'ok' ? 200 : 503;
    if (req.identity !== undefined) return { status: code, body };
    const states = (parts: Part[]) => parts.map(({ name, state }) => ({ name, state }));
    return { status: code, body: { status, inputs: states(body.inputs), outputs: states(body.outputs) } };
  });
  // Events an output refused for good are kept, not dropped: this is where an operator finds them.
  api.route('GET', '/dead-letters', 'read', (req) => ({ status: 200, body: { deadLetters: deps.deadLetters(req.query.get('output') ?? undefined) } }));
  api.route('GET', '/metrics', 'read', async () => ({ status: 200, text: await deps.metrics.render(), contentType: deps.metrics.contentType }));
}
