import { Command, Argument } from 'commander';
import { z } from 'zod';
import { eventJsonSchema } from '../../../src/model/event.js';
import { settingsSchema } from '../../../src/settings/settings.js';

/** `panelbridge schema event|config`: the JSON Schemas published in config/ (for editors and downstream systems). */
export function schemaCommand(): Command {
  return new Command('schema')
    .description('print the JSON Schema of the normalized event or of the configuration file')
    .addArgument(new Argument('<which>', 'which schema').choices(['event', 'config']))
    .action((which: 'event' | 'config') => {
      const schema = which === 'event' ? eventJsonSchema() : configJsonSchema();
      process.stdout.write(JSON.stringify(schema, null, 2) + '\n');
    });
}

export function configJsonSchema(): unknown {
  return z.toJSONSchema(settingsSchema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' });
}
