import { Command } from 'commander';
import type { IncidentView } from '../../api/assurance-views.js';
import { apiAction, withApiOptions, type ApiOptions } from '../api-client.js';

function describeIncident(incident: IncidentView): string {
  const where = incident.site ?? `account ${incident.account ?? '?'}`;
  const state = incident.acknowledged
    ? `acknowledged ${incident.ackedAt} by ${incident.ackedBy ?? '?'}${incident.note === null ? '' : ` (${incident.note})`}`
    : 'OPEN';
  return `${incident.id}  ${incident.category} at ${where}, opened ${incident.openedAt}, ${incident.eventCount} event(s): ${state}`;
}

/** `panelbridge incidents list|ack`: the duress latch on the running gateway, through its API. */
export function incidentsCommand(): Command {
  const incidents = new Command('incidents').description('list and acknowledge duress incidents on the running gateway');

  incidents.addCommand(
    withApiOptions(new Command('list'))
      .description('list open incidents (with --all, acknowledged ones too)')
      .option('--all', 'include acknowledged incidents')
      .action(
        apiAction(async (call, out, options: ApiOptions & { all?: boolean }) => {
          const answer = (await call('GET', `/incidents${options.all === true ? '?all=1' : ''}`)) as { incidents: IncidentView[] };
          if (options.json === true) return out(JSON.stringify(answer.incidents));
          if (answer.incidents.length === 0) return out(options.all === true ? 'no incidents' : 'no open incidents');
          for (const incident of answer.incidents) out(describeIncident(incident));
        }),
      ),
  );

  incidents.addCommand(
    withApiOptions(new Command('ack'))
      .description('acknowledge (close) an incident; recorded under your token, published to central and audited')
      .argument('<id>', 'the incident id from `incidents list`')
      .option('--note <text>', 'what was done (kept with the acknowledgement)')
      .action(
        apiAction(async (call, out, id: string, options: ApiOptions & { note?: string }) => {
          const answer = (await call('POST', `/incidents/${encodeURIComponent(id)}/ack`, options.note === undefined ? undefined : { note: options.note })) as {
            incident: IncidentView;
          };
          if (options.json === true) return out(JSON.stringify(answer.incident));
          out(describeIncident(answer.incident));
        }),
      ),
  );
  return incidents;
}
