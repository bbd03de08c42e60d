import { createPrivateKey, X509Certificate } from 'node:crypto';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { parseSettings, type Settings, type SettingsIssue } from '../../src/settings/settings.js';
import { secretFiles, tlsSettings, type TlsFiles } from '../../src/settings/lint.js';

import { EXIT_CONFIG } from './exit-codes.js';

export {
  EXIT_CANTCREAT,
  EXIT_CONFIG,
  EXIT_DATAERR,
  EXIT_IOERR,
  EXIT_NOINPUT,
  EXIT_NOPERM,
  EXIT_PROTOCOL,
  EXIT_SOFTWARE,
  EXIT_TEMPFAIL,
  EXIT_UNAVAILABLE,
  EXIT_USAGE,
} from './exit-codes.js';

export type LoadedConfig =
  | { ok: true; settings: Settings; file: string; worldReadable: boolean }
  | { ok: false; issues: SettingsIssue[] };

export function loadConfigFile(file: string): LoadedConfig {
  let text: string;
  let worldReadable = false;
  try {
    text = readFileSync(file, 'utf8');
    worldReadable = (statSync(file).mode & 0o004) !== 0;
  } catch (error) {
    return { ok: false, issues: [{ path: '(file)', message: `cannot read ${file}: ${(error as Error).message}` }] };
  }
  const parsed = parseSettings(text);
  if (!parsed.ok) return parsed;
  // Relative paths are relative to the working directory, as with any command-line tool (the unit sets it).
  const settings = { ...parsed.settings, dataDir: path.resolve(parsed.settings.dataDir) };
  return { ok: true, settings, file, worldReadable };
}

/** The configuration file's settings; undefined after printing its issues on stderr and setting exit status 78. */
export function settingsOrExit(file: string): Settings | undefined {
  const loaded = loadConfigFile(file);
  if (loaded.ok) return loaded.settings;
  printIssues(loaded.issues, (line) => process.stderr.write(line + '\n'));
  process.exitCode = EXIT_CONFIG;
  return undefined;
}

/** The schema's default dataDir. */
export const DEFAULT_DATA_DIR = './var';

export function printIssues(issues: readonly SettingsIssue[], write: (line: string) => void): void {
  for (const issue of issues) write(`error ${issue.path}: ${issue.message}`);
}


/**
 * Every file the configuration names, with its setting's path: the secret ones (keys, passwords, tokens) and the
 * certificates. What `check` and `run` verify is readable.
 */
export function namedFiles(settings: Settings): Array<{ path: string; file: string }> {
  const files = secretFiles(settings);
  const add = (path: string, file: string | undefined) => {
    if (file !== undefined) files.push({ path, file });
  };
  for (const { path: where, files: tls } of tlsSettings(settings)) {
    add(`${where}.cert`, tls.cert);
    add(`${where}.ca`, tls.ca);
  }
  return files;
}

/**
 * The named files `run` would stop on, each as an issue naming the setting, the file and the fix: those this
 * process cannot read, and TLS files that hold no usable certificate or key.
 */
export function unusableFiles(settings: Settings): SettingsIssue[] {
  return [...unreadableFiles(settings), ...unusableTlsFiles(settings)];
}

function unreadableFiles(settings: Settings): SettingsIssue[] {
  const issues: SettingsIssue[] = [];
  for (const { path: where, file } of namedFiles(settings)) {
    try {
      if (!statSync(file).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
      accessSync(file, constants.R_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by this user' : (error as Error).message;
      issues.push({ path: where, message: `${file} ${why}: fix the path, or the file's owner and mode (0600, owned by the gateway's user)` });
    }
  }
  return issues;
}

/**
 * TLS files that can be read but hold no PEM certificate or private key, or a key that is not the certificate's:
 * the listener or the MQTT client would stop on them with OpenSSL's words alone, naming no setting.
 */
function unusableTlsFiles(settings: Settings): SettingsIssue[] {
  const issues: SettingsIssue[] = [];
  for (const { path: where, files } of tlsSettings(settings)) {
    // The PEM text of a file that parses as `what`; undefined (and an issue) when it does not, or cannot be read.
    const usable = (key: keyof TlsFiles, what: string, parse: (pem: Buffer) => unknown): Buffer | undefined => {
      const file = files[key];
      if (file === undefined) return undefined;
      let pem: Buffer;
      try {
        pem = readFileSync(file);
      } catch {
        return undefined; // unreadableFiles names it
      }
      try {
        parse(pem);
        return pem;
      } catch {
        issues.push({ path: `${where}.${key}`, message: `${file} holds no ${what}: give ${where}.${key} a PEM file` });
        return undefined;
      }
    };
    const cert = usable('cert', 'PEM certificate', (pem) => new X509Certificate(pem));
    const key = usable('key', 'unencrypted PEM private key', (pem) => createPrivateKey(pem));
    usable('ca', 'PEM certificate', (pem) => new X509Certificate(pem));
    if (cert === undefined || key === undefined) continue;
    try {
      createSecureContext({ cert, key });
    } catch {
      issues.push({ path: `${where}.key`, message: `${files.key} is not the private key of ${files.cert}: give ${where}.cert and ${where}.key a matching pair` });
    }
  }
  return issues;
}
