import Database from 'better-sqlite3';
import { vi } from 'vitest';

/** A statement run by a connection opened while spying: its SQL text and the parameters it ran with. */
export interface StatementRun {
  source: string;
  args: unknown[];
}

/**
 * Records every statement run (get, all, run, iterate) by any better-sqlite3 connection opened after this call, in
 * the returned array (emptied by the caller between checks); undone by `vi.restoreAllMocks()`.
 */
export function spyOnStatements(): StatementRun[] {
  const runs: StatementRun[] = [];
  const prepare = Database.prototype.prepare;
  vi.spyOn(Database.prototype, 'prepare').mockImplementation(function (this: Database.Database, source: string) {
    const statement = prepare.call(this, source) as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const method of ['get', 'all', 'run', 'iterate']) {
      const original = statement[method]!;
      statement[method] = (...args: unknown[]) => {
        runs.push({ source, args });
        return original.apply(statement, args);
      };
    }
    return statement as unknown as Database.Statement;
  });
  return runs;
}
