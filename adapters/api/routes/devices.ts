import type { Assurance } from '../../../src/assurance/assurance.js';
import { filterDevices } from '../../../src/assurance/ledger.js';
import type { ApiServer } from '../server.js';
import { flag } from './actor.js';

/** The duress device ledger (viewer). */
export function registerDeviceRoutes(api: ApiServer, assurance: Assurance): void {
  api.route('GET', '/devices', 'read', (req) => {
    const report = assurance.deviceReport();
    const site = req.query.get('site');
    const devices = filterDevices(report.devices, {
      ...(site === null ? {} : { site }),
      overdue: flag(req, 'overdue'),
      neverTested: flag(req, 'neverTested'),
    });
    return { status: 200, body: { devices, panels: report.panels } };
  });
}
