import path from 'node:path';
import type { Settings } from '../../src/settings/settings.js';
import { GATEWAY_STATE_FILES, gatewayStateMissing, unsafeDataDirPath } from '../system/files.js';
import { DEFAULT_DATA_DIR, EXIT_CANTCREAT, EXIT_NOINPUT, settingsOrExit } from './config.js';

/**
 * The settings of `--config` for a command that reads or adds to the gateway's state (devices, report, token);
 * undefined after printing why: 78 the configuration does not load, 73 another user could redirect its dataDir
 * (unsafeDataDirPath), 66 its dataDir holds none of `evidence` (by default what every gateway creates on its first
 * start). Without this check a relative dataDir, resolved against
 * the caller's directory, would have such a command report on (or write into) an empty directory as if it were the
 * gateway's.
 */
export function gatewaySettingsOrExit(config: string, evidence: readonly string[] = GATEWAY_STATE_FILES): Settings | undefined {
  const settings = settingsOrExit(config);
  if (settings === undefined) return undefined;
  return holdsOrExit(settings.dataDir, evidence, `if dataDir in ${config} is relative, it follows the working directory`) ? settings : undefined;
}

/** The gateway's dataDir: that of `--config`, else `./var` in the working directory; undefined as above. */
export function gatewayDataDirOrExit(config: string | undefined, evidence: readonly string[] = GATEWAY_STATE_FILES): string | undefined {
  if (config !== undefined) return gatewaySettingsOrExit(config, evidence)?.dataDir;
  const dataDir = path.resolve(DEFAULT_DATA_DIR);
  return holdsOrExit(dataDir, evidence, `without --config it is ${DEFAULT_DATA_DIR} in the working directory`) ? dataDir : undefined;
}

function holdsOrExit(dataDir: string, evidence: readonly string[], whereFrom: string): boolean {
  const unsafePath = unsafeDataDirPath(dataDir);
  if (unsafePath !== undefined) {
    process.stderr.write(`error ${unsafePath}\n`);
    process.exitCode = EXIT_CANTCREAT;
    return false;
  }
  const missing = gatewayStateMissing(dataDir, evidence);
  if (missing === undefined) return true;
  const fix = missing.elsewhere
    ? `: it is not the dataDir of a gateway that has run (${whereFrom}, here ${process.cwd()}); give the configuration an absolute dataDir (the service's is /var/lib/panelbridge/var), or start the gateway once first`
    : '';
  process.stderr.write(`error dataDir: ${dataDir} ${missing.problem}${fix}\n`);
  process.exitCode = EXIT_NOINPUT;
  return false;
}
