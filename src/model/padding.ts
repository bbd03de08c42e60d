/**
 * Size buckets for what central outputs send. Their links are encrypted, but an observer of them still sees how many
 * bytes each message takes, and a duress event is longer than the ordinary alarm beside it (its reasons, the
 * `incident` id, a substitute code's note): padded to a multiple of a bucket, both take the same bytes.
 */

/** The smallest multiple of `bucket` that holds `bytes`; `bytes` itself when `bucket` is 0 (no padding). */
export function bucketSize(bytes: number, bucket: number): number {
  if (bucket <= 0) return bytes;
  return Math.max(bucket, Math.ceil(bytes / bucket) * bucket);
}

/**
 * JSON text with `extra` spaces after it. RFC 8259 §2 allows whitespace after the value, so every JSON parser reads
 * the same event, and the event schema is untouched (no field is added).
 */
export function padJson(json: string, extra: number): string {
  return extra > 0 ? json + ' '.repeat(extra) : json;
}
