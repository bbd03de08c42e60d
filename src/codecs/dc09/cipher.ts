import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto';

/** DC-09 encrypts with AES-CBC and an all-zero IV (DC-09-2007 §5.4.6); the key size picks the variant. */
const ZERO_IV = Buffer.alloc(16);

const BLOCK = 16;

export function aesCbcName(key: Uint8Array): 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc' | undefined {
  switch (key.length) {
    case 16: return 'aes-128-cbc';
    case 24: return 'aes-192-cbc';
    case 32: return 'aes-256-cbc';
    default: return undefined;
  }
}

/**
 * One AES-CBC context per key and direction, kept from frame to frame: creating a context costs more than the
 * decryption it does (about 5.4 µs a frame against 1.3 for 64 bytes). A kept context chains each message on the
 * last ciphertext block of the one before, where DC-09 starts every message from a zero IV; since CBC only XORs
 * that block into the first one, it is taken back out: XORed into the first plaintext block before encryption,
 * and out of the first decrypted block after. The output is exactly that of a fresh context with a zero IV.
 */
class ChainedCbc {
  private encryptor: Cipher | undefined;
  private decryptor: Decipher | undefined;
  /** The last ciphertext block each context has seen: its chaining state. */
  private readonly encryptChain = Buffer.alloc(BLOCK);
  private readonly decryptChain = Buffer.alloc(BLOCK);

  constructor(
    private readonly key: Uint8Array,
    private readonly algorithm: string,
  ) {}

  encrypt(plaintext: Uint8Array): Buffer {
    const input = Buffer.from(plaintext);
    for (let i = 0; i < BLOCK; i++) input[i]! ^= this.encryptChain[i]!;
    this.encryptor ??= createCipheriv(this.algorithm, this.key, ZERO_IV).setAutoPadding(false);
    const output = this.encryptor.update(input);
    output.copy(this.encryptChain, 0, output.length - BLOCK);
    return output;
  }

  decrypt(ciphertext: Uint8Array): Buffer {
    this.decryptor ??= createDecipheriv(this.algorithm, this.key, ZERO_IV).setAutoPadding(false);
    const output = this.decryptor.update(ciphertext);
    for (let i = 0; i < BLOCK; i++) output[i]! ^= this.decryptChain[i]!;
    this.decryptChain.set(ciphertext.subarray(ciphertext.length - BLOCK));
    return output;
  }
}

/**
 * Contexts by key object (the configuration's keys live as long as the gateway). Bounded: past this many keys
 * the oldest context is dropped, and a frame under its key builds a new one, as every frame did before.
 */
const MAX_KEPT_KEYS = 1024;
const contexts = new Map<Uint8Array, ChainedCbc>();

/** The kept context of `key`, made on first use. */
function contextOf(key: Uint8Array, algorithm: string): ChainedCbc {
  let context = contexts.get(key);
  if (context === undefined) {
    if (contexts.size >= MAX_KEPT_KEYS) contexts.delete(contexts.keys().next().value!);
    context = new ChainedCbc(key, algorithm);
    contexts.set(key, context);
  }
  return context;
}

/** Runs `work` on the kept context of `key`; a throw leaves its chain unknown, so the context is dropped. */
function inContext(key: Uint8Array, algorithm: string, bytes: Uint8Array, work: (context: ChainedCbc, bytes: Uint8Array) => Buffer): Buffer {
  // A partial block would stay inside the context and shift the chain of every later message under the key.
  if (bytes.length === 0 || bytes.length % BLOCK !== 0) throw new RangeError(`AES-CBC data must be whole 16-byte blocks, not ${bytes.length} bytes`);
  try {
    return work(contextOf(key, algorithm), bytes);
  } catch (error) {
    contexts.delete(key);
    throw error;
  }
}

const decrypt = (context: ChainedCbc, bytes: Uint8Array): Buffer => context.decrypt(bytes);
const encrypt = (context: ChainedCbc, bytes: Uint8Array): Buffer => context.encrypt(bytes);

/** Decrypts whole 16-byte blocks; DC-09 pads itself, so no PKCS#7 removal. The caller checks the key's size. */
export function decryptDc09(key: Uint8Array, ciphertext: Uint8Array, algorithm: string): Buffer {
  return inContext(key, algorithm, ciphertext, decrypt);
}

export function encryptDc09(key: Uint8Array, plaintext: Uint8Array, algorithm: string): Buffer {
  return inContext(key, algorithm, plaintext, encrypt);
}
