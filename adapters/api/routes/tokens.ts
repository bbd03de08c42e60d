import { z } from 'zod';
import type { AuditEntry } from '../../../src/assurance/audit-chain.js';
import { API_ROLES, tokenNameSchema } from '../../../src/settings/settings.js';
import { parseBody, type ApiServer } from '../server.js';
import { createToken } from '../tokens.js';
import { actorOf } from './actor.js';

const createTokenBody = z
  .object({
    name: tokenNameSchema,
    role: z.enum(API_ROLES),
  })
  .strict();

/** `POST /tokens {name, role}` (admin): a new token, shown once and stored hashed in dataDir. */
export function registerTokenRoutes(api: ApiServer, deps: { dataDir: string; audit?: ((entry: AuditEntry) => void) | undefined }): void {
  api.route('POST', '/tokens', 'admin', (req) => {
    const { name, role } = parseBody(createTokenBody, req);
    const token = createToken(deps.dataDir, { name, role });
    deps.audit?.({ action: 'token-created', actor: actorOf(req), details: { name, role } });
    return { status: 201, body: { name, role, token } };
  });
}
