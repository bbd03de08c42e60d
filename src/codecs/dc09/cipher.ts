import { createCipheriv, createDecipheriv } from 'node:crypto';

/** DC-09 encrypts with AES-CBC and an all-zero IV (DC-09-2007 §5.4.6); the key size picks the variant. */
const ZERO_IV = Buffer.alloc(16);

export function aesCbcName(key: Uint8Array): 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc' | undefined {
  switch (key.length) {
    case 16: return 'aes-128-cbc';
    case 24: return 'aes-192-cbc';
    case 32: return 'aes-256-cbc';
    default: return undefined;
  }
}

/** Decrypts whole 16-byte blocks; DC-09 pads itself, so no PKCS#7 removal. The caller checks key size and length. */
export function decryptDc09(key: Uint8Array, ciphertext: Uint8Array, algorithm: string): Buffer {
  const decipher = createDecipheriv(algorithm, key, ZERO_IV).setAutoPadding(false);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

export function encryptDc09(key: Uint8Array, plaintext: Uint8Array, algorithm: string): Buffer {
  const cipher = createCipheriv(algorithm, key, ZERO_IV).setAutoPadding(false);
  return Buffer.concat([cipher.update(plaintext), cipher.final()]);
}
