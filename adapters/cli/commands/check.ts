import { Command } from 'commander';
import { statSync } from 'node:fs';
import { lintSettings, secretFiles } from '../../../src/settings/lint.js';
import { EXIT_CONFIG, loadConfigFile, printIssues } from '../config.js';
import { readSecret } from '../../system/secrets.js';

/** `panelbridge check`: validate and lint a configuration. Exit 0 clean, 1 warnings only, 78 errors. */
export function checkCommand(): Command {
  return new Command('check')
    .description('validate and lint a configuration file (exit 0 clean, 1 warnings, 78 errors)')
    .requiredOption('-c, --config <file>', 'configuration file (YAML or JSON)')
    .option('--errors-only', 'exit 0 when there are only warnings (still printed); for systemd ExecStartPre')
    .action((options: { config: string; errorsOnly?: boolean }) => {
      const out = (line: string) => process.stdout.write(line + '\n');
      const loaded = loadConfigFile(options.config);
      if (!loaded.ok) {
        printIssues(loaded.issues, out);
        process.exitCode = EXIT_CONFIG;
        return;
      }
      const resolvedKeys = new Map<string, string>();
      const findings = [];
      loaded.settings.inputs.forEach((input, i) => {
        if (input.type !== 'dc09') return;
        input.accounts?.forEach((a, j) => {
          if (a.key !== undefined) return;
          try {
            const text = readSecret({ ...(a.keyFile === undefined ? {} : { file: a.keyFile }), ...(a.keyEnv === undefined ? {} : { env: a.keyEnv }) });
            if (text !== undefined) resolvedKeys.set(`inputs[${i}].accounts[${j}]`, text);
          } catch (error) {
            findings.push({ severity: 'error' as const, path: `inputs[${i}].accounts[${j}]`, message: (error as Error).message });
          }
        });
      });
      const worldReadableFiles = new Set(secretFiles(loaded.settings).map((f) => f.file).filter(isWorldReadable));
      findings.push(...lintSettings(loaded.settings, { fileIsWorldReadable: loaded.worldReadable, resolvedKeys, worldReadableFiles }));
      for (const f of findings) out(`${f.severity} ${f.path}: ${f.message}`);
      const errors = findings.filter((f) => f.severity === 'error').length;
      const warnings = findings.length - errors;
      out(`${options.config}: ${errors} error(s), ${warnings} warning(s)`);
      process.exitCode = errors > 0 ? EXIT_CONFIG : warnings > 0 && options.errorsOnly !== true ? 1 : 0;
    });
}

function isWorldReadable(file: string): boolean {
  try {
    return (statSync(file).mode & 0o004) !== 0;
  } catch {
    return false; // a missing file is reported where it is read
  }
}
