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

  /** Opens FILE for appending, created 0600; a StartupFailure (73, cannot create) naming --capture when it cannot. */
  static open(file: string): CaptureFile {
    let fd: number | undefined;
    try {
      fd = fs.openSync(file, 'a', PRIVATE_FILE_MODE);
      const stat = fs.fstatSync(fd);
      // An earlier capture open to others is narrowed, as dataDir is: it holds every frame's bytes.
      if (stat.isFile() && (stat.mode & 0o077) !== 0 && stat.uid === process.getuid?.()) fs.fchmodSync(fd, PRIVATE_FILE_MODE);
      return new CaptureFile(fd, file);
    } catch (error) {
      if (fd !== undefined) fs.closeSync(fd);
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
