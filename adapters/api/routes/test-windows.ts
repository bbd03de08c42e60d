import { z } from 'zod';
import type { Assurance } from '../../../src/assurance/assurance.js';
import type { WindowRecord } from '../../../src/assurance/store.js';
import { ApiError, parseBody, type ApiServer } from '../server.js';
import { actorOf, answerOnceStored, flag } from './actor.js';
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

/** What a 503 CONTROL_NOT_STORED says was done: naming the window, so the installer does not open a second one. */
export function windowOpenedAction(window: WindowRecord): string {
  return `test window ${window.id} for site ${window.site} was opened until ${new Date(window.endsAt).toISOString()}`;
}

export function windowStoppedAction(window: WindowRecord): string {
  return `test window ${window.id} for site ${window.site} was stopped`;
}

/** Test windows: listing is for every role; opening and closing for installers (and admins). */
export function registerTestWindowRoutes(api: ApiServer, assurance: Assurance): void {
  api.route('POST', '/test-windows', 'test-windows', (req) => {
    const { site, minutes, devices, note } = parseBody(openWindowBody, req);
    const result = assurance.startWindow({ site, minutes, ...(devices === undefined ? {} : { devices }) }, actorOf(req), note ?? null);
    if (!result.ok) throw new ApiError(result.reason === 'unknown-site' ? 'SITE_NOT_FOUND' : 'BAD_REQUEST', result.message);
    const { window } = result;
    // A repeat of an opening whose window is still open is answered with that window: 200, nothing created.
    return answerOnceStored(result.stored, windowOpenedAction(window), { status: result.repeated ? 200 : 201, body: windowView(assurance, window) });
  });
  api.route('GET', '/test-windows', 'read', (req) => ({ status: 200, body: { windows: windowViews(assurance, flag(req, 'all')) } }));
  api.route('DELETE', '/test-windows/{id}', 'test-windows', (req) => {
    const { note } = parseBody(closeWindowBody, req);
    const closed = assurance.stopWindow(req.params.id ?? '', actorOf(req), note ?? null);
    if (closed === undefined) throw new ApiError('WINDOW_NOT_FOUND', `no open test window ${req.params.id}`);
    return answerOnceStored(closed.stored, windowStoppedAction(closed.window), { status: 200, body: windowView(assurance, closed.window) });
  });
}
