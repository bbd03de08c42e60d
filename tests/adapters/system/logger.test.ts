import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createRootLogger } from '../../../adapters/system/logger.js';
import { CLI } from '../../helpers/gateway-process.js';
import { HOSTILE_ACCOUNT, OBEYED_BY_TERMINALS } from '../../helpers/terminal-text.js';
import { parseSettings, type Settings } from '../../../src/settings/settings.js';

const AES_KEY = '00112233445566778899AABBCCDDEEFF';
const WEBHOOK_SECRET = 'whsec_dGhpcy1pcy10aGUtd2ViaG9vay1zZWNyZXQ=';
const MQTT_PASSWORD = 'mqtt-password-Zq81';
const ACCESS_SECRET = 'access-shared-secret-77';
const BEARER = 'Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig';
const API_TOKEN = 'pbt_api-token-from-the-settings-0001';
const SECRETS = [AES_KEY, WEBHOOK_SECRET, MQTT_PASSWORD, ACCESS_SECRET, BEARER, API_TOKEN];

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  const logger = createRootLogger({ level: 'trace', destination, pretty: false, gateway: 'test' });
  return { logger, text: () => lines.join('\n'), lines };
}

function settingsWithSecrets(): Settings {
  const parsed = parseSettings(`
inputs:
  - { type: dc09, name: ip, port: 12000, accounts: [{ account: "4567", key: "${AES_KEY}", keyEncoding: hex }] }
  - { type: access-xml, name: doors, port: 8781, secret: "${ACCESS_SECRET}" }
outputs:
  - { type: mqtt, name: broker, url: "mqtt://127.0.0.1:1883", username: bridge, password: "${MQTT_PASSWORD}" }
  - { type: webhook, name: hook, url: "http://127.0.0.1:9000/events", secret: "${WEBHOOK_SECRET}" }
api: { port: 8780, tokens: [{ name: ops, role: operator, token: "${API_TOKEN}" }] }
`);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.settings;
}

describe('root logger redaction', () => {
  it('never writes a key, password, secret or authorization header, whatever object carries it', () => {
    const { logger, text, lines } = capture();
    const settings = settingsWithSecrets();
    const [dc09, access] = settings.inputs;
    const [mqtt, webhook] = settings.outputs;
    logger.info({ settings }, 'configuration loaded');
    logger.info({ input: dc09 }, 'input starting');
    logger.info({ input: access }, 'input starting');
    logger.info({ output: mqtt }, 'output starting');
    logger.info({ output: webhook }, 'output starting');
    logger.info({ account: { account: '4567', key: AES_KEY } }, 'account');
    logger.info({ key: AES_KEY, password: MQTT_PASSWORD, secret: WEBHOOK_SECRET, authorization: BEARER }, 'flat');
    logger.warn({ headers: { authorization: BEARER } }, 'request refused');
    logger.child({ component: 'output' }).error({ options: { password: MQTT_PASSWORD } }, 'connect failed');
    logger.info({ api: settings.api, token: API_TOKEN }, 'api tokens');
    expect(lines).toHaveLength(10);
    for (const secret of SECRETS) expect(text(), secret).not.toContain(secret);
    // Redacted, not dropped: the field is still there so the log shows that a secret was configured.
    expect(text()).toContain('[redacted]');
    const first = JSON.parse(lines[0]!) as { settings: { inputs: Array<{ accounts?: Array<{ account: string; key: string }> }> } };
    expect(first.settings.inputs[0]!.accounts).toEqual([{ account: '4567', key: '[redacted]', keyEncoding: 'hex' }]);
  });

  it('keeps everything that is not a secret', () => {
    const { logger, lines } = capture();
    logger.warn({ account: '4567', seq: '0001', peer: '127.0.0.1:5000', keyEncoding: 'hex' }, 'unknown account: NAK');
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 40,
      service: 'panelbridge',
      gateway: 'test',
      account: '4567',
      seq: '0001',
      peer: '127.0.0.1:5000',
      keyEncoding: 'hex',
      msg: 'unknown account: NAK',
    });
  });

  it('redacts credentials written into a URL wherever they appear: fields, nested objects, errors, the message', () => {
    const { logger, text, lines } = capture();
    const url = 'mqtts://bridge:Url-Pa55@broker.example:8883';
    logger.warn({ url }, 'MQTT broker not reachable yet');
    logger.error({ err: new Error(`connect to ${url} failed`) }, 'output failed');
    logger.info({ output: { url: 'https://hook:Hook-Pa55@cms.example/events' } }, `using ${url}`);
    expect(lines).toHaveLength(3);
    expect(text()).not.toMatch(/Url-Pa55|Hook-Pa55|bridge:|hook:/);
    expect(JSON.parse(lines[0]!).url).toBe('mqtts://[redacted]@broker.example:8883');
    expect(JSON.parse(lines[1]!).err).toMatchObject({ type: 'Error', message: 'connect to mqtts://[redacted]@broker.example:8883 failed' });
    expect(JSON.parse(lines[2]!).msg).toBe('using mqtts://[redacted]@broker.example:8883');
  });
});

describe('root logger: text a panel sent, on a terminal', () => {
  // A DC-09 frame's account and extended data reach log fields (an unknown account, a refused frame); the C1 CSI
  // form of SGR 8 would conceal every later line on the installer's terminal, a newline would forge one.
  const HOSTILE_TEXT = 'Lobby\u009b8m\nfake line\u202e';

  it('writes JSON lines in which no character a terminal obeys stands raw, with the same meaning', () => {
    const { logger, lines } = capture();
    logger.warn({ account: HOSTILE_ACCOUNT, extended: { I: HOSTILE_TEXT } }, `frame from ${HOSTILE_ACCOUNT}`);
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(OBEYED_BY_TERMINALS);
    const line = JSON.parse(lines[0]!) as { account: string; extended: { I: string }; msg: string };
    expect([line.account, line.extended.I, line.msg]).toEqual([HOSTILE_ACCOUNT, HOSTILE_TEXT, `frame from ${HOSTILE_ACCOUNT}`]);
  });

  it('prints pretty lines (`run` on a terminal) with such characters as \\u escapes, every field and the message', async () => {
    // The compiled logger in a process of its own, as `run` creates it on a terminal: pretty lines on stderr.
    const logger = new URL(CLI.replace('/cli/main.js', '/system/logger.js'), 'file:').href;
    const script = `const { createRootLogger } = await import(${JSON.stringify(logger)});
      const log = createRootLogger({ pretty: true });
      log.warn({ account: ${JSON.stringify(HOSTILE_ACCOUNT)}, extended: { I: ${JSON.stringify(HOSTILE_TEXT)} }, err: new Error(${JSON.stringify(HOSTILE_TEXT)}) }, ${JSON.stringify(`frame from ${HOSTILE_ACCOUNT}`)});
      log.flush?.();`;
    const { stderr } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, FORCE_COLOR: '0' } });
    const text = stderr.replace(/\n$/, '');
    expect(text).toContain('frame from door-7\\u001b[8m\\u009b8m');
    expect(text).toContain('Lobby\\u009b8m');
    // What is left once the line breaks and colours pino-pretty writes itself are taken out (never SGR 8, conceal):
    // nothing a terminal obeys, and no line of the panel's making.
    expect(text.replace(/\n|\u001b\[(?:[0-79]|\d\d)m/g, '')).not.toMatch(OBEYED_BY_TERMINALS);
    expect(text).not.toMatch(/^\s*fake line/m);
  });
});
