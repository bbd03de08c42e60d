import type { ErrorCode } from '../errors.js';

/** What a stream framer yields: whole frames, or bytes it had to throw away (logged and counted). */
export type FramerOutput =
  | { kind: 'frame'; bytes: Uint8Array }
  | { kind: 'discarded'; bytes: Uint8Array; reason: Extract<ErrorCode, `FRAME_${string}`> };

/** A stateful, I/O-free splitter of a byte stream into frames; bounded by its maximum frame size. */
export interface Framer {
  push(chunk: Uint8Array): FramerOutput[];
  /** Drops a partial frame (idle timeout); returns it as discarded when there was one. */
  flush(): FramerOutput[];
}
