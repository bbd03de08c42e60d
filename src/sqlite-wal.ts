import fs from 'node:fs';
import type Database from 'better-sqlite3';

/**
 * Bounds what a WAL-mode database leaves on disk. SQLite checkpoints its WAL once it holds `wal_autocheckpoint`
 * pages, but a read transaction another process holds (an operator's `sqlite3` shell, a backup) keeps it from
 * starting over, so it grows meanwhile; and SQLite then reuses the file at its peak size instead of shrinking it.
 * Limited to the checkpoint size, it is truncated back at the first checkpoint after that transaction ends.
 * Returns that size in bytes.
 */
export function limitWalSize(db: Database.Database): number {
  const checkpointBytes = (db.pragma('page_size', { simple: true }) as number) * (db.pragma('wal_autocheckpoint', { simple: true }) as number);
  db.pragma(`journal_size_limit = ${checkpointBytes}`);
  return checkpointBytes;
}

/** The size of `file`'s WAL, 0 when there is none. */
export function walBytes(file: string): number {
  try {
    return fs.statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
}
