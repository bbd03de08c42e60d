import type net from 'node:net';

/**
 * Once `server` listens, an 'error' it emits is an accept that failed (EMFILE: the process is out of file
 * descriptors, past libuv's spare one): that connection is lost, the listener and its connections stay. Unheard,
 * Node throws it and the process dies of a connection flood. Before listening, the error is the caller's to await.
 */
export function onAcceptFailed(server: net.Server, failed: (error: NodeJS.ErrnoException) => void): void {
  server.on('error', (error: NodeJS.ErrnoException) => {
    if (server.listening) failed(error);
  });
}

/** What an accept that failed with `code` (EMFILE, ENFILE) means, for log lines and health details. */
export function notAccepted(code: string | undefined): string {
  return `not accepted (${code}): the process may be out of file descriptors (LimitNOFILE)`;
}
