import { Command } from 'commander';
import { EXIT_USAGE } from './config.js';
import { decodeCommand } from './commands/decode.js';
import { checkCommand } from './commands/check.js';
import { schemaCommand } from './commands/schema.js';
import { runCommand } from './commands/run.js';
import { replayCommand } from './commands/replay.js';
import { EXIT_SIMULATE_FAILED, simulateCommand } from './commands/simulate.js';
import { testCommand } from './commands/test.js';
import { devicesCommand } from './commands/devices.js';
import { incidentsCommand } from './commands/incidents.js';
import { deadLettersCommand } from './commands/dead-letters.js';
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
program.addCommand(deadLettersCommand());
program.addCommand(tokenCommand());
program.addCommand(auditCommand());
program.addCommand(reportCommand());

/**
 * Verbs that document their own status for "could not run", used for usage errors too: simulate keeps 1 for "a frame
 * was not ACKed".
 */
const USAGE_STATUS_OF_VERB: Readonly<Record<string, number>> = { simulate: EXIT_SIMULATE_FAILED };

/**
 * A command line commander cannot parse (a missing or unknown option, a bad value, no verb) exits `status`, not
 * commander's 1, which is a documented result (check: warnings only; replay: the events differ from --expect).
 * Commander reports its parse errors with exit code 1 and a `commander.` code; help, version and the errors a verb
 * raises itself keep their status. Subcommands added with addCommand do not inherit the override: each gets it.
 */
function exitOnUsageErrorWith(command: Command, status: number): void {
  command.exitOverride((error) => process.exit(error.exitCode === 1 && error.code.startsWith('commander.') ? status : error.exitCode));
  for (const subcommand of command.commands) exitOnUsageErrorWith(subcommand, USAGE_STATUS_OF_VERB[subcommand.name()] ?? status);
}
exitOnUsageErrorWith(program, EXIT_USAGE);

/**
 * A reader that went away (`panelbridge audit show | head`) ends a printing command quietly with 141, the status a
 * shell gives a program SIGPIPE ended: not 0 or 1, which are results here. `run` is left out: its stdout output
 * treats a closed pipe as a failed delivery, and the gateway goes on.
 */
const EXIT_BROKEN_PIPE = 141;
if (process.argv[2] !== 'run') {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(EXIT_BROKEN_PIPE);
  });
}

await program.parseAsync(process.argv);
