import { z } from 'zod';
import type { AcknowledgeOutcome, Assurance } from '../../../src/assurance/assurance.js';
import { ApiError, parseBody, type ApiServer } from '../server.js';
import { actorOf, answerOnceStored, flag } from './actor.js';
import { incidentView, incidentViews } from '../assurance-views.js';

/** `by` is accepted for older clients and ignored: the acknowledgement is recorded under the token's name. */
const ackBody = z
  .object({
    note: z.string({ error: 'note must be text' }).max(2_000).nullable().optional(),
    by: z.string({ error: 'by must be text' }).max(200).optional(),
  })
  .strict();

/** What a 503 CONTROL_NOT_STORED says was done. */
export function incidentAcknowledgedAction(id: string): string {
  return `incident ${id} was acknowledged`;
}

/** Why an acknowledgement is refused, alike on every channel (the API, the console, MQTT). */
export function acknowledgementRefused(id: string, outcome: Extract<AcknowledgeOutcome, { ok: false }>): ApiError {
  return outcome.reason === 'unknown'
    ? new ApiError('INCIDENT_NOT_FOUND', `no incident ${id}`)
    : new ApiError('ALREADY_ACKNOWLEDGED', `incident ${id} was already acknowledged by ${outcome.incident?.ackedBy ?? 'someone'}`);
}

/** Incidents: listing for every role; acknowledging (closing the duress latch) for operators and admins. */
export function registerIncidentRoutes(api: ApiServer, assurance: Assurance): void {
  api.route('GET', '/incidents', 'read', (req) => ({ status: 200, body: { incidents: incidentViews(assurance, flag(req, 'all')) } }));
  api.route('POST', '/incidents/{id}/ack', 'acknowledge', (req) => {
    const { note } = parseBody(ackBody, req);
    const id = req.params.id ?? '';
    const outcome = assurance.acknowledge(id, actorOf(req), note ?? null);
    if (!outcome.ok) throw acknowledgementRefused(id, outcome);
    return answerOnceStored(outcome.stored, incidentAcknowledgedAction(id), { status: 200, body: { incident: incidentView(outcome.incident) } });
  });
}
