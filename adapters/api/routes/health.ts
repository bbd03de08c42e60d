import type { ApiServer } from '../server.js';

type Part = { name: string; state: string };

export interface HealthSource {
  /**
   * `status` weighs everything, the assurance included; `linkStatus` only the inputs and outputs. A duress missing
   * its delivery deadline turns the first degraded while every link is up, so only the second may be told to a
   * caller without a token.
   */
  health(): { status: 'ok' | 'degraded'; linkStatus: 'ok' | 'degraded'; body: Record<string, unknown> & { inputs: Part[]; outputs: Part[] } };
}

export interface MetricsSource {
  render(): Promise<string>;
  readonly contentType: string;
}

/**
 * `GET /healthz` (the one route without a token: the links' status, and each input's and output's state, nothing
 * else; with a token, everything), `GET /metrics` and `GET /dead-letters` (viewer). Undelivered duress, incidents
 * and backlogs are behind a token: they tell whoever asks that a duress happened (security.md rule 3, the host).
 */
export function registerHealthRoutes(
  api: ApiServer,
  deps: { gateway: HealthSource; metrics: MetricsSource; deadLetters(output: string | undefined): unknown[] },
): void {
  api.route('GET', '/healthz', 'public', (req) => {
    const { status, linkStatus, body } = deps.gateway.health();
    const codeOf = (s: 'ok' | 'degraded') => (s === 'ok' ? 200 : 503);
    if (req.identity !== undefined) return { status: codeOf(status), body };
    const states = (parts: Part[]) => parts.map(({ name, state }) => ({ name, state }));
    return { status: codeOf(linkStatus), body: { status: linkStatus, inputs: states(body.inputs), outputs: states(body.outputs) } };
  });
  // Events an output refused for good are kept, not dropped: this is where an operator finds them.
  api.route('GET', '/dead-letters', 'read', (req) => ({ status: 200, body: { deadLetters: deps.deadLetters(req.query.get('output') ?? undefined) } }));
  api.route('GET', '/metrics', 'read', async () => ({ status: 200, text: await deps.metrics.render(), contentType: deps.metrics.contentType }));
}
