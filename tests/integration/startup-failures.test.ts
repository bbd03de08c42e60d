import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, openSync, readFileSync, statSync, symlinkSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { OUTBOX_FILE_NAME, PAGE_SIZE, SqliteOutbox } from '../../src/outbox/sqlite-outbox.js';
import { ASSURANCE_FILE_NAME } from '../../src/assurance/store.js';
import { freePort } from '../helpers/broker.js';
import { outboxTestEvent } from '../helpers/outbox-events.js';
import { CLI, GatewayProcess, tempDir, writeConfig } from '../helpers/gateway-process.js';
import { panelFrame, parseAnswer, TcpPanel } from '../helpers/panel.js';

const execFileAsync = promisify(execFile);

interface Outcome {
  code: number;
  stdout: string[];
  stderr: string[];
}

async function cli(args: string[], timeoutMs = 15_000): Promise<Outcome> {
  const split = (text: string) => text.split('\n').filter((line) => line !== '');
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [CLI, ...args], { timeout: timeoutMs });
    return { code: 0, stdout: split(stdout), stderr: split(stderr) };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: split(e.stdout), stderr: split(e.stderr) };
  }
}

/** A configuration that logs to stdout (no stdout output): its log lines and its stderr lines are apart. */
async function baseConfig(dir: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return {
    dataDir: path.join(dir, 'var'),
    inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port: await freePort(), udp: false }],
    outputs: [{ type: 'webhook', name: 'hook', url: `http://127.0.0.1:${await freePort()}/events`, secret: 'whsec_c2VjcmV0LWZvci10ZXN0cw==' }],
    ...extra,
  };
}

/** One error log line on stdout, one line on stderr, both naming `what`, no stack trace anywhere. */
function expectCleanFailure(outcome: Outcome, exitCode: number, what: RegExp): void {
  expect(outcome.code).toBe(exitCode);
  const errors = outcome.stdout.filter((line) => line.includes('"level":50'));
  expect(errors).toHaveLength(1);
  expect(JSON.parse(errors[0]!).msg).toMatch(what);
  expect(outcome.stderr).toHaveLength(1);
  expect(outcome.stderr[0]).toMatch(what);
  for (const line of [...outcome.stdout, ...outcome.stderr]) expect(line).not.toMatch(/\n\s+at |^\s+at |"stack"/);
}

describe('start-up failures: one line naming the problem and the fix, a sysexits status, no stack trace', () => {
  const running: GatewayProcess[] = [];
  afterEach(async () => {
    for (const gateway of running.splice(0)) {
      gateway.kill('SIGKILL');
      await gateway.exited;
    }
  });

  it('a DC-09 port in use: 75, naming inputs[0].port', async () => {
    const dir = tempDir('port-in-use');
    const holder = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => holder.once('listening', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const config = await baseConfig(dir, { inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port, udp: false }] });
      expectCleanFailure(await cli(['run', '--config', writeConfig(dir, config)]), 75, /DC-09 input "ip" on 127.0.0.1:\d+: the port is already in use: .*set inputs\[0\]\.port to a free port/);
    } finally {
      holder.close();
    }
  });

  it('an automation output port in use: 75, naming outputs[0].port', async () => {
    const dir = tempDir('automation-port');
    const holder = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => holder.once('listening', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const config = await baseConfig(dir, { outputs: [{ type: 'automation', name: 'mas', host: '127.0.0.1', port }] });
      expectCleanFailure(await cli(['run', '--config', writeConfig(dir, config)]), 75, /automation output "mas" on 127.0.0.1:\d+: the port is already in use: .*set outputs\[0\]\.port to a free port/);
    } finally {
      holder.close();
    }
  });

  it('a dc09 output whose keyFile is missing: check and run both stop with 78, naming the file', async () => {
    const dir = tempDir('dc09-key');
    const config = await baseConfig(dir, {
      outputs: [{ type: 'dc09', name: 'arc', primary: `tcp://127.0.0.1:${await freePort()}`, account: '9876', keyFile: '/nonexistent/arc.key', keyEncoding: 'hex' }],
    });
    const file = writeConfig(dir, config);
    const checked = await cli(['check', '--config', file]);
    expect(checked.code).toBe(78);
    expect(checked.stdout.join('\n')).toMatch(/error outputs\[0\]\.keyFile: \/nonexistent\/arc\.key does not exist/);
    expectCleanFailure(await cli(['run', '--config', file]), 78, /\/nonexistent\/arc\.key/);
  });

  it('a dc09 output whose keyFile holds no usable key: check and run both stop with 78, naming the output', async () => {
    const dir = tempDir('dc09-bad-key');
    const keyFile = path.join(dir, 'arc.key');
    writeFileSync(keyFile, '0011\n', { mode: 0o600 });
    const config = await baseConfig(dir, {
      outputs: [{ type: 'dc09', name: 'arc', primary: `tcp://127.0.0.1:${await freePort()}`, account: '9876', keyFile, keyEncoding: 'hex' }],
    });
    const file = writeConfig(dir, config);
    const checked = await cli(['check', '--config', file]);
    expect(checked.code).toBe(78);
    expect(checked.stdout.join('\n')).toMatch(/error outputs\[0\]\.key: a hex key is 32, 48 or 64 hex digits/);
    expectCleanFailure(await cli(['run', '--config', file]), 78, /dc09 output "arc": a hex key is 32, 48 or 64 hex digits/);
  });

  it('a dataDir that cannot be created: 73, naming dataDir', async () => {
    const dir = tempDir('datadir');
    const file = path.join(dir, 'a-file');
    writeFileSync(file, 'not a directory');
    const config = await baseConfig(dir, { dataDir: path.join(file, 'var') });
    expectCleanFailure(await cli(['run', '--config', writeConfig(dir, config)]), 73, /dataDir .*cannot be created/);
  });

  // The installer made dataDir for the gateway, but not as its owner: it cannot narrow the mode, and every other
  // account could list it and watch audit.jsonl grow the moment a duress is stored (or, with write access, replace
  // the outbox's files).
  it.skipIf(process.getuid?.() !== 0)("a dataDir open to other users that the gateway's user does not own: 73, naming the mode", async () => {
    for (const mode of [0o777, 0o755]) {
      const dir = tempDir('datadir-open');
      const dataDir = path.join(dir, 'var');
      mkdirSync(dataDir);
      chmodSync(dataDir, mode);
      chownSync(dataDir, 65534, 0);
      const config = await baseConfig(dir, { dataDir });
      expectCleanFailure(await cli(['run', '--config', writeConfig(dir, config)]), 73, new RegExp(`dataDir .*var is open to other users \\(mode 0${mode.toString(8)}\\)`));
      expect(existsSync(path.join(dataDir, 'outbox.sqlite'))).toBe(false);
    }
  });

  // A local user who can rename or replace a directory on the way to dataDir (or the link that is dataDir) can point
  // the gateway at a store of their own: events written where they read them, an outbox they emptied.
  it('a dataDir that is a symbolic link: 73, naming where it points', async () => {
    const dir = tempDir('datadir-link');
    const real = path.join(dir, 'real');
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, path.join(dir, 'var'));
    const config = await baseConfig(dir);
    expectCleanFailure(await cli(['run', '--config', writeConfig(dir, config)]), 73, new RegExp(`dataDir .*var is a symbolic link \\(to ${real}\\)`));
    expect(existsSync(path.join(real, 'outbox.sqlite'))).toBe(false);
    // The commands that read or add to the gateway's state refuse it alike.
    const token = await cli(['token', 'create', '--config', writeConfig(dir, config), '--role', 'viewer', '--name', 'ops']);
    expect(token).toMatchObject({ code: 73, stderr: [expect.stringMatching(/dataDir .*var is a symbolic link/)] });
  });

  it('a dataDir below a directory other users may write (not sticky): 73, naming that directory', async () => {
    const dir = tempDir('datadir-parent-open');
    const shared = path.join(dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    const config = await baseConfig(dir, { dataDir: path.join(shared, 'var') });
    expectCleanFailure(await cli(['run', '--config', writeConfig(dir, config)]), 73, new RegExp(`dataDir .*shared/var: ${shared} may be written by other users \\(mode 0777\\)`));
  });

  it.skipIf(process.getuid?.() !== 0)('a dataDir below a directory another user owns: 73, naming that directory and its owner', async () => {
    const dir = tempDir('datadir-parent-owned');
    const theirs = path.join(dir, 'theirs');
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, 65534, 65534);
    const config = await baseConfig(dir, { dataDir: path.join(theirs, 'var') });
    expectCleanFailure(await cli(['run', '--config', writeConfig(dir, config)]), 73, new RegExp(`dataDir .*theirs/var: ${theirs} is owned by another user \\(uid 65534\\)`));
  });

  // The unit's layout: StateDirectory /var/lib/panelbridge and dataDir in it, both the service user's; root runs the
  // admin commands on it.
  it.skipIf(process.getuid?.() !== 0)("a dataDir below its owner's directory passes for root's admin commands", async () => {
    const dir = tempDir('datadir-service-layout');
    const state = path.join(dir, 'state');
    const dataDir = path.join(state, 'var');
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(path.join(dataDir, 'gateway.lock'), '');
    for (const owned of [state, dataDir]) chownSync(owned, 65534, 65534);
    const config = await baseConfig(dir, { dataDir });
    const token = await cli(['token', 'create', '--config', writeConfig(dir, config), '--role', 'viewer', '--name', 'ops']);
    expect(token.code).toBe(0);
  });

  it("an embedded broker whose subscriber password cannot be read: 69, naming the output and the file", async () => {
    const dir = tempDir('mqtt-password');
    mkdirSync(path.join(dir, 'var', 'mqtt-password'), { recursive: true });
    const config = await baseConfig(dir, { outputs: [{ type: 'mqtt', name: 'broker', url: 'embedded', embeddedPort: await freePort() }] });
    expectCleanFailure(await cli(['run', '--config', writeConfig(dir, config)]), 69, /output "broker": cannot read or create the subscriber password .*var\/mqtt-password \(EISDIR\)/);
  });

  // A local user plants a FIFO at the capture path: opening it would wait for a reader (the gateway never starts), and
  // once the user reads it, every frame, duress included, would be theirs.
  it.skipIf(process.getuid?.() !== 0)("a FIFO another user planted at the --capture path: 73 at once, naming --capture", async () => {
    const dir = tempDir('capture-fifo');
    const capture = path.join(dir, 'capture.jsonl');
    await execFileAsync('mkfifo', ['-m', '0666', capture]);
    chownSync(capture, 65534, 65534);
    const config = await baseConfig(dir);
    expectCleanFailure(await cli(['run', '--config', writeConfig(dir, config), '--capture', capture], 5_000), 73, /--capture .*capture\.jsonl /);
  });

  it('a --capture file that cannot be created: 73, naming --capture', async () => {
    const dir = tempDir('capture-path');
    const config = await baseConfig(dir);
    const capture = path.join(dir, 'missing-dir', 'capture.jsonl');
    expectCleanFailure(await cli(['run', '--config', writeConfig(dir, config), '--capture', capture]), 73, /--capture .*capture\.jsonl cannot be created or written \(ENOENT\)/);
  });

  it('a missing MQTT passwordFile or ca: check reports it (78) and run stops with 78 before starting anything', async () => {
    const dir = tempDir('missing-files');
    const config = await baseConfig(dir, {
      outputs: [{ type: 'mqtt', name: 'broker', url: `mqtts://127.0.0.1:${await freePort()}`, username: 'bridge', passwordFile: '/nonexistent/mqtt-password', ca: '/nonexistent/ca.crt' }],
    });
    const file = writeConfig(dir, config);
    const checked = await cli(['check', '--config', file]);
    expect(checked.code).toBe(78);
    expect(checked.stdout.join('\n')).toMatch(/error outputs\[0\]\.passwordFile: \/nonexistent\/mqtt-password does not exist/);
    expect(checked.stdout.join('\n')).toMatch(/error outputs\[0\]\.ca: \/nonexistent\/ca\.crt does not exist/);

    expectCleanFailure(await cli(['run', '--config', file]), 78, /outputs\[0\]\.passwordFile.*outputs\[0\]\.ca/);
    expect(existsSync(path.join(dir, 'var'))).toBe(false);
  });

  it('an API tls.cert that holds no certificate: check reports it (78) and run stops with 78, naming api.tls.cert', async () => {
    const dir = tempDir('tls-garbage');
    const garbage = path.join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n', { mode: 0o600 });
    const file = writeConfig(dir, await baseConfig(dir, { api: { host: '127.0.0.1', port: await freePort(), tls: { cert: garbage, key: garbage } } }));
    const checked = await cli(['check', '--config', file]);
    expect(checked.code).toBe(78);
    expect(checked.stdout.join('\n')).toContain(`error api.tls.cert: ${garbage} holds no PEM certificate`);
    expectCleanFailure(await cli(['run', '--config', file]), 78, /api\.tls\.cert: .*garbage\.pem holds no PEM certificate/);
  });

  describe('a state file in dataDir that is damaged or from a newer release: 65, naming the file and what to do, never started over empty', () => {
    /** dataDir with an outbox holding `count` events, as a gateway leaves it. */
    async function withEvents(dir: string, count: number): Promise<string> {
      const dataDir = path.join(dir, 'var');
      const outbox = SqliteOutbox.open({ dataDir });
      outbox.registerOutputs(['hook']);
      for (let i = 0; i < count; i++) await outbox.append([outboxTestEvent({ id: `e${i}`, account: '1234', receivedAt: Date.now() })]);
      outbox.close();
      return dataDir;
    }

    async function expectKeptAndRefused(dir: string, file: string, what: RegExp): Promise<void> {
      const before = readFileSync(file);
      expectCleanFailure(await cli(['run', '--config', writeConfig(dir, await baseConfig(dir))]), 65, what);
      expect(readFileSync(file).equals(before)).toBe(true);
    }

    it('an outbox that is not a SQLite database', async () => {
      const dir = tempDir('outbox-not-db');
      mkdirSync(path.join(dir, 'var'), { mode: 0o700 });
      const file = path.join(dir, 'var', OUTBOX_FILE_NAME);
      writeFileSync(file, 'x'.repeat(4096), { mode: 0o600 });
      await expectKeptAndRefused(dir, file, /outbox\.sqlite.*(not a database|damaged).*move it .*aside/);
    });

    /** An outbox of `events` events whose `table` has its root page overwritten, as a torn write leaves it. */
    async function tornOutbox(label: string, events: number, table: string): Promise<{ dir: string; file: string }> {
      const dir = tempDir(label);
      const file = path.join(await withEvents(dir, events), OUTBOX_FILE_NAME);
      const db = new Database(file);
      db.pragma('wal_checkpoint(TRUNCATE)');
      const root = db.prepare(`SELECT rootpage FROM sqlite_master WHERE name = ?`).pluck().get(table) as number;
      db.close();
      const fd = openSync(file, 'r+');
      writeSync(fd, Buffer.alloc(512, 0xff), 0, 512, (root - 1) * PAGE_SIZE);
      closeSync(fd);
      return { dir, file };
    }

    it('an outbox with a torn page', async () => {
      const { dir, file } = await tornOutbox('outbox-torn', 300, 'entry');
      await expectKeptAndRefused(dir, file, /outbox\.sqlite.*malformed.*move it .*aside/);
    });

    it('an outbox with a torn page in its cursors, which only registering the outputs reads', async () => {
      const { dir, file } = await tornOutbox('outbox-torn-cursor', 3, 'output_cursor');
      await expectKeptAndRefused(dir, file, /outbox\.sqlite.*malformed.*move it .*aside/);
    });

    it('an outbox written by a newer release', async () => {
      const dir = tempDir('outbox-newer');
      const file = path.join(await withEvents(dir, 1), OUTBOX_FILE_NAME);
      const db = new Database(file);
      db.pragma('user_version = 99');
      db.close();
      await expectKeptAndRefused(dir, file, /outbox\.sqlite.*schema version 99 is newer.*run that release/);
    });

    it('an assurance ledger that is not a SQLite database', async () => {
      const dir = tempDir('assurance-not-db');
      const file = path.join(await withEvents(dir, 1), ASSURANCE_FILE_NAME);
      writeFileSync(file, 'x'.repeat(4096), { mode: 0o600 });
      await expectKeptAndRefused(dir, file, /assurance\.sqlite.*not a database.*move it .*aside/);
    });
  });

  it('a second gateway on the same dataDir refuses to start (75) while the first keeps running', async () => {
    const dir = tempDir('locked');
    const first = GatewayProcess.spawn(writeConfig(dir, await baseConfig(dir)));
    running.push(first);
    await first.ready;
    const secondDir = tempDir('locked-second');
    const second = await baseConfig(secondDir, { dataDir: path.join(dir, 'var') });
    expectCleanFailure(await cli(['run', '--config', writeConfig(secondDir, second)]), 75, /in use by another running gateway/);
    expect(first.child.exitCode).toBeNull();
  });

  it('an outbox another process holds a write lock on (an operator\'s sqlite3 in a transaction): 75, naming the lock, not the permissions', async () => {
    const dir = tempDir('store-busy');
    const config = await baseConfig(dir);
    const dataDir = config.dataDir as string;
    SqliteOutbox.open({ dataDir }).close();
    const operator = new Database(path.join(dataDir, OUTBOX_FILE_NAME));
    try {
      operator.exec('BEGIN IMMEDIATE');
      // "make dataDir writable" sent the operator after permissions that were fine; systemd starts it again on 75.
      expectCleanFailure(await cli(['run', '--config', writeConfig(dir, config)]), 75, /outbox\.sqlite.*database is locked.*another process/);
    } finally {
      operator.close();
    }
  });
});

describe('files and secrets of a running gateway', () => {
  it('creates dataDir 0700 and every file it writes 0600; never logs URL credentials', async () => {
    const dir = tempDir('modes');
    const port = await freePort();
    const capture = path.join(dir, 'capture.jsonl');
    const config = {
      dataDir: path.join(dir, 'var'),
      inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port, udp: false }],
      outputs: [{ type: 'mqtt', name: 'broker', url: `mqtt://bridge:Url-Pa55-in-the-clear@127.0.0.1:${await freePort()}` }],
    };
    const gateway = GatewayProcess.spawn(writeConfig(dir, config), ['--capture', capture]);
    try {
      await gateway.ready;
      const panel = await TcpPanel.connect(port);
      expect(parseAnswer((await panel.send(panelFrame({ token: 'SIA-DCS', seq: '0001', account: '1234', data: '#1234|Nri1/BA01' })))!).token).toBe('ACK');
      panel.close();
      // The MQTT client has failed to connect (logged) by now.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
    } finally {
      gateway.kill('SIGTERM');
      await gateway.exited;
    }
    const mode = (file: string) => statSync(file).mode & 0o777;
    expect(mode(path.join(dir, 'var'))).toBe(0o700);
    for (const file of ['outbox.sqlite', 'assurance.sqlite', 'gateway.lock']) expect([file, mode(path.join(dir, 'var', file))]).toEqual([file, 0o600]);
    expect(mode(capture)).toBe(0o600);
    const output = [...gateway.stdout, ...gateway.stderr].join('\n');
    expect(output).toMatch(/broker not reachable|MQTT client error/);
    expect(output).not.toContain('Url-Pa55-in-the-clear');
  });
});
