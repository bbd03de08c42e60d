#!/usr/bin/env node
import { Command } from 'commander';
import { decodeCommand } from './commands/decode.js';
import { checkCommand } from './commands/check.js';
import { schemaCommand } from './commands/schema.js';
import { runCommand } from './commands/run.js';
import { replayCommand } from './commands/replay.js';
import { simulateCommand } from './commands/simulate.js';
import { testCommand } from './commands/test.js';
import { devicesCommand } from './commands/devices.js';
import { incidentsCommand } from './commands/incidents.js';
import { tokenCommand } from './commands/token.js';
import { auditCommand } from './commands/audit.js';
import { reportCommand } from './commands/report.js';
import { packageVersion } from './version.js';

// Each command module holds only its definition (so `--help` is complete); its action imports what it runs
// (the gateway, the ledger, the simulator …) when invoked, so no command pays for the others' modules.
const program = new Command('panelbridge')
  .description('Alarm and access-control panel gateway with duress identification')
  .version(packageVersion());

program.addCommand(runCommand());
program.addCommand(replayCommand());
program.addCommand(decodeCommand());
program.addCommand(checkCommand());
program.addCommand(schemaCommand());
program.addCommand(simulateCommand());
program.addCommand(testCommand());
program.addCommand(devicesCommand());
program.addCommand(incidentsCommand());
program.addCommand(tokenCommand());
program.addCommand(auditCommand());
program.addCommand(reportCommand());

await program.parseAsync(process.argv);
