/** AES key text + declared encoding → key bytes. A DC-09 CSR supports AES-128, -192 and -256. */
export type KeyResult = { ok: true; bytes: Uint8Array } | { ok: false; message: string };

const AES_SIZES = [16, 24, 32];

export function decodeKey(text: string, encoding: 'hex' | 'ascii'): KeyResult {
  const key = text.trim();
  if (encoding === 'hex') {
    if (!/^(?:[0-9A-Fa-f]{2})+$/.test(key)) return { ok: false, message: 'a hex key has an even number of hex digits' };
    const bytes = Buffer.from(key, 'hex');
    return AES_SIZES.includes(bytes.length)
      ? { ok: true, bytes }
      : { ok: false, message: `a hex key is 32, 48 or 64 hex digits (AES-128/192/256), got ${key.length}` };
  }
  const bytes = Buffer.from(key, 'latin1');
  return AES_SIZES.includes(bytes.length)
    ? { ok: true, bytes }
    : { ok: false, message: `an ascii key is 16, 24 or 32 characters (AES-128/192/256), got ${key.length}` };
}
