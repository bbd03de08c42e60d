import type { Actor } from '../../../src/assurance/audit-chain.js';
import type { ApiRequest } from '../server.js';

/** The person behind a request, as control actions name them: the token's name and role. */
export function actorOf(req: ApiRequest): Actor {
  // Routes that act are never public, so the server has identified the caller.
  const { name, role } = req.identity!;
  return { name, role, channel: 'api' };
}

export function flag(req: ApiRequest, name: string): boolean {
  const value = req.query.get(name);
  return value === '1' || value === 'true';
}
