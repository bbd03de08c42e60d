import fs from 'node:fs';
import { PRIVATE_FILE_MODE } from '../system/files.js';
import { EXIT_CANTCREAT } from './config.js';
import { StartupFailure } from './startup.js';

/**
 * The file `run --capture FILE` appends every raw frame to, opened once at start: a path the gateway cannot write
 * stops the start instead of failing on every frame later.
 */
export class CaptureFile {
  private constructor(
    private readonly fd: number,
    readonly file: string,
  ) {}

  /**
   * Opens FILE for appending, created 0600; a StartupFailure (73, cannot create) naming --capture when it cannot.
   * The path may be in a directory other users can write: a symlink there (ELOOP), a second name of a file, or a
   * file or FIFO another user owns is refused, since appending would write frames into a file of the gateway's (its outbox)
   * or hand every frame, duress included, to that user.
   */
  static open(file: string): CaptureFile {
    let fd: number | undefined;
    try {
      const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
      // O_NONBLOCK: a FIFO at the path fails (ENXIO) instead of holding the start until someone reads it.
      fd = fs.openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, PRIVATE_FILE_MODE);
      const stat = fs.fstatSync(fd);
      // Devices (/dev/null) are root's; anything else another user owns, a FIFO included, is theirs to read.
      if (!stat.isCharacterDevice() && stat.uid !== process.getuid?.()) throw new CaptureFileRefused('belongs to another user, who could read every frame');
      if (stat.isFile()) {
        if (stat.nlink > 1) throw new CaptureFileRefused('has other names (a hard link): it may be another file of the gateway');
        // An earlier capture open to others is narrowed, as dataDir is: it holds every frame's bytes.
        if ((stat.mode & 0o077) !== 0) fs.fchmodSync(fd, PRIVATE_FILE_MODE);
        // A run that crashed mid-record left its last line cut: the next record starts on a line of its own, not
        // glued to the cut one, where a replay could read neither.
        if (stat.size > 0 && !endsWithNewline(file, stat)) fs.writeSync(fd, '\n');
      }
      return new CaptureFile(fd, file);
    } catch (error) {
      if (fd !== undefined) fs.closeSync(fd);
      if (error instanceof CaptureFileRefused)
        throw new StartupFailure(EXIT_CANTCREAT, `--capture ${file} ${error.message}: remove it, or give --capture a new file in a directory only the gateway's user can write`);
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new StartupFailure(EXIT_CANTCREAT, `--capture ${file} cannot be created or written (${code}): give --capture a file in a directory the gateway's user can write`);
    }
  }

  /** Appends one line; a failed write (disk full) is returned, never thrown: the frame must still be stored and answered. */
  append(line: string): Error | undefined {
    try {
      fs.writeFileSync(this.fd, `${line}\n`);
      return undefined;
    } catch (error) {
      return error as Error;
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Whether the file opened for appending (`opened`, its stat) ends with LF; read through a second descriptor, as the first one only writes. */
function endsWithNewline(file: string, opened: fs.Stats): boolean {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const stat = fs.fstatSync(fd);
    // Replaced between the two opens: nothing to mend in a file that is not the one appended to.
    if (stat.ino !== opened.ino || stat.dev !== opened.dev) return true;
    const last = Buffer.alloc(1);
    return fs.readSync(fd, last, 0, 1, opened.size - 1) === 1 && last[0] === 0x0a;
  } finally {
    fs.closeSync(fd);
  }
}

/** An existing file at the --capture path that must not be appended to. */
class CaptureFileRefused extends Error {}
