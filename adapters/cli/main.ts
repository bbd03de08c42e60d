#!/usr/bin/env node
// The entry point imports only Node's own modules and the exit codes until it knows the process may open enough
// files: Node's module loader reads the CLI's modules many at a time, and under a low `ulimit -n` it died with an
// EMFILE stack trace naming some library file.
import { readFileSync } from 'node:fs';
import { EXIT_CONFIG } from './exit-codes.js';

/**
 * The open files the CLI needs at least: loading it takes about 110 at once, and what is left is the gateway's room
 * for panels, API clients, the outbox and its logs. systemd's default (1024, which Node raises to the hard limit) is
 * far above it.
 */
const MIN_OPEN_FILES = 256;

/** The process's soft RLIMIT_NOFILE; undefined where /proc does not tell (not Linux) or it is unlimited. */
function openFilesLimit(): number | undefined {
  try {
    const soft = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    return soft === undefined ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

const limit = openFilesLimit();
if (limit !== undefined && limit < MIN_OPEN_FILES) {
  process.stderr.write(`panelbridge: the process may open ${limit} files, it needs at least ${MIN_OPEN_FILES}: raise LimitNOFILE (systemd) or ulimit -n\n`);
  // A limit the service was given: restarting cannot raise it, as with a bad configuration (RestartPreventExitStatus).
  process.exit(EXIT_CONFIG);
}
await import('./program.js');
