/**
 * Byte runs gathered one at a time, then packed into one buffer with where each run ends: what crosses between
 * threads as one transferable buffer instead of a message (and a copy) per run.
 */
export class PackedBytesBuilder {
  private chunks: Uint8Array[] = [];
  private length = 0;

  add(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  /** The runs so far, packed: run i is `bytes` from `ends[i - 1]` (0 for the first) to `ends[i]`. Starts empty again. */
  take(): { bytes: Uint8Array<ArrayBuffer>; ends: Int32Array<ArrayBuffer> } {
    const bytes = new Uint8Array(this.length);
    const ends = new Int32Array(this.chunks.length);
    let end = 0;
    for (let i = 0; i < this.chunks.length; i++) {
      const chunk = this.chunks[i]!;
      bytes.set(chunk, end);
      end += chunk.length;
      ends[i] = end;
    }
    this.chunks = [];
    this.length = 0;
    return { bytes, ends };
  }
}
