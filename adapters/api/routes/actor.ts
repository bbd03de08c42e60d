import { notStoredMessage, type ControlStored } from '../../../src/assurance/assurance.js';
import type { Actor } from '../../../src/assurance/audit-chain.js';
import { ApiError, type ApiRequest } from '../server.js';

/** The person behind a request, as control actions name them: the token's name and role. */
export function actorOf(req: ApiRequest): Actor {
  // Routes that act are never public, so the server has identified the caller.
  const { name, role } = req.identity!;
  return { name, role, channel: 'api' };
}

/**
 * `answer`, once the control action's event for central is stored (its group commit): answered before, a crash in
 * between would tell the operator "done" while central never hears of it. The action itself has happened and is in
 * the audit log (`done` says what it was), so an outbox that refused the event is answered 503 saying so: the gateway
 * stores the event again at each check, and the action need not be repeated (a retry is answered with what stands).
 * The 503 carries the answer the action would have had (`result`: the window, the incident), so a client can show it.
 */
export async function answerOnceStored<T extends { body?: unknown }>(stored: ControlStored, done: string, answer: T): Promise<T> {
  const outcome = await stored;
  if (outcome.ok) return answer;
  throw new ApiError('CONTROL_NOT_STORED', notStoredMessage(done, outcome.error), answer.body);
}

export function flag(req: ApiRequest, name: string): boolean {
  const value = req.query.get(name);
  return value === '1' || value === 'true';
}
