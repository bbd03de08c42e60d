/**
 * Messages between the DC-09 listener (main thread: decode, store, answer) and its TCP worker (sockets and
 * framing). Frames and answers cross in packed batches, one message per turn of either event loop: one buffer
 * of bytes, transferred rather than copied, with the connection id and end offset of each entry.
 */

import { PackedBytesBuilder } from './packed-bytes.js';

export interface TcpWorkerSettings {
  host: string;
  port: number;
  maxFrameBytes: number;
  idleTimeoutMs: number;
  firstFrameTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerPeer: number;
}

/** Why the worker closed a connection, or refused one, on its own. */
export type DropReason = 'max-connections' | 'peer-limit' | 'first-frame-timeout' | 'idle-timeout';

/** Connections dropped for the same reason from the same address since the last batch, as one entry. */
export interface Drop {
  /** One of them (address and port). */
  peer: string;
  reason: DropReason;
  count: number;
}

export interface PackedBatch {
  ids: Int32Array;
  /** ends[i] is where entry i's bytes end in `bytes`; it starts where entry i − 1 ended. */
  ends: Int32Array;
  bytes: Uint8Array;
}

/** Byte runs one connection's framer discarded for the same reason since the last batch, as one entry. */
export interface Discard {
  connection: number;
  reason: string;
  count: number;
  bytes: number;
}

export type FromTcpWorker =
  | { kind: 'listening'; port: number; address: string; family: string }
  | { kind: 'listen-failed'; message: string; code: string | undefined }
  /**
   * Connections opened (id, peer) come before the frames in the same batch; closed ones after. Discards and
   * drops are counted per connection (or address) and reason, so a flood of them takes no more room than one.
   */
  | { kind: 'batch'; opened: Array<[number, string]>; frames: PackedBatch; discarded: Discard[]; dropped: Drop[]; closed: number[] }
  | { kind: 'connections-closed' };

export type ToTcpWorker =
  /**
   * The main thread has taken the last batch. The worker has one batch at a time on its way and gathers what
   * arrives meanwhile into the next, so a busy main thread gets a few large batches, not one per socket read.
   */
  | { kind: 'ready' }
  /**
   * One answer per frame sent, in any order across connections; empty bytes mean "no answer" (bad CRC, noise).
   * An answered frame is what counts as a valid frame for firstFrameTimeout and idleTimeout.
   */
  | { kind: 'answers'; answers: PackedBatch }
  | { kind: 'stop-accepting' }
  | { kind: 'close-connections' };

const EMPTY = new Uint8Array(0);

/** Collects (connection, bytes) entries until taken as one PackedBatch. */
export class BatchBuilder {
  private ids: number[] = [];
  private readonly entries = new PackedBytesBuilder();

  get size(): number {
    return this.ids.length;
  }

  add(connection: number, bytes: Uint8Array | null): void {
    this.ids.push(connection);
    this.entries.add(bytes ?? EMPTY);
  }

  /** The batch so far, and the buffers to transfer with it; the builder starts empty again. */
  take(): { batch: PackedBatch; transfer: ArrayBuffer[] } {
    const { bytes, ends } = this.entries.take();
    const batch = { ids: Int32Array.from(this.ids), ends, bytes };
    this.ids = [];
    return { batch, transfer: [batch.ids.buffer, batch.ends.buffer, bytes.buffer] };
  }
}

/** Calls `each` with every entry of a batch, in order, its bytes as a Buffer view (no copy). */
export function forEachEntry(batch: PackedBatch, each: (connection: number, bytes: Buffer) => void): void {
  let start = 0;
  for (let i = 0; i < batch.ids.length; i++) {
    const end = batch.ends[i]!;
    each(batch.ids[i]!, Buffer.from(batch.bytes.buffer, batch.bytes.byteOffset + start, end - start));
    start = end;
  }
}
