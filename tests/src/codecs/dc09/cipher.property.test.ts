import { createCipheriv, createDecipheriv } from 'node:crypto';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { aesCbcName, decryptDc09, encryptDc09 } from '../../../../src/codecs/dc09/cipher.js';

/** What DC-09 specifies, computed the plain way: a fresh AES-CBC context with a zero IV for every message. */
function reference(direction: 'encrypt' | 'decrypt', key: Uint8Array, bytes: Uint8Array): Buffer {
  const algorithm = aesCbcName(key)!;
  const context = (direction === 'encrypt' ? createCipheriv : createDecipheriv)(algorithm, key, Buffer.alloc(16)).setAutoPadding(false);
  return Buffer.concat([context.update(bytes), context.final()]);
}

const keyOf = fc.constantFrom(16, 24, 32).chain((size) => fc.uint8Array({ minLength: size, maxLength: size }));
const blocks = fc.integer({ min: 1, max: 6 }).chain((count) => fc.uint8Array({ minLength: 16 * count, maxLength: 16 * count }));

describe('DC-09 AES-CBC with kept contexts', () => {
  test.prop([fc.array(keyOf, { minLength: 1, maxLength: 3 }), fc.array(fc.tuple(fc.nat(), fc.boolean(), blocks), { minLength: 1, maxLength: 30 })])(
    'every message comes out as under a fresh zero-IV context, whatever the messages before it under the same key',
    (keys, messages) => {
      for (const [which, encrypt, bytes] of messages) {
        const key = keys[which % keys.length]!;
        const algorithm = aesCbcName(key)!;
        if (encrypt) expect(encryptDc09(key, bytes, algorithm)).toEqual(reference('encrypt', key, bytes));
        else expect(decryptDc09(key, bytes, algorithm)).toEqual(reference('decrypt', key, bytes));
      }
    },
  );

  test.prop([keyOf, blocks])('decrypts what it encrypted, and leaves the caller\'s plaintext as it was', (key, plaintext) => {
    const algorithm = aesCbcName(key)!;
    const copy = Uint8Array.from(plaintext);
    const ciphertext = encryptDc09(key, plaintext, algorithm);
    expect(plaintext).toEqual(copy);
    expect(decryptDc09(key, ciphertext, algorithm)).toEqual(Buffer.from(plaintext));
  });

  it('refuses a partial block without disturbing the next message under the key', () => {
    const key = new Uint8Array(16).fill(7);
    const algorithm = aesCbcName(key)!;
    const message = new Uint8Array(32).fill(1);
    expect(decryptDc09(key, message, algorithm)).toEqual(reference('decrypt', key, message));
    expect(() => decryptDc09(key, new Uint8Array(20), algorithm)).toThrow(RangeError);
    expect(() => encryptDc09(key, new Uint8Array(0), algorithm)).toThrow(RangeError);
    expect(decryptDc09(key, message, algorithm)).toEqual(reference('decrypt', key, message));
    expect(encryptDc09(key, message, algorithm)).toEqual(reference('encrypt', key, message));
  });

  it('stays exact past the number of keys it keeps contexts for', () => {
    const message = new Uint8Array(48).fill(3);
    const keys = Array.from({ length: 1100 }, (_, i) => Uint8Array.from({ length: 16 }, (_, j) => (i * 31 + j) & 0xff));
    for (let round = 0; round < 2; round++) {
      for (const key of keys) expect(encryptDc09(key, message, 'aes-128-cbc')).toEqual(reference('encrypt', key, message));
    }
  });
});
