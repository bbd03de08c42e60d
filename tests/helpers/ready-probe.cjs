// Preloaded into a gateway child (`--require`): when the "gateway ready" log line is written, reports on stderr
// how many SIGTERM listeners the process has at that moment (pino writes through fs, sonic-boom's writeSync/write).
const fs = require('node:fs');
let reported = false;
const probe = (data) => {
  if (reported || !String(data).includes('gateway ready')) return;
  reported = true;
  fs.writeSync(2, `ready-probe: ${process.listenerCount('SIGTERM')} SIGTERM listeners\n`);
};
for (const name of ['writeSync', 'write']) {
  const original = fs[name];
  fs[name] = function (fd, data, ...rest) {
    probe(data);
    return original.call(this, fd, data, ...rest);
  };
}
const stdoutWrite = process.stdout.write;
process.stdout.write = function (chunk, ...rest) {
  probe(chunk);
  return stdoutWrite.call(this, chunk, ...rest);
};
