// Crash-test child: appends forever from many concurrent appenders and prints "<seq> <event id>" on stdout
// after each append resolves (stdout to a pipe is synchronous on Linux, so a printed line was really
// acknowledged). The parent SIGKILLs it mid-stream and checks every printed seq survived.
// Usage: node --import ./register-ts.mjs crash-appender.mjs <dataDir> <output>
const { SqliteOutbox } = await import(new URL('../../src/outbox/sqlite-outbox.js', import.meta.url).href);
const { outboxTestEvent } = await import(new URL('./outbox-events.js', import.meta.url).href);

const [dataDir, output] = process.argv.slice(2);
const outbox = SqliteOutbox.open({ dataDir });
outbox.registerOutputs([output]);

const APPENDERS = 25;
let next = 0;
async function appender(worker) {
  for (;;) {
    const id = `crash-${worker}-${next++}`;
    const result = await outbox.append([outboxTestEvent({ id, account: `${1000 + worker}`, receivedAt: Date.now() })]);
    process.stdout.write(`${result.entries[0].seq} ${id}\n`);
  }
}
for (let worker = 0; worker < APPENDERS; worker += 1) void appender(worker);
