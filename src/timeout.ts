/** `work`'s result, or `'timeout'` once `ms` have passed first; the timer never outlives the race. */
export async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * How long a write to the gateway's own SQLite files waits for a lock another process holds (an operator's
 * `sqlite3` in a transaction): the wait blocks the event loop, every input and the API with it, so it is short and
 * the write fails as busy instead (the frame is NAKed and sent again; a mark is retried). SQLite's default is 5 s.
 */
export const SQLITE_BUSY_TIMEOUT_MS = 100;
