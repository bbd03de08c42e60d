import { Command } from 'commander';
import type { DevicesOptions } from './devices-action.js';

/** `panelbridge devices`: the duress device test ledger, as a table or as JSON. */
export function devicesCommand(): Command {
  return new Command('devices')
    .description('list the duress devices with when each was last tested or used, and which are overdue')
    .requiredOption('-c, --config <file>', 'configuration file (YAML or JSON): its sites and dataDir')
    .option('--json', 'print JSON ({devices, panels}) instead of a table')
    .option('--site <id>', 'only this site')
    .option('--overdue', 'only devices overdue for their test')
    .option('--never-tested', 'only devices never tested (with --overdue: either)')
    .action(async (options: DevicesOptions) => {
      // Imported when the command runs, not with every command's definition: it opens the SQLite ledger.
      const { listDevices } = await import('./devices-action.js');
      listDevices(options);
    });
}
