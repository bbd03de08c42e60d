import { Command } from 'commander';
import type { LevelWithSilent } from 'pino';
import { EXIT_CONFIG, loadConfigFile, printIssues } from '../config.js';
import { systemClock } from '../../../src/ports.js';

/** `panelbridge run`: the daemon. Exit 78 on a bad configuration (systemd does not restart on it). */
export function runCommand(): Command {
  return new Command('run')
    .description('run the gateway')
    .requiredOption('-c, --config <file>', 'configuration file (YAML or JSON)')
    .option('--capture <file>', 'append every raw frame received to this JSONL capture file')
    .action(async (options: { config: string; capture?: string }) => {
      const loaded = loadConfigFile(options.config);
      if (!loaded.ok) {
        printIssues(loaded.issues, (line) => process.stderr.write(line + '\n'));
        process.exitCode = EXIT_CONFIG;
        return;
      }
      const { settings } = loaded;
      // Imported when the gateway runs, not with every command's definition.
      const [{ createRootLogger }, { Gateway }] = await Promise.all([import('../../system/logger.js'), import('../gateway.js')]);
      // Events on stdout must stay a clean JSON-lines stream: logs move to stderr then.
      const eventsOnStdout = settings.outputs.some((o) => o.type === 'stdout');
      const logger = createRootLogger({
        level: settings.logLevel as LevelWithSilent,
        ...(settings.gateway?.id === undefined ? {} : { gateway: settings.gateway.id }),
        ...(eventsOnStdout ? { destination: process.stderr, pretty: false } : {}),
      });
      const started = await Gateway.start({ settings, logger, clock: systemClock, ...(options.capture === undefined ? {} : { captureFile: options.capture }) });
      if ('issues' in started) {
        printIssues(started.issues, (line) => process.stderr.write(line + '\n'));
        process.exit(EXIT_CONFIG);
      }
      const { gateway } = started;
      logger.info({ gateway: gateway.id, version: gateway.version, inputs: settings.inputs.length, outputs: settings.outputs.length }, 'gateway ready');

      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'stopping');
        await gateway.stop();
        logger.info({}, 'stopped');
        logger.flush();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
      process.on('SIGHUP', () => {
        const reloaded = loadConfigFile(options.config);
        if (!reloaded.ok) {
          logger.error({ issues: reloaded.issues }, 'reload refused: configuration invalid');
          return;
        }
        gateway.reloadSites(reloaded.settings.sites);
      });
    });
}
