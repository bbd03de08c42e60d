import path from 'node:path';
import { freePort } from './broker.js';
import { GatewayProcess, writeConfig } from './gateway-process.js';
import { panelFrame, parseAnswer, TcpPanel } from './panel.js';

export interface Dc09GatewayPorts {
  dc09Port: number;
  apiPort: number;
}

/**
 * A gateway child on `dir` with a DC-09 input over TCP (account 1234 allowed), the API and a stdout output, and a panel
 * connected to it; a second call on the same `dir` with the first's `ports` restarts it. `nodeArgs` go to node (a
 * preloaded fault, say). What to close goes to `cleanups`. `send` sends an ADM-CID frame and resolves with the answer's token (null: no answer).
 */
export async function startDc09Gateway(
  dir: string,
  cleanups: Array<() => void>,
  options: { ports?: Dc09GatewayPorts; sites?: unknown[]; nodeArgs?: string[] } = {},
) {
  const dataDir = path.join(dir, 'var');
  const ports = options.ports ?? { dc09Port: await freePort(), apiPort: await freePort() };
  const gateway = GatewayProcess.spawn(
    writeConfig(dir, {
      dataDir,
      api: { host: '127.0.0.1', port: ports.apiPort },
      inputs: [{ type: 'dc09', name: 'ip', host: '127.0.0.1', port: ports.dc09Port, udp: false, accounts: [{ account: '1234' }] }],
      outputs: [{ type: 'stdout', name: 'console' }],
      ...(options.sites === undefined ? {} : { sites: options.sites }),
    }),
    [],
    undefined,
    options.nodeArgs,
  );
  cleanups.push(() => gateway.kill('SIGKILL'));
  await gateway.ready;
  const panel = await TcpPanel.connect(ports.dc09Port);
  cleanups.push(() => panel.close());
  const send = async (seq: number, data: string, timeoutMs?: number) => {
    const answer = await panel.send(panelFrame({ token: 'ADM-CID', seq: String(seq % 10_000).padStart(4, '0'), account: '1234', data }), timeoutMs);
    return answer === null ? null : parseAnswer(answer).token;
  };
  return { gateway, dataDir, ports, panel, send };
}
