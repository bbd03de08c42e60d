import { Command, Option } from 'commander';
import { API_ROLES, tokenNameSchema, type ApiRole } from '../../../src/settings/settings.js';

/** `panelbridge token create`: a new API token, stored hashed in the gateway's dataDir and printed once. */
export function tokenCommand(): Command {
  const token = new Command('token').description('manage API tokens');
  token.addCommand(
    new Command('create')
      .description('create an API token (printed once; the gateway keeps only its SHA-256, takes it without a restart and chains its creation in the audit log)')
      .option('-c, --config <file>', "the gateway's configuration (the token is stored in its dataDir; default ./var)")
      .addOption(new Option('--role <role>', 'viewer reads, operator acknowledges incidents, installer runs test windows, admin all').choices(API_ROLES).makeOptionMandatory())
      .requiredOption('--name <name>', 'who or what holds the token (named in every action it takes)')
      .action(async (options: { config?: string; role: ApiRole; name: string }) => {
        const name = tokenNameSchema.safeParse(options.name);
        if (!name.success) {
          process.stderr.write(`error --name: ${name.error.issues[0]?.message ?? 'invalid'}\n`);
          process.exitCode = 2;
          return;
        }
        const [{ gatewayDataDirOrExit }, { createToken }] = await Promise.all([import('../gateway-data-dir.js'), import('../../api/tokens.js')]);
        const dataDir = gatewayDataDirOrExit(options.config);
        if (dataDir === undefined) return;
        const created = createToken(dataDir, { name: options.name, role: options.role });
        process.stdout.write(created + '\n');
        process.stderr.write(`token "${options.name}" (${options.role}) created; it is shown only this once\n`);
      }),
  );
  return token;
}
