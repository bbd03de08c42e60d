/** Exponential backoff with jitter: the one retry schedule for outputs (dispatcher) and inputs (serial reopen). */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** Fraction of the delay added or removed at random (0.2 → ±20 %), so peers that failed together do not retry together. */
  jitter: number;
}

/** Delay before retry number `attempt` (1-based): initial × factor^(attempt−1), capped, then jittered. */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number): number {
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** (attempt - 1));
  return Math.round(base * (1 + policy.jitter * (2 * random() - 1)));
}
