import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../helpers/broker.js';
import { runCli, tempDir } from '../../helpers/gateway-process.js';

const cli = (args: string[]) => runCli(args, tempDir('api-client'));

/** The API verbs (`test`, `incidents`) when what they call is not a gateway: one line and a sysexits status, never a stack trace. */
describe('API commands against something that is not the gateway', () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url?.startsWith('/locked-out') === true) {
        // The gateway's lockout after ten failed token checks from this address within a minute.
        res.writeHead(429, { 'content-type': 'application/json' }).end('{"error":{"code":"TOO_MANY_REQUESTS","message":"too many failed token checks from this address; wait a minute"}}');
        return;
      }
      if (req.url?.startsWith('/proxy-error') === true) {
        res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!DOCTYPE html><p>a router page</p>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('names a --token-file it cannot read (66)', async () => {
    const missing = path.join(tempDir('token'), 'missing');
    const result = await cli(['test', 'list', '--api', url, '--token-file', missing]);
    expect(result).toMatchObject({ code: 66, stderr: `error --token-file ${missing} cannot be read (ENOENT)\n` });
  });

  it('says an answer that is not JSON is not the API (76)', async () => {
    const result = await cli(['incidents', 'list', '--api', url]);
    expect(result.code).toBe(76);
    expect(result.stderr).toBe(`error ${url} answered with text/html, not JSON: is it the gateway's API?\n`);
  });

  it('reports a proxy error page by its status (69)', async () => {
    const result = await cli(['test', 'list', '--api', `${url}/proxy-error`]);
    expect(result).toMatchObject({ code: 69, stderr: 'error 502: Bad Gateway\n' });
  });

  it('refuses an --api that is no http(s) address, or holds a password, as a bad option (64), never echoing the password', async () => {
    const withPassword = await cli(['incidents', 'list', '--api', 'http://ops:hunter2-secret@127.0.0.1:8780']);
    expect(withPassword.code).toBe(64);
    expect(withPassword.stderr).not.toContain('hunter2-secret');
    expect(withPassword.stderr).toContain('[redacted]@127.0.0.1:8780');
    for (const api of ['127.0.0.1:8780', 'localhost:8780', 'ftp://127.0.0.1:8780']) {
      const result = await cli(['test', 'list', '--api', api]);
      expect([api, result.code]).toEqual([api, 64]);
      expect(result.stderr).toMatch(/^error --api /);
    }
  });

  it('says to try again later when the gateway locked the address out (75), not 1, which `incidents ack` answers for ALREADY_ACKNOWLEDGED', async () => {
    const result = await cli(['incidents', 'ack', 'inc-1', '--api', `${url}/locked-out`]);
    expect(result).toMatchObject({ code: 75, stderr: 'error TOO_MANY_REQUESTS: too many failed token checks from this address; wait a minute\n' });
  });

  it('names an API nobody answers on (69)', async () => {
    const result = await cli(['test', 'list', '--api', `http://127.0.0.1:${await freePort()}`]);
    expect(result.code).toBe(69);
    expect(result.stderr).toMatch(/^error cannot reach the gateway API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });
});
