import { readFileSync } from 'node:fs';

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
