// Preloaded into a gateway child (node --import): each TCP server listening on a worker thread (the DC-09 socket
// worker) emits, once listening, ACCEPT_FAILURES accept errors as Node emits them when libuv cannot accept a
// connection past its spare descriptor (EMFILE). The main thread's listeners are left alone.
import net from 'node:net';
import { isMainThread } from 'node:worker_threads';

export const ACCEPT_FAILURES = 100;

if (!isMainThread) {
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (...args) {
    this.once('listening', () => {
      const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' });
      for (let i = 0; i < ACCEPT_FAILURES; i++) this.emit('error', emfile);
    });
    return listen.apply(this, args);
  };
}
