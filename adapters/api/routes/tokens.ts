import { z } from 'zod';
import { API_ROLES, tokenNameSchema } from '../../../src/settings/settings.js';
import { parseBody, type ApiServer } from '../server.js';
import type { TokenRegistry } from '../tokens.js';
import { actorOf, answerOnceStored } from './actor.js';

const createTokenBody = z
  .object({
    name: tokenNameSchema,
    role: z.enum(API_ROLES),
  })
  .strict();

/**
 * `POST /tokens {name, role}` (admin): a new token, shown once, stored hashed in dataDir and chained in the audit log;
 * answered once its event for central is in the outbox.
 */
export function registerTokenRoutes(api: ApiServer, tokens: TokenRegistry): void {
  api.route('POST', '/tokens', 'admin', (req) => {
    const { name, role } = parseBody(createTokenBody, req);
    const { token, stored } = tokens.create({ name, role }, actorOf(req));
    return answerOnceStored(stored, `API token ${JSON.stringify(name)} (${role}) was created`, { status: 201, body: { name, role, token } });
  });
}
