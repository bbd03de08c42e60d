import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI, tempDir, writeConfig } from '../helpers/gateway-process.js';

/**
 * The unit says "An alarm path must never stay down after a crash" (Restart=always, StartLimitIntervalSec=0), but
 * it also has RestartPreventExitStatus=78, and `run` exits 78 when a listener's address is not (yet) on the machine
 * (EADDRNOTAVAIL, adapters/cli/startup.ts). At boot the unit starts After=network-online.target, which only means
 * "at least one link is online" (systemd-networkd-wait-online: all managed links configured-or-failed and at least one
 * online; NetworkManager-wait-online similar); a panel-LAN address from DHCP, on a second NIC, or an IPv6 address
 * still in DAD, is routinely not there yet. `run` then exits 78 and systemd never restarts it: the gateway stays down
 * until a person notices. `check --errors-only` (ExecStartPre) passes the same configuration, so nothing in the
 * journal says the file is wrong.
 */
const UNIT = readFileSync(new URL('../../systemd/panelbridge.service', import.meta.url), 'utf8');
const preventedStatuses = (/^RestartPreventExitStatus=(.*)$/m.exec(UNIT)?.[1] ?? '').split(/\s+/).filter(Boolean).map(Number);

describe('unit + run: a listener address that is not up yet at boot', () => {
  it('exits with a status systemd restarts (the address may appear a moment later)', () => {
    const dir = tempDir('boot-addr');
    // 192.0.2.10 (TEST-NET-1) stands for the panel-LAN address whose DHCP lease has not arrived yet.
    const config = writeConfig(dir, {
      dataDir: './var',
      inputs: [{ type: 'dc09', name: 'panels', host: '192.0.2.10', port: 12713 }],
      outputs: [{ type: 'stdout', name: 'console' }],
    });
    const check = spawnSync(process.execPath, [CLI, 'check', '--config', config, '--errors-only'], { cwd: dir, encoding: 'utf8' });
    expect(check.status, 'ExecStartPre passes').toBe(0);
    const run = spawnSync(process.execPath, [CLI, 'run', '--config', config], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(run.status).not.toBe(0);
    expect(preventedStatuses, `run exited ${run.status}: ${run.stderr.trim()}`).not.toContain(run.status);
    expect(run.stderr).toMatch(/DC-09 input "panels" on 192\.0\.2\.10:12713: the address is not \(yet\) on this machine/);
  }, 40_000);
});
