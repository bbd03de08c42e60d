import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../src/ports.js';
import type { StoreFault } from '../../src/pipeline/recorder.js';

export const STORE_FAULT_FILE_NAME = 'store-fault';

/** The file's fixed size: every write fills it whole, so it never needs a block it does not have. */
const MARK_BYTES = 4096;
/** What of the cause is kept: the mark must fit its file. */
const CAUSE_CHARS = 1_000;

function parseFault(text: string): StoreFault | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  try {
    const { since, cause, refusedFrames } = JSON.parse(trimmed) as Partial<StoreFault>;
    if (Number.isFinite(since) && typeof cause === 'string' && Number.isInteger(refusedFrames)) return { since: since!, cause, refusedFrames: refusedFrames! };
  } catch {
    // A mark cut short: no fault to carry over, and the next write replaces it.
  }
  return undefined;
}

/**
 * The outbox fault under way, kept in `{dataDir}/store-fault`: central hears of a fault once it is over, so without
 * it a restart during the outage (the operator frees space and restarts) would forget it, and central would never
 * learn that frames were refused. The file gets its full size at start, while the disk has room, and is only ever
 * overwritten in place afterwards: a full disk still takes a write to blocks a file already has. A read-only disk
 * takes nothing; that is logged, and a restart then reports only what fails after it.
 */
export class StoreFaultMark {
  private failing = false;

  private constructor(
    private readonly fd: number | undefined,
    private readonly file: string,
    private readonly logger: Logger,
  ) {}

  /** Opens (creates) the mark; `earlier`: the fault a previous run left unreported. */
  static open(dataDir: string, logger: Logger): { mark: StoreFaultMark; earlier: StoreFault | undefined } {
    const file = path.join(dataDir, STORE_FAULT_FILE_NAME);
    let earlier: StoreFault | undefined;
    try {
      earlier = parseFault(fs.readFileSync(file, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn({ file, err: (error as Error).message }, 'store fault mark not read');
    }
    let fd: number | undefined;
    try {
      fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    } catch (error) {
      logger.error({ file, err: (error as Error).message }, 'store fault mark cannot be opened: an outbox fault under way at a restart will not be reported');
    }
    const mark = new StoreFaultMark(fd, file, logger);
    // Written whole now, so that later writes find their blocks; a fault still unreported stays in it.
    mark.put(earlier);
    return { mark, earlier };
  }

  /** Keeps `fault` (from its start, with the frames refused so far) until clear(). */
  write(fault: StoreFault): void {
    this.put(fault);
  }

  /** The fault was reported to central. */
  clear(): void {
    this.put(undefined);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
  }

  private put(fault: StoreFault | undefined): void {
    if (this.fd === undefined) return;
    const text = fault === undefined ? '' : JSON.stringify({ ...fault, cause: fault.cause.slice(0, CAUSE_CHARS) });
    const bytes = Buffer.alloc(MARK_BYTES, ' ');
    bytes.write(text, 'utf8');
    try {
      const written = fs.writeSync(this.fd, bytes, 0, MARK_BYTES, 0);
      // A part written is a mark cut short, which the next start reads as none.
      if (written !== MARK_BYTES) throw new Error(`${written} of ${MARK_BYTES} bytes written`);
      fs.fdatasyncSync(this.fd);
      this.failing = false;
    } catch (error) {
      // Once per run of failures: the outbox's own fault is already logged and counted.
      if (!this.failing) this.logger.error({ file: this.file, err: (error as Error).message }, 'store fault mark not written');
      this.failing = true;
    }
  }
}
