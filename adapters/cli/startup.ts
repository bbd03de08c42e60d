import { errorText, isGatewayError, isSchemaTooNew, type GatewayError } from '../../src/errors.js';
import { DataDirError } from '../system/files.js';
import { NativeModuleError } from '../system/native-modules.js';
import { redactUrlCredentials } from '../system/redact.js';
import { EXIT_CANTCREAT, EXIT_CONFIG, EXIT_DATAERR, EXIT_SOFTWARE, EXIT_TEMPFAIL, EXIT_UNAVAILABLE } from './config.js';

/** A start-up problem the operator can fix: what failed and how to fix it, with the sysexits status to exit with. */
export class StartupFailure extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'StartupFailure';
  }
}

function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * A listener that could not start (`what`, e.g. `DC-09 input "ip" on 0.0.0.0:9999`), as a StartupFailure that
 * names the settings to change; other errors are returned as they are.
 */
export function listenFailure(error: unknown, what: string, keys: { host: string; port: string }): unknown {
  switch (errnoOf(error)) {
    case 'EADDRINUSE':
      return new StartupFailure(EXIT_TEMPFAIL, `${what}: the port is already in use: stop the program holding it, or set ${keys.port} to a free port`);
    case 'EACCES':
      return new StartupFailure(
        EXIT_CONFIG,
        `${what}: permission denied (ports below 1024 need CAP_NET_BIND_SERVICE): set ${keys.port} to a port above 1023, or grant the capability`,
      );
    case 'EADDRNOTAVAIL':
      // Not a configuration error: at boot a DHCP lease, a second NIC or an IPv6 address still in duplicate address
      // detection comes up after network-online.target, so the unit must start the gateway again (78 would stop it).
      return new StartupFailure(
        EXIT_TEMPFAIL,
        `${what}: the address is not (yet) on this machine: systemd starts the gateway again until it appears; if it never will, set ${keys.host} to one of its addresses (or 0.0.0.0)`,
      );
    default:
      return error;
  }
}

/**
 * A state file in dataDir (the outbox, the assurance ledger) that cannot be used as it is, whatever the permissions:
 * SQLite finds it is not a database or has damaged pages, or a later release wrote it. Restarting cannot help, and
 * starting over with a new file would silently lose the events in it: the operator keeps the file and decides.
 */
function unusableStateFile(error: GatewayError): StartupFailure | undefined {
  if (error.code !== 'OUTBOX_OPEN_FAILED' && error.code !== 'ASSURANCE_STORE_FAILED') return undefined;
  if (isSchemaTooNew(error)) return new StartupFailure(EXIT_DATAERR, error.message);
  const sqlite = errnoOf(error.cause) ?? '';
  if (sqlite !== 'SQLITE_NOTADB' && !sqlite.startsWith('SQLITE_CORRUPT')) return undefined;
  return new StartupFailure(
    EXIT_DATAERR,
    `${errorText(error)}: the file is damaged; stop the gateway, move it aside with its -wal and -shm files (keep them: \`sqlite3 FILE .recover\` gets back what can be read) and start again`,
  );
}

/** Any error out of start-up as a StartupFailure: a known cause gets its own status and fix, the rest 69. */
export function startupFailure(error: unknown): StartupFailure {
  if (error instanceof StartupFailure) return error;
  if (error instanceof NativeModuleError) return new StartupFailure(EXIT_SOFTWARE, error.message);
  if (error instanceof DataDirError) return new StartupFailure(error.reason === 'locked' ? EXIT_TEMPFAIL : EXIT_CANTCREAT, error.message);
  if (isGatewayError(error)) {
    const cause = errnoOf(error.cause);
    // A key, URL or file the configuration names is wrong (CONFIG_INVALID, CONFIG_KEY_INVALID, …): restarting cannot help.
    if (error.code.startsWith('CONFIG_')) return new StartupFailure(EXIT_CONFIG, error.message);
    const unusable = unusableStateFile(error);
    if (unusable !== undefined) return unusable;
    // Another process (an operator's sqlite3 in a transaction) holds the file: it is neither damaged nor unwritable.
    if ((error.code === 'OUTBOX_OPEN_FAILED' || error.code === 'ASSURANCE_STORE_FAILED') && (cause === 'SQLITE_BUSY' || cause === 'SQLITE_LOCKED'))
      return new StartupFailure(EXIT_TEMPFAIL, `${errorText(error)}: another process holds it locked (a sqlite3 shell in a transaction, a backup tool): end it; systemd starts the gateway again`);
    // With SQLite's cause: "database or disk is full" asks for another fix than "unable to open database file".
    if (error.code === 'OUTBOX_OPEN_FAILED') return new StartupFailure(EXIT_CANTCREAT, `${errorText(error)}: make dataDir writable for the gateway's user`);
    if (cause === 'EADDRINUSE') return new StartupFailure(EXIT_TEMPFAIL, error.message);
    return new StartupFailure(EXIT_UNAVAILABLE, `cannot start: ${redactUrlCredentials(error.message)}`);
  }
  return new StartupFailure(EXIT_UNAVAILABLE, `cannot start: ${redactUrlCredentials(errorText(error))}`);
}
