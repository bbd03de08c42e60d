import { Command } from 'commander';
import type { LevelWithSilent } from 'pino';
import { EXIT_CONFIG, loadConfigFile, printIssues, settingsOrExit, unusableFiles } from '../config.js';
import { systemClock } from '../../../src/ports.js';

/**
 * `panelbridge run`: the daemon. A start-up it cannot complete ends with one log line and one stderr line naming
 * the problem and its fix, and a sysexits status: 78 configuration (systemd does not restart on it), 70 a native
 * module that does not load (the installation), 73 dataDir or the --capture file cannot be created, 75 try again later (a port in use, a listener address not up yet, dataDir locked
 * by another gateway), 69 anything else.
 */
export function runCommand(): Command {
  return new Command('run')
    .description('run the gateway')
    .requiredOption('-c, --config <file>', 'configuration file (YAML or JSON)')
    .option('--capture <file>', 'append every raw frame received to this JSONL capture file')
    .action(async (options: { config: string; capture?: string }) => {
      // systemd (Type=exec) accepts `systemctl reload` as soon as the binary runs: a SIGHUP during start-up must not
      // meet Node's default action (exit). It is kept and reloads once the gateway is ready, because the file may
      // have changed after it was read below.
      let reloadRequested = false;
      let reloadSites = (): void => {
        reloadRequested = true;
      };
      process.on('SIGHUP', () => reloadSites());
      const settings = settingsOrExit(options.config);
      if (settings === undefined) return;
      // Imported when the gateway runs, not with every command's definition.
      const [{ createRootLogger }, { Gateway }, files, { startupFailure }, { reduceMemoryAfterStartup }, { CaptureFile }, { unloadableNativeModule }] = await Promise.all([
        import('../../system/logger.js'),
        import('../gateway.js'),
        import('../../system/files.js'),
        import('../startup.js'),
        import('../../system/memory.js'),
        import('../capture-file.js'),
        import('../../system/native-modules.js'),
      ]);
      // Events on stdout must stay a clean JSON-lines stream: logs move to stderr then.
      const eventsOnStdout = settings.outputs.some((o) => o.type === 'stdout');
      const logger = createRootLogger({
        level: settings.logLevel as LevelWithSilent,
        ...(settings.gateway?.id === undefined ? {} : { gateway: settings.gateway.id }),
        ...(eventsOnStdout ? { destination: process.stderr, pretty: process.stderr.isTTY === true } : {}),
      });
      const fail = (exitCode: number, message: string): never => {
        logger.error({ exitCode }, message);
        logger.flush();
        process.stderr.write(`panelbridge: ${message}\n`);
        process.exit(exitCode);
      };

      const badFiles = unusableFiles(settings);
      if (badFiles.length > 0) fail(EXIT_CONFIG, badFiles.map((issue) => `${issue.path}: ${issue.message}`).join('; '));
      files.restrictFileModes();
      let started: Awaited<ReturnType<typeof Gateway.start>>;
      let lock: ReturnType<typeof files.prepareDataDir>;
      let capture: ReturnType<typeof CaptureFile.open> | undefined;
      try {
        // First: a module npm did not build would otherwise fail in dataDir's lock and be blamed on its permissions.
        const brokenModule = await unloadableNativeModule(settings);
        if (brokenModule !== undefined) throw brokenModule;
        lock = files.prepareDataDir(settings.dataDir);
        capture = options.capture === undefined ? undefined : CaptureFile.open(options.capture);
        started = await Gateway.start({ settings, logger, clock: systemClock, ...(capture === undefined ? {} : { capture }) });
      } catch (error) {
        const failure = startupFailure(error);
        return fail(failure.exitCode, failure.message);
      }
      if ('issues' in started) {
        printIssues(started.issues, (line) => process.stderr.write(line + '\n'));
        process.exit(EXIT_CONFIG);
      }
      const { gateway } = started;

      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal, stopTimeoutMs: settings.stopTimeout }, 'stopping');
        // Whatever an output or input is waiting for, the process ends within stopTimeout: every ACKed event is
        // already in the outbox, and what was not delivered yet is delivered after the restart.
        setTimeout(() => {
          logger.warn({ stopTimeoutMs: settings.stopTimeout }, 'stop did not finish within stopTimeout; exiting now (undelivered events stay in the outbox)');
          logger.flush();
          process.exit(0);
        }, settings.stopTimeout).unref();
        await gateway.stop();
        capture?.close();
        lock.release();
        logger.info({}, 'stopped');
        logger.flush();
        process.exit(0);
      };
      process.on('SIGTERM', () => void stop('SIGTERM'));
      process.on('SIGINT', () => void stop('SIGINT'));
      reloadSites = () => {
        const reloaded = loadConfigFile(options.config);
        if (!reloaded.ok) {
          logger.error({ issues: reloaded.issues }, 'reload refused: configuration invalid');
          return;
        }
        gateway.reloadSites(reloaded.settings.sites);
      };
      // Only with the handlers above in place: a supervisor that stops the gateway as soon as it reads this line
      // must get a graceful stop, not the signal's default action.
      logger.info({ gateway: gateway.id, version: gateway.version, inputs: settings.inputs.length, outputs: settings.outputs.length }, 'gateway ready');
      if (reloadRequested) {
        logger.info({}, 'reload requested during start-up: reloading now');
        reloadSites();
      }
      reduceMemoryAfterStartup();
    });
}
