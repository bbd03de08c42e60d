import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './broker.js';

/** Whether this machine can run the Mosquitto broker the MQTT fault tests start for themselves. */
export const mosquittoInstalled = spawnSync('mosquitto', ['-h']).error === undefined;

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** A private CA and a server certificate for 127.0.0.1 (P-256, valid one day), made with openssl in `dir`. */
export function makeTestCertificates(dir: string): TlsFiles {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ecKey, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-subj', '/CN=panelbridge test CA', '-days', '1');
  openssl('req', ...ecKey, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1');
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('server.crt'), '-days', '1', '-extfile', file('server.ext'));
  return { ca: file('ca.crt'), cert: file('server.crt'), key: file('server.key') };
}

export interface MosquittoOptions {
  /** username → password; without it the broker takes anonymous clients. */
  users?: Record<string, string>;
  /** The ACL file's text (`user name` / `topic readwrite …` lines). */
  acl?: string;
  tls?: boolean;
}

export interface Mosquitto {
  url: string;
  port: number;
  dir: string;
  /** With `tls`: the CA that signed the broker's certificate. */
  tls?: TlsFiles;
  /** Rewrites the password file (and the ACL file when given) and has the broker reload them (SIGHUP). */
  reconfigure(options: { users?: Record<string, string>; acl?: string }): Promise<void>;
  close(): Promise<void>;
}

function writePasswords(file: string, users: Record<string, string>): void {
  writeFileSync(file, '', { mode: 0o600 });
  for (const [user, password] of Object.entries(users)) execFileSync('mosquitto_passwd', ['-b', file, user, password], { stdio: 'ignore' });
}

async function listening(port: number, child: ChildProcess, log: string[]): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited (${child.exitCode}):\n${log.join('')}`);
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`mosquitto did not listen on ${port}:\n${log.join('')}`);
}

/** A Mosquitto of the test's own on a free loopback port, with its password, ACL and TLS files in a temp dir. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'panelbridge-mosquitto-'));
  const port = await freePort();
  const passwordFile = path.join(dir, 'passwords');
  const aclFile = path.join(dir, 'acl');
  const tls = options.tls === true ? makeTestCertificates(dir) : undefined;
  // As root Mosquitto would switch to its own user, which cannot read this temp dir: stay who we are.
  const lines = [`user ${os.userInfo().username}`, `listener ${port} 127.0.0.1`, 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning'];
  if (options.users === undefined) lines.push('allow_anonymous true');
  else {
    writePasswords(passwordFile, options.users);
    lines.push('allow_anonymous false', `password_file ${passwordFile}`);
  }
  if (options.acl !== undefined) {
    writeFileSync(aclFile, options.acl, { mode: 0o600 });
    lines.push(`acl_file ${aclFile}`);
  }
  if (tls !== undefined) lines.push(`cafile ${tls.ca}`, `certfile ${tls.cert}`, `keyfile ${tls.key}`);
  const configFile = path.join(dir, 'mosquitto.conf');
  writeFileSync(configFile, lines.join('\n') + '\n');
  const child = spawn('mosquitto', ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  const log: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => log.push(chunk.toString()));
  await listening(port, child, log);
  return {
    url: `${tls === undefined ? 'mqtt' : 'mqtts'}://127.0.0.1:${port}`,
    port,
    dir,
    ...(tls === undefined ? {} : { tls }),
    async reconfigure(change) {
      if (change.users !== undefined) writePasswords(passwordFile, change.users);
      if (change.acl !== undefined) writeFileSync(aclFile, change.acl, { mode: 0o600 });
      child.kill('SIGHUP');
      // Mosquitto reloads on its next loop turn.
      await new Promise((resolve) => setTimeout(resolve, 200));
    },
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
