import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { OUTBOX_FILE_NAME } from '../../src/outbox/sqlite-outbox.js';
import { apiFetch, tempDir } from '../helpers/gateway-process.js';
import { startDc09Gateway, type Dc09GatewayPorts } from '../helpers/dc09-gateway.js';

async function until(condition: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The disk under dataDir fills up (or turns read-only) while the gateway runs: simulated by a trigger, added from a
 * second connection, that makes every insert into the outbox fail as SQLITE_FULL would.
 */
describe('the outbox cannot write (disk full, read-only, I/O error) in a running gateway', () => {
  const cleanups: Array<() => void> = [];
  afterAll(() => {
    for (const cleanup of cleanups.reverse()) cleanup();
  });

  /** The bank's hold-up button on account 1234; a second call on the same `dir` restarts the gateway. */
  const startGateway = (dir: string, ports?: Dc09GatewayPorts) =>
    startDc09Gateway(dir, cleanups, { ...(ports === undefined ? {} : { ports }), sites: [{ id: 'bank-1', accounts: ['1234'], zones: [{ number: 5, name: 'Teller hold-up button', type: 'holdup' }] }] });

  /** Every insert into the outbox fails as SQLITE_FULL would, until the returned function is called. */
  function fillDisk(dataDir: string): () => void {
    const db = new Database(path.join(dataDir, OUTBOX_FILE_NAME));
    cleanups.push(() => db.close());
    db.exec(`CREATE TRIGGER disk_full BEFORE INSERT ON entry BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    return () => db.exec('DROP TRIGGER disk_full');
  }

  it('NAKs every frame, shows 503 on /healthz to a caller with a token, logs one line, and once the disk has room says so to central', async () => {
    const { gateway, dataDir, ports, send } = await startGateway(tempDir('outbox-full'));
    const healthz = async () => (await apiFetch(dataDir, `http://127.0.0.1:${ports.apiPort}/healthz`)).status;
    // Without a token nothing changes: the first store in a while that finds the disk full may be a duress's.
    const publicHealthz = async () => (await fetch(`http://127.0.0.1:${ports.apiPort}/healthz`)).status;
    expect(await send(1, '#1234|1130 01 003')).toBe('ACK');
    expect(await healthz()).toBe(200);

    const freeDisk = fillDisk(dataDir);
    // With a stdout output, the log goes to stderr.
    const logLinesBefore = gateway.stderr.length;

    // Never an ACK for what is not stored; the hold-up too is NAKed, so the panel keeps sending it.
    expect(await send(2, '#1234|1130 01 004')).toBe('NAK');
    expect(await send(3, '#1234|1122 01 005')).toBe('NAK');
    expect(await send(4, '#1234|1130 01 006')).toBe('NAK');
    expect(await healthz()).toBe(503);
    expect(await publicHealthz()).toBe(200);
    const authed = (await (await apiFetch(dataDir, `http://127.0.0.1:${ports.apiPort}/healthz`)).json()) as { outbox: { state: string; detail: string } };
    expect(authed.outbox).toMatchObject({ state: 'down', detail: expect.stringMatching(/database or disk is full/) });
    const errors = gateway.stderr.slice(logLinesBefore).filter((line) => line.includes('"level":50'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/outbox cannot store.*NAK/);
    expect(errors[0]).not.toMatch(/"stack"/);

    freeDisk();
    await until(async () => (await healthz()) === 200);
    expect(gateway.stderr.slice(logLinesBefore).some((line) => /outbox stores again/.test(line))).toBe(true);
    // Central hears of the fault: when it began and that it ended, with the frames refused meanwhile.
    // The first start's report of the admin token it created is not about the outbox.
    const outboxReports = () => gateway.events().filter((e) => e.category === 'supervisory' && !(e.reasons as string[]).some((reason) => reason.includes('API token')));
    await until(() => outboxReports().length >= 2);
    const supervisory = outboxReports();
    expect(supervisory.map((e) => [e.qualifier, e.covert])).toEqual([
      ['new', true],
      ['restore', true],
    ]);
    expect((supervisory[1]!.reasons as string[]).join(' ')).toMatch(/3 frames? .*NAK/);
    expect(await send(3, '#1234|1122 01 005')).toBe('ACK');
    await until(() => gateway.events().some((e) => e.category === 'holdup'));
  }, 60_000);

  it.each([
    { disk: 'freed during the restart', stillFull: false },
    { disk: 'still full after the restart', stillFull: true },
  ])('reports to central an outage under way when the gateway restarts, from its start and with every frame refused (disk $disk)', async ({ stillFull }) => {
    const dir = tempDir('outbox-full-restart');
    const first = await startGateway(dir);
    expect(await first.send(1, '#1234|1130 01 003')).toBe('ACK');
    const freeDisk = fillDisk(first.dataDir);
    const failedFrom = Date.now();
    expect(await first.send(2, '#1234|1130 01 004')).toBe('NAK');
    expect(await first.send(3, '#1234|1130 01 005')).toBe('NAK');
    first.panel.close();
    first.gateway.kill('SIGTERM');
    await first.gateway.exited;
    // The operator frees space and restarts the gateway, or restarts it first.
    if (!stillFull) freeDisk();

    const restartedAt = Date.now();
    const second = await startGateway(dir, first.ports);
    if (stillFull) {
      expect(await second.send(4, '#1234|1130 01 006')).toBe('NAK');
      freeDisk();
    }
    const reported = () => second.gateway.events().filter((e) => (e.source as { input: string }).input === 'outbox');
    await until(() => reported().length >= 2);
    const [trouble, restore] = reported();
    expect([trouble!.qualifier, trouble!.covert, restore!.qualifier, restore!.covert]).toEqual(['new', true, 'restore', true]);
    // From when it began before the restart, not from the restart.
    expect(Date.parse(trouble!.receivedAt as string)).toBeGreaterThanOrEqual(failedFrom - 1_000);
    expect(Date.parse(trouble!.receivedAt as string)).toBeLessThan(restartedAt);
    expect((trouble!.reasons as string[]).join(' ')).toMatch(/database or disk is full/);
    expect((restore!.reasons as string[]).join(' ')).toMatch(new RegExp(`${stillFull ? 3 : 2} frames .*NAK`));
  }, 60_000);

  // A real read-only disk, as the kernel makes one of a file system with errors (ext4 errors=remount-ro): on a loop
  // device, where ext4's trigger_fs_error stands for the failing sector. A remount cannot do it while the gateway
  // holds its files open for writing. Every write fails EROFS, the store-fault mark's too.
  it.skipIf(process.getuid?.() !== 0 || !existsSync('/dev/loop-control'))(
    'on a disk turned read-only it NAKs every frame, says so on /healthz and in the metrics, logs a few lines, and does not spin',
    async () => {
      const dir = tempDir('outbox-erofs');
      const image = path.join(dir, 'disk.img');
      const mounted = path.join(dir, 'disk');
      execFileSync('truncate', ['-s', '32M', image]);
      execFileSync('mkfs.ext4', ['-q', image]);
      mkdirSync(mounted);
      execFileSync('mount', ['-o', 'loop,errors=remount-ro', image, mounted]);
      cleanups.push(() => execFileSync('umount', ['-l', mounted]));
      const device = path.basename(execFileSync('findmnt', ['-no', 'SOURCE', mounted], { encoding: 'utf8' }).trim());
      const { gateway, dataDir, ports, send } = await startDc09Gateway(mounted, cleanups);
      const healthz = () => apiFetch(dataDir, `http://127.0.0.1:${ports.apiPort}/healthz`);
      expect(await send(1, '#1234|1130 01 003')).toBe('ACK');

      writeFileSync(`/sys/fs/ext4/${device}/trigger_fs_error`, '1');
      const logLinesBefore = gateway.stderr.length + gateway.stdout.length;
      for (let seq = 2; seq <= 21; seq++) expect(await send(seq, `#1234|1130 01 ${String(seq).padStart(3, '0')}`)).toBe('NAK');
      expect(await send(22, '#1234|1121 01 001')).toBe('NAK'); // a duress too: the panel keeps sending it

      const health = await healthz();
      expect(health.status).toBe(503);
      expect(((await health.json()) as { outbox: { state: string; detail: string } }).outbox).toMatchObject({ state: 'down' });
      const metrics = await (await apiFetch(dataDir, `http://127.0.0.1:${ports.apiPort}/metrics`)).text();
      expect(metrics).toMatch(/outbox_rejections_total\{[^}]*\} (2[1-9]|[3-9]\d)/);
      const linesSince = gateway.stderr.length + gateway.stdout.length - logLinesBefore;
      expect(linesSince).toBeLessThanOrEqual(5);
      // Idle on a read-only disk, it does not retry in a loop.
      const cpu = () => readFileSync(`/proc/${gateway.child.pid}/stat`, 'utf8').split(' ').slice(13, 15).reduce((sum, ticks) => sum + Number(ticks), 0);
      const before = cpu();
      const linesBefore = gateway.stderr.length + gateway.stdout.length;
      await new Promise((resolve) => setTimeout(resolve, 5000));
      expect(cpu() - before).toBeLessThan(100); // clock ticks (1/100 s): under a fifth of a core
      expect([...gateway.stderr, ...gateway.stdout].slice(linesBefore)).toEqual([]);
      expect(gateway.child.exitCode).toBeNull();
    },
    60_000,
  );

  it('stores after a restart the event of a control action answered 503 CONTROL_NOT_STORED before it', async () => {
    const dir = tempDir('outbox-full-control');
    const first = await startGateway(dir);
    const openWindow = (run: typeof first) =>
      apiFetch(run.dataDir, `http://127.0.0.1:${run.ports.apiPort}/test-windows`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ site: 'bank-1', minutes: 30 }),
      });
    const freeDisk = fillDisk(first.dataDir);
    const opened = await openWindow(first);
    expect(opened.status).toBe(503);
    const { result } = (await opened.json()) as { result: { id: string } };
    first.panel.close();
    first.gateway.kill('SIGTERM');
    await first.gateway.exited;
    freeDisk();

    const second = await startGateway(dir, first.ports);
    const control = () => second.gateway.events().filter((e) => (e.control as { action?: string } | undefined)?.action === 'test-window-opened');
    // The client's retry after the restart finds the window that stands, and opens no other.
    const retried = await openWindow(second);
    expect([retried.status, ((await retried.json()) as { id: string }).id]).toEqual([200, result.id]);
    await until(() => control().length > 0);
    expect(control().map((e) => (e.control as { window: string }).window)).toEqual([result.id]);
  }, 60_000);
});
