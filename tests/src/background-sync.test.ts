import { describe, expect, it } from 'vitest';
import { BackgroundSync } from '../../src/background-sync.js';

/** A sync that waits until the test lets it finish, recording each one it was asked for. */
function gatedSync() {
  const started: Array<{ file: string; finish: (error?: Error) => void }> = [];
  const sync = (file: string) =>
    new Promise<void>((resolve, reject) => started.push({ file, finish: (error) => (error === undefined ? resolve() : reject(error)) }));
  return { started, sync };
}

describe('BackgroundSync', () => {
  it('runs one sync at a time: requests while one runs share the next', async () => {
    const { started, sync } = gatedSync();
    const background = new BackgroundSync('/data/audit.jsonl', sync, () => {});
    background.request();
    background.request();
    background.request();
    expect(started.map((s) => s.file)).toEqual(['/data/audit.jsonl']);
    started[0]!.finish();
    await new Promise((resolve) => setImmediate(resolve));
    // The writes requested meanwhile may not have been covered by the running sync: one more, not two.
    expect(started).toHaveLength(2);
    started[1]!.finish();
    await background.settled();
    expect(started).toHaveLength(2);
  });

  it('reports a failed sync, and takes a file not there (a WAL its close removed) as nothing to sync', async () => {
    const { started, sync } = gatedSync();
    const errors: unknown[] = [];
    const background = new BackgroundSync('/data/assurance.sqlite-wal', sync, (error) => errors.push(error));
    background.request();
    started[0]!.finish(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    await background.settled();
    background.request();
    started[1]!.finish(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' }));
    await background.settled();
    expect(errors.map((e) => (e as Error).message)).toEqual(['EIO: i/o error']);
  });

  it("calls back once a sync that began after the request succeeded; a failed sync's callbacks wait for the next", async () => {
    const { started, sync } = gatedSync();
    const background = new BackgroundSync('/data/audit.jsonl', sync, () => {});
    const synced: string[] = [];
    background.request(() => synced.push('first'));
    background.request(() => synced.push('second, written while the first sync ran'));
    started[0]!.finish();
    await new Promise((resolve) => setImmediate(resolve));
    expect(synced).toEqual(['first']);
    started[1]!.finish(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    await background.settled();
    expect(synced).toEqual(['first']);
    background.request();
    started[2]!.finish();
    await background.settled();
    expect(synced).toEqual(['first', 'second, written while the first sync ran']);
  });
});
