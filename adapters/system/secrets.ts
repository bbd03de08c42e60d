import { readFileSync } from 'node:fs';
import { errorText } from '../../src/errors.js';
import { decodeKey } from '../../src/settings/keys.js';

/**
 * A secret given inline, in a file (its first line: editors and `echo` add a newline) or in an environment
 * variable. Used for AES keys, MQTT passwords, webhook and access-input secrets alike.
 */
export function readSecret(source: { value?: string | undefined; file?: string | undefined; env?: string | undefined }): string | undefined {
  if (source.value !== undefined) return source.value;
  if (source.file !== undefined) return readFileSync(source.file, 'utf8').split(/\r?\n/)[0] ?? '';
  if (source.env !== undefined) {
    const value = process.env[source.env];
    if (value === undefined) throw new Error(`environment variable ${source.env} is not set`);
    return value;
  }
  return undefined;
}

/** Where a key came from, as the configuration and the simulator's options both write it. */
export interface KeySource {
  key?: string | undefined;
  keyFile?: string | undefined;
  keyEnv?: string | undefined;
}

/** The key's bytes (undefined when none is given), or what is wrong: with its source, or with the key itself. */
export type KeyResolution = { ok: true; key: Uint8Array | undefined } | { ok: false; at: 'source' | 'key'; message: string };

/** An AES key from one of key, keyFile or keyEnv in the declared encoding: the gateway and the simulator read keys alike. */
export function resolveKey(source: KeySource, encoding: 'hex' | 'ascii' | undefined): KeyResolution {
  const given = [source.key, source.keyFile, source.keyEnv].filter((s) => s !== undefined).length;
  if (given > 1) return { ok: false, at: 'source', message: 'give only one of key, keyFile, keyEnv' };
  let text: string | undefined;
  try {
    text = readSecret({ value: source.key, file: source.keyFile, env: source.keyEnv });
  } catch (error) {
    return { ok: false, at: 'source', message: errorText(error) };
  }
  if (text === undefined) return { ok: true, key: undefined };
  if (encoding === undefined) return { ok: false, at: 'key', message: 'keyEncoding (hex or ascii) is required with a key' };
  const key = decodeKey(text, encoding);
  return key.ok ? { ok: true, key: key.bytes } : { ok: false, at: 'key', message: key.message };
}
