import fs from 'node:fs';
import path from 'node:path';
import { eventJson, parsedEvent } from '../../src/model/event-json.js';
import type { NormalizedEvent } from '../../src/model/event.js';
import type { Logger } from '../../src/ports.js';
import type { StoreFault } from '../../src/pipeline/recorder.js';

export const STORE_FAULT_FILE_NAME = 'store-fault';

/** The file's fixed size: every write fills it whole, so it never needs a block it does not have. */
const MARK_BYTES = 64 * 1024;
/** What of the cause is kept: the mark must fit its file. */
const CAUSE_CHARS = 1_000;
/** The room for events: the file less what the fault takes at most. */
const EVENT_BYTES = MARK_BYTES - 2 * CAUSE_CHARS - 200;

/** What a previous run left: the fault it could not report, and the raised events it could not store. */
export interface StoreFaultState {
  fault: StoreFault | undefined;
  events: NormalizedEvent[];
}

function parseState(text: string, logger: Logger): StoreFaultState {
  const trimmed = text.trim();
  if (trimmed === '') return { fault: undefined, events: [] };
  try {
    const { fault, events } = JSON.parse(trimmed) as { fault?: Partial<StoreFault>; events?: unknown };
    const { since, cause, refusedFrames } = fault ?? {};
    const whole = Number.isFinite(since) && typeof cause === 'string' && Number.isInteger(refusedFrames);
    return {
      fault: whole ? { since: since!, cause: cause!, refusedFrames: refusedFrames! } : undefined,
      events: Array.isArray(events) ? events.filter((e): e is string => typeof e === 'string').map(parsedEvent) : [],
    };
  } catch (error) {
    // A mark cut short: nothing to carry over, and the next write replaces it.
    logger.warn({ err: (error as Error).message }, 'store fault mark unreadable; ignored');
    return { fault: undefined, events: [] };
  }
}

/**
 * What an outbox fault leaves to do, kept in `{dataDir}/store-fault` across a restart: the fault under way (central
 * hears of a fault once it is over, so a restart during the outage, space freed and the gateway restarted, would
 * forget it) and the raised events the outbox refused (a control action answered 503 CONTROL_NOT_STORED is promised
 * to reach central). The file gets its full size at start, while the disk has room, and is only ever overwritten in
 * place afterwards: a full disk still takes a write to blocks a file already has. A read-only disk takes nothing;
 * that is logged, and a restart then reports only what fails after it.
 */
export class StoreFaultMark {
  private failing = false;
  private fault: StoreFault | undefined;
  private events: string[] = [];

  private constructor(
    private readonly fd: number | undefined,
    private readonly file: string,
    private readonly logger: Logger,
  ) {}

  /** Opens (creates) the mark; `earlier`: what a previous run left undone, kept until replaced. */
  static open(dataDir: string, logger: Logger): { mark: StoreFaultMark; earlier: StoreFaultState } {
    const file = path.join(dataDir, STORE_FAULT_FILE_NAME);
    let earlier: StoreFaultState = { fault: undefined, events: [] };
    try {
      earlier = parseState(fs.readFileSync(file, 'utf8'), logger);
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
    mark.fault = earlier.fault;
    mark.keep(earlier.events);
    // Written whole now, so that later writes find their blocks.
    mark.put();
    return { mark, earlier };
  }

  /** Keeps `fault` (from its start, with the frames refused so far); undefined once central has its report. */
  setFault(fault: StoreFault | undefined): void {
    this.fault = fault;
    this.put();
  }

  /** Keeps the raised events not stored yet (all of them: none once they are stored). */
  setEvents(events: readonly NormalizedEvent[]): void {
    this.keep(events);
    this.put();
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
  }

  /** The oldest events first, as many as fit. */
  private keep(events: readonly NormalizedEvent[]): void {
    this.events = [];
    let bytes = 0;
    for (const event of events) {
      const text = eventJson(event);
      bytes += Buffer.byteLength(JSON.stringify(text)) + 1;
      if (bytes <= EVENT_BYTES) this.events.push(text);
      else this.logger.error({ eventId: event.id, reasons: event.reasons }, 'raised event not stored, and too many of them to keep across a restart');
    }
  }

  private put(): void {
    if (this.fd === undefined) return;
    const fault = this.fault === undefined ? undefined : { ...this.fault, cause: this.fault.cause.slice(0, CAUSE_CHARS) };
    const text = JSON.stringify({ fault, events: this.events });
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
