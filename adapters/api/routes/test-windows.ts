import { z } from 'zod';
import type { Assurance } from '../../../src/assurance/assurance.js';
import { ApiError, parseBody, type ApiServer } from '../server.js';
import { actorOf, flag } from './actor.js';
import { windowView, windowViews } from '../assurance-views.js';

const note = z.string().max(2_000).nullable().optional();

const openWindowBody = z
  .object({
    site: z.string({ error: 'site must be a site id' }).min(1),
    minutes: z.number({ error: 'minutes must be a number' }),
    devices: z.array(z.string(), { error: 'devices must be a list of device names such as "zone-5", "user-12", "door-lobby"' }).optional(),
    note,
  })
  .strict();

const closeWindowBody = z.object({ note }).strict();

/** Test windows: listing is for every role; opening and closing for installers (and admins). */
export function registerTestWindowRoutes(api: ApiServer, assurance: Assurance): void {
  api.route('POST', '/test-windows', 'test-windows', (req) => {
    const { site, minutes, devices, note } = parseBody(openWindowBody, req);
    const result = assurance.startWindow({ site, minutes, ...(devices === undefined ? {} : { devices }) }, actorOf(req), note ?? null);
    if (!result.ok) throw new ApiError(result.reason === 'unknown-site' ? 'SITE_NOT_FOUND' : 'BAD_REQUEST', result.message);
    return { status: 201, body: windowView(assurance, result.window) };
  });
  api.route('GET', '/test-windows', 'read', (req) => ({ status: 200, body: { windows: windowViews(assurance, flag(req, 'all')) } }));
  api.route('DELETE', '/test-windows/{id}', 'test-windows', (req) => {
    const { note } = parseBody(closeWindowBody, req);
    const closed = assurance.stopWindow(req.params.id ?? '', actorOf(req), note ?? null);
    if (closed === undefined) throw new ApiError('WINDOW_NOT_FOUND', `no open test window ${req.params.id}`);
    return { status: 200, body: windowView(assurance, closed) };
  });
}
