#!/usr/bin/env node
import { Command } from 'commander';
import { decodeCommand } from './commands/decode.js';
import { checkCommand } from './commands/check.js';
import { schemaCommand } from './commands/schema.js';
import { runCommand } from './commands/run.js';
import { packageVersion } from './version.js';

const program = new Command('panelbridge')
  .description('Alarm and access-control panel gateway with duress identification')
  .version(packageVersion());

program.addCommand(runCommand());
program.addCommand(decodeCommand());
program.addCommand(checkCommand());
program.addCommand(schemaCommand());

await program.parseAsync(process.argv);
