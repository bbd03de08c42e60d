/**
 * Messages between the DC-09 listener (main thread: decode, store, answer) and its socket worker (TCP sockets and
 * framing, the UDP socket). Frames and answers cross in packed batches, one message per turn of either event
 * loop: one buffer of bytes, transferred rather than copied, with the id and end offset of each entry. An id is a
 * TCP connection's (positive) or one datagram's (negative).
 */

import { PackedBytesBuilder } from './packed-bytes.js';
import type { SlotLimit } from '../system/connection-slots.js';

export interface SocketWorkerSettings {
  host: string;
  port: number;
  tcp: boolean;
  udp: boolean;
  maxFrameBytes: number;
  idleTimeoutMs: number;
  firstFrameTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerPeer: number;
  /**
   * Datagrams with the main thread or waiting for room in a batch, at most, and a quarter of that from one address;
   * past either, new ones are discarded.
   */
  maxDatagramsInFlight: number;
  /** Bytes of each discarded run sent to the main thread for `run --capture`; 0 or unset: none (no capture). */
  discardSampleBytes?: number;
}

/**
 * The UDP receive buffer the worker asks for. Panels that lost power together report together, and a burst past the
 * buffer is dropped by the kernel before the worker can read it: Linux's default (208 KB) holds about 256 small
 * datagrams. The kernel grants at most `net.core.rmem_max`; what it granted is logged at start.
 */
export const UDP_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

/** Where the worker listens; `port` 0 asked: the port the system gave (UDP takes TCP's). */
export interface ListeningAddress {
  port: number;
  address: string;
  family: string;
}

/**
 * Why the worker closed a connection, or refused one, on its own; `accept-failed`: the system gave it no descriptor
 * for one (EMFILE, ENFILE), so it was lost unseen.
 */
export type DropReason = 'max-connections' | 'peer-limit' | 'first-frame-timeout' | 'idle-timeout' | 'accept-failed';

/** Connections dropped for the same reason from the same address since the last batch, as one entry. */
export interface Drop {
  /** One of them (address and port); none for `accept-failed`, whose peer is never known. */
  peer?: string;
  /** Their remote address, which maxConnectionsPerPeer counts; none for `accept-failed`. */
  host?: string;
  /**
   * At a connection limit: closed to make room for a new connection (they had sent no valid frame), rather than
   * refused; no panel was turned away.
   */
  madeRoom?: boolean;
  reason: DropReason;
  count: number;
  /** For `accept-failed`: the error code (EMFILE, ENFILE). */
  code?: string;
}

export interface PackedBatch {
  ids: Int32Array;
  /** ends[i] is where entry i's bytes end in `bytes`; it starts where entry i − 1 ended. */
  ends: Int32Array;
  bytes: Uint8Array;
}

/**
 * Byte runs one connection's framer discarded for the same reason since the last batch, as one entry; or
 * datagrams from one address the worker had no room for (`connection` 0, `peer` one of them).
 */
export interface Discard {
  connection: number;
  peer?: string;
  reason: string;
  count: number;
  bytes: number;
  /** The first run's bytes, cut at `discardSampleBytes`; only when the input's discards are captured. */
  sample?: Uint8Array;
}

export type FromSocketWorker =
  /** `udpReceiveBufferBytes`: the UDP socket's receive buffer as the kernel granted it. */
  | { kind: 'listening'; tcp?: ListeningAddress; udp?: ListeningAddress; udpReceiveBufferBytes?: number }
  | { kind: 'listen-failed'; message: string; code: string | undefined }
  /**
   * Connections opened (id, peer) come before the frames in the same batch; closed ones after. `datagrams` names
   * the sender (address and port) of each datagram entry by its id. Discards and drops are counted per connection
   * (or address) and reason, so a flood of them takes no more room than one.
   */
  | {
      kind: 'batch';
      opened: Array<[number, string]>;
      datagrams: Array<[number, string]>;
      frames: PackedBatch;
      discarded: Discard[];
      dropped: Drop[];
      closed: number[];
    }
  /** The UDP socket failed after it was bound (a failed send, say); it stays open. */
  | { kind: 'udp-error'; message: string; code: string | undefined }
  /** The answer to `refuses`: the limit that would refuse a new connection from its host now, if any. */
  | { kind: 'refuses'; query: number; limit: SlotLimit | undefined }
  | { kind: 'connections-closed' };

export type ToSocketWorker =
  /**
   * The main thread has taken the last batch. The worker has one batch at a time on its way and gathers what
   * arrives meanwhile into the next, so a busy main thread gets a few large batches, not one per socket read.
   */
  | { kind: 'ready' }
  /**
   * One answer per frame sent, in any order across connections; empty bytes mean "no answer" (bad CRC, noise).
   * `accepted` names the connections whose frame was ACKed: only such a frame counts as a valid one for
   * firstFrameTimeout, idleTimeout and eviction (a NAK or DUH can be had for any frame with a correct CRC, which
   * anyone can compute). A datagram's answer goes back to its sender.
   */
  | { kind: 'answers'; answers: PackedBatch; accepted: number[] }
  /** Would a new connection from `host` be refused now (the burst rule of CapacityAlarm asks, seconds after a refusal)? */
  | { kind: 'refuses'; query: number; host: string }
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
