import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { OUTBOX_FILE_NAME } from '../../src/outbox/sqlite-outbox.js';

/** The permissions of what the gateway creates: its dataDir (0700) and every file in it (0600), whatever the umask. */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Every file the gateway writes (outbox, ledger, audit, captures, tokens) is created 0600 and directories 0700. */
export function restrictFileModes(): void {
  process.umask(0o077);
}

/** Writes a file only its owner may read, in a directory only its owner may enter (created as needed). */
export function writePrivateFile(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
  fs.writeFileSync(file, text, { mode: PRIVATE_FILE_MODE });
  fs.chmodSync(file, PRIVATE_FILE_MODE); // writeFileSync keeps the mode of a file that already existed
}

/** The secret kept in `file`, created (0600) with `create()` when missing or empty (a crash as it was first written). */
export function ensurePrivateSecret(file: string, create: () => string): string {
  try {
    const kept = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
    if (kept !== '') return kept;
    const secret = create();
    writePrivateFile(file, secret + '\n');
    return secret;
  } catch (error) {
    // fs names no file in a failed read: the message must, for whoever fixes it.
    throw new Error(`${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
}

export const LOCK_FILE_NAME = 'gateway.lock';

/** What `run` creates in dataDir on its first start: either proves a directory is a gateway's. */
export const GATEWAY_STATE_FILES: readonly string[] = [LOCK_FILE_NAME, OUTBOX_FILE_NAME];

/**
 * Why dataDir cannot be read as the state of a gateway (undefined when it can): it must hold one of `evidence`,
 * else it is some other, empty directory (`elsewhere`).
 */
export function gatewayStateMissing(dataDir: string, evidence: readonly string[] = GATEWAY_STATE_FILES): { problem: string; elsewhere: boolean } | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(dataDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { problem: 'does not exist', elsewhere: true };
    if (code === 'EACCES') return { problem: "cannot be read by this user: run the command as the gateway's user or root", elsewhere: false };
    return { problem: `cannot be read (${code ?? (error as Error).message})`, elsewhere: false };
  }
  if (evidence.some((name) => names.includes(name))) return undefined;
  return { problem: `holds no ${evidence.join(' or ')}`, elsewhere: true };
}

/** The sticky bit: only an entry's owner may rename or remove it (/tmp). */
const STICKY = 0o1000;

/**
 * Why the path to dataDir lets another local user redirect the store (undefined when it does not): dataDir is a
 * symbolic link, or a directory on the way to it (as given, and as the links resolve) may be renamed or replaced by
 * a user other than root, the caller and dataDir's owner: one they own, or one open to writes from others without
 * the sticky bit (/tmp's). The caller's group counts as its own, as for dataDir's mode. Checked before dataDir is
 * created or narrowed, so nothing is made or changed through such a path.
 */
export function unsafeDataDirPath(dataDir: string): string | undefined {
  const absolute = path.resolve(dataDir);
  if (lstatIfThere(absolute)?.isSymbolicLink() === true) {
    const target = path.resolve(path.dirname(absolute), fs.readlinkSync(absolute));
    return `dataDir ${dataDir} is a symbolic link (to ${target}): set dataDir to the directory itself`;
  }
  // dataDir itself is checked (and narrowed) by prepareDataDir; before it exists, the deepest directory that does.
  let existing = absolute;
  while (!fs.existsSync(existing)) existing = path.dirname(existing);
  const real = fs.realpathSync(existing);
  // The gateway's user owns dataDir, and under systemd its parent too (StateDirectory): root runs admin commands on it.
  const trusted = new Set([0, process.getuid?.(), lstatIfThere(absolute)?.uid]);
  const fix = "chown it to root or the gateway's user and chmod it go-w (or +t), or set dataDir elsewhere";
  for (const dir of new Set([...ancestorsOf(absolute), ...ancestorsOf(real), ...(existing === absolute ? [] : [real])])) {
    const stat = lstatIfThere(dir);
    if (stat === undefined || stat.isSymbolicLink()) continue; // a link is checked where it points and where it lies
    if (!trusted.has(stat.uid)) return `dataDir ${dataDir}: ${dir} is owned by another user (uid ${stat.uid}), who may replace what is in it: ${fix}`;
    const othersMayWrite = (stat.mode & 0o002) !== 0 || ((stat.mode & 0o020) !== 0 && stat.gid !== process.getgid?.());
    if (othersMayWrite && (stat.mode & STICKY) === 0)
      return `dataDir ${dataDir}: ${dir} may be written by other users (mode 0${(stat.mode & 0o7777).toString(8)}), who may replace what is in it: ${fix}`;
  }
  return undefined;
}

/** The entry itself (a link not followed); undefined when there is none (ENOENT, or ENOTDIR: a file on the way). */
function lstatIfThere(file: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(file);
  } catch {
    return undefined;
  }
}

/** Every directory from the root down to `dir`'s parent. */
function ancestorsOf(dir: string): string[] {
  const ancestors: string[] = [];
  for (let parent = path.dirname(dir); ; parent = path.dirname(parent)) {
    ancestors.unshift(parent);
    if (parent === path.dirname(parent)) return ancestors;
  }
}

/** Why dataDir cannot be used, with what to do about it. */
export class DataDirError extends Error {
  constructor(
    readonly reason: 'cannot-create' | 'locked',
    message: string,
  ) {
    super(message);
    this.name = 'DataDirError';
  }
}

export interface DataDirLock {
  release(): void;
}

/**
 * Creates dataDir (0700; an existing one open to others is narrowed to 0700), checks that files can be created
 * in it, and locks it for this process: a second gateway on the same dataDir would share its outbox and ledger.
 * The lock is an exclusive SQLite lock on `gateway.lock`, held by the operating system for as long as the
 * process lives: a crash cannot leave a stale lock behind.
 */
export function prepareDataDir(dataDir: string): DataDirLock {
  const unsafePath = unsafeDataDirPath(dataDir);
  if (unsafePath !== undefined) throw new DataDirError('cannot-create', unsafePath);
  let stat: fs.Stats;
  try {
    fs.mkdirSync(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    stat = fs.statSync(dataDir);
    if (!stat.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    if ((stat.mode & 0o077) !== 0 && stat.uid === process.getuid?.()) {
      fs.chmodSync(dataDir, PRIVATE_DIR_MODE);
      stat = fs.statSync(dataDir);
    }
    fs.accessSync(dataDir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new DataDirError(
      'cannot-create',
      `dataDir ${dataDir} cannot be created or written (${code}): create it writable for the user running the gateway, or set dataDir to a directory it owns`,
    );
  }
  // One it does not own keeps its mode: open to others (or to a group not the gateway's), every account could list it
  // and see audit.jsonl change as a duress is stored, and with write access replace the outbox's files.
  const othersMayEnter = (stat.mode & 0o007) !== 0 || ((stat.mode & 0o070) !== 0 && stat.gid !== process.getgid?.());
  if (othersMayEnter)
    throw new DataDirError(
      'cannot-create',
      `dataDir ${dataDir} is open to other users (mode 0${(stat.mode & 0o777).toString(8)}) and the gateway's user does not own it, so it cannot make it private: chown it to the gateway's user (it is then narrowed to 0700) or chmod it 0700`,
    );
  const file = path.join(dataDir, LOCK_FILE_NAME);
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { timeout: 0 });
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    db?.close();
    const code = (error as { code?: string }).code ?? '';
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED')
      throw new DataDirError(
        'locked',
        `dataDir ${dataDir} is in use by another running gateway (lock ${file}): stop that gateway, or give this one a dataDir of its own`,
      );
    throw new DataDirError('cannot-create', `dataDir ${dataDir}: cannot create the lock ${file} (${(error as Error).message}): make dataDir writable for the gateway`);
  }
  const held = db;
  return {
    release() {
      held.close();
    },
  };
}
