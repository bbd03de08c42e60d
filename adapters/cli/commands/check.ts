import { Command } from 'commander';
import { statSync } from 'node:fs';
import v8 from 'node:v8';
import { aesKeySettings, lintSettings, secretFiles, type LintFinding } from '../../../src/settings/lint.js';
import { errorText } from '../../../src/errors.js';
import { backlogLimitWithinHeap } from '../../../src/outbox/pending-index.js';
import { EXIT_CONFIG, EXIT_SOFTWARE, loadConfigFile, printIssues, unusableFiles } from '../config.js';
import { readSecret } from '../../system/secrets.js';
import { TokenRegistry } from '../../api/tokens.js';

/**
 * `panelbridge check`: validate and lint a configuration. Exit 0 clean, 1 warnings only, 78 errors; 70 when the
 * configuration has none but a native module it needs does not load (the installation, which `run` would stop on).
 */
export function checkCommand(): Command {
  return new Command('check')
    .description('validate and lint a configuration file (exit 0 clean, 1 warnings, 78 errors, 70 a native module that does not load)')
    .requiredOption('-c, --config <file>', 'configuration file (YAML or JSON)')
    .option('--errors-only', 'exit 0 when there are only warnings (still printed); for systemd ExecStartPre')
    .action(async (options: { config: string; errorsOnly?: boolean }) => {
      const out = (line: string) => process.stdout.write(line + '\n');
      const loaded = loadConfigFile(options.config);
      if (!loaded.ok) {
        printIssues(loaded.issues, out);
        process.exitCode = EXIT_CONFIG;
        return;
      }
      // Every file the configuration names must be readable and usable now: `run` would otherwise stop on it at start.
      const findings: LintFinding[] = unusableFiles(loaded.settings).map((issue) => ({ severity: 'error' as const, ...issue }));
      // Keys in files and the environment are read as `run` reads them, so lintSettings decodes them with the inline ones.
      const resolvedKeys = new Map<string, string>();
      for (const { path, setting } of aesKeySettings(loaded.settings)) {
        const source = setting.keyFile !== undefined ? `${path}.keyFile` : `${path}.keyEnv`;
        if (setting.key !== undefined || findings.some((f) => f.path === source)) continue;
        try {
          const text = readSecret({ file: setting.keyFile, env: setting.keyEnv });
          if (text !== undefined) resolvedKeys.set(path, text);
        } catch (error) {
          findings.push({ severity: 'error', path: source, message: errorText(error) });
        }
      }
      // Configured API tokens must be readable and long enough, as at start (without tokens nothing is read).
      const api = loaded.settings.api;
      if (api?.tokens !== undefined) {
        const tokens = TokenRegistry.load(api, loaded.settings.dataDir);
        if (!tokens.ok) findings.push(...tokens.issues.map((issue) => ({ severity: 'error' as const, ...issue })));
      }
      const worldReadableFiles = new Set(secretFiles(loaded.settings).map((f) => f.file).filter(isWorldReadable));
      const certificateChecksOff = process.env.NODE_TLS_REJECT_UNAUTHORIZED === '0';
      findings.push(...lintSettings(loaded.settings, { fileIsWorldReadable: loaded.worldReadable, resolvedKeys, worldReadableFiles, certificateChecksOff }));
      // `run` lowers the limit the same way at start, under the same Node options (NODE_OPTIONS, the unit's flags).
      const backlog = backlogLimitWithinHeap(loaded.settings.backlogLimit, loaded.settings.outputs.length, v8.getHeapStatistics().heap_size_limit);
      if (backlog.warning !== undefined) findings.push({ severity: 'warning', path: 'backlogLimit', message: backlog.warning });
      for (const f of findings) out(`${f.severity} ${f.path}: ${f.message}`);
      const errors = findings.filter((f) => f.severity === 'error').length;
      const warnings = findings.length - errors;
      out(`${options.config}: ${errors} error(s), ${warnings} warning(s)`);
      // Not the file's fault, so not counted in its errors: the installation, which ExecStartPre must stop on too.
      const { unloadableNativeModule } = await import('../../system/native-modules.js');
      const brokenModule = await unloadableNativeModule(loaded.settings);
      if (brokenModule !== undefined) out(`error installation: ${brokenModule.message}`);
      process.exitCode = errors > 0 ? EXIT_CONFIG : brokenModule !== undefined ? EXIT_SOFTWARE : warnings > 0 && options.errorsOnly !== true ? 1 : 0;
    });
}

function isWorldReadable(file: string): boolean {
  try {
    return (statSync(file).mode & 0o004) !== 0;
  } catch {
    return false; // a missing file is reported where it is read
  }
}
