import fs from 'node:fs/promises';

/** Makes the data written to `file` so far durable; resolves once it is. */
export type SyncFile = (file: string) => Promise<void>;

/** fdatasync on libuv's thread pool: the event loop goes on answering frames meanwhile. */
export const syncFileData: SyncFile = async (file) => {
  const handle = await fs.open(file, 'r');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
};

/**
 * Syncs a file off the event loop after writes that need not be durable before anything is answered: the duress
 * ledger and the gateway's own audit records. A sync on the event loop stalls every frame behind it for the
 * length of an fsync, and only a duress causes those writes: a panel-side observer timing the answers to its own
 * frames would see that one was sent. At most one sync runs, and requests meanwhile share the next.
 */
export class BackgroundSync {
  private running: Promise<void> | undefined;
  private again = false;
  /** Called once the next sync succeeds. */
  private waiting: Array<() => void> = [];

  constructor(
    private readonly file: string,
    private readonly sync: SyncFile,
    /** Told of a failed sync (the data may not survive a power loss); the next request tries again. */
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Syncs now, or right after the sync that is running; `onSynced` is called once a sync that began after this call succeeded. */
  request(onSynced?: () => void): void {
    if (onSynced !== undefined) this.waiting.push(onSynced);
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    const covered = this.waiting;
    this.waiting = [];
    this.running = this.sync(this.file).then(
      () => this.notify(covered),
      (error: unknown) => {
        // A file not created yet, or removed by its own close (a WAL), holds nothing to sync.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return this.notify(covered);
        // The next request's sync covers what this one did not.
        this.waiting.unshift(...covered);
        this.onError(error);
      },
    );
    void this.running.finally(() => {
      this.running = undefined;
      if (!this.again) return;
      this.again = false;
      this.request();
    });
  }

  private notify(callbacks: ReadonlyArray<() => void>): void {
    for (const synced of callbacks) {
      try {
        synced();
      } catch (error) {
        this.onError(error);
      }
    }
  }

  /** Resolves once no sync is running or requested. */
  async settled(): Promise<void> {
    while (this.running !== undefined) await this.running.catch(() => {}).then(() => new Promise((resolve) => setImmediate(resolve)));
  }
}
