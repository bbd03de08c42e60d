import { readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessXmlListener, type AccessXmlTls } from '../../../adapters/inputs/access-xml.js';
import { silentLogger } from '../../../src/ports.js';
import { hasOpenssl, makeTestCertificates } from '../../helpers/test-certs.js';
import { accessReceiver } from '../../helpers/access-receiver.js';

// docs/replay.md "Routing": "for an access-control XML input its mappings, site and trust apply" as they did live.
// With tls.requestCert and rejectUnauthorized: false (a valid setting), a client without a certificate is let in
// and its events are `verified: false` live; replaying the captured body must not turn them into `verified: true`.

const DURESS = `<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema">
  <s:Body><wsnt:Notify><wsnt:NotificationMessage>
    <wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">tns1:AccessControl/Duress/Credential</wsnt:Topic>
    <wsnt:Message><tt:Message UtcTime="2025-03-01T09:15:02Z">
      <tt:Source><tt:SimpleItem Name="AccessPointToken" Value="door-lobby-2"/></tt:Source>
      <tt:Data><tt:SimpleItem Name="CredentialToken" Value="cred-00417"/></tt:Data>
    </tt:Message></wsnt:Message>
  </wsnt:NotificationMessage></wsnt:Notify></s:Body>
</s:Envelope>`;

function listener(tls: AccessXmlTls, onFrame?: (body: Uint8Array, transport: 'http', peer: string) => void) {
  const { receiver, counters, stored } = accessReceiver({ maxBytes: 16_384 });
  const input = new AccessXmlListener({
    name: 'doors', host: '127.0.0.1', port: 0, path: '/access', tls, receiver, logger: silentLogger, counters,
    ...(onFrame === undefined ? {} : { onFrame }),
  });
  return { input, stored };
}

describe.skipIf(!hasOpenssl)('replay of an access-xml capture keeps the live trust', () => {
  let dir: string;
  let file: ReturnType<typeof makeTestCertificates>['file'];
  beforeAll(() => ({ dir, file } = makeTestCertificates()));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a body from a client without a certificate (rejectUnauthorized: false) replays as verified: false, as it was live', async () => {
    const tls: AccessXmlTls = { cert: file('server.pem'), key: file('server.key'), ca: file('ca.pem'), requestCert: true, rejectUnauthorized: false };
    const captured: Uint8Array[] = [];
    const live = listener(tls, (body) => captured.push(body));
    await live.input.start();
    try {
      const port = live.input.address!.port;
      await new Promise<void>((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port, path: '/access', method: 'POST', ca: readFileSync(file('ca.pem')), headers: { 'content-type': 'application/xml' } }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        });
        req.on('error', reject);
        req.end(DURESS);
      });
    } finally {
      await live.input.stop();
    }
    const liveEvents = live.stored();
    expect(liveEvents).toHaveLength(1);
    expect(liveEvents[0]).toMatchObject({ category: 'duress', verified: false, unverifiedReason: 'unauthenticated-source' });

    const replayed = listener(tls);
    await replayed.input.handleFrame(captured[0]!, 'http', '127.0.0.1:40000');
    const replayEvents = replayed.stored();
    expect(replayEvents).toHaveLength(1);
    expect([replayEvents[0]!.verified, replayEvents[0]!.unverifiedReason]).toEqual([liveEvents[0]!.verified, liveEvents[0]!.unverifiedReason]);
  });
});
