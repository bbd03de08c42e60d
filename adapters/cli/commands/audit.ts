import path from 'node:path';
import { Command } from 'commander';
import { terminalText } from '../../system/terminal-text.js';

/** `panelbridge audit verify|show`: the hash-chained audit log in dataDir. */
export function auditCommand(): Command {
  const audit = new Command('audit').description('check and show the tamper-evident audit log');
  audit.addCommand(
    new Command('verify')
      .description('check the hash chain: exit 0 when intact, 1 naming the first broken record')
      .option('-c, --config <file>', "the gateway's configuration (the log is in its dataDir; default ./var)")
      .action(async (options: { config?: string }) => {
        const [{ gatewayDataDirOrExit }, { AUDIT_FILE_NAME, verifyAuditLog }] = await Promise.all([import('../gateway-data-dir.js'), import('../../system/audit-log.js')]);
        // A missing log is never "intact": the gateway creates it on every start.
        const dataDir = gatewayDataDirOrExit(options.config, [AUDIT_FILE_NAME]);
        if (dataDir === undefined) return;
        const verdict = verifyAuditLog(dataDir);
        const files = verdict.files.map((file) => path.basename(file)).join(', ');
        if (verdict.ok) {
          const rotatedOut = verdict.firstSeq !== undefined && verdict.firstSeq > 1 ? `; records before seq ${verdict.firstSeq} were rotated out` : '';
          process.stdout.write(`${dataDir} (${files}): ${verdict.records} record(s), chain intact${rotatedOut}\n`);
          return;
        }
        process.stdout.write(
          `${verdict.file}: chain broken at line ${verdict.line}${verdict.seq === null ? '' : ` (record seq ${verdict.seq})`}: ${verdict.reason}; ${verdict.records} record(s) before it are intact\n`,
        );
        process.exitCode = 1;
      }),
  );
  audit.addCommand(
    new Command('show')
      .description('list the audit records of every kept file, oldest first')
      .option('-c, --config <file>', "the gateway's configuration (the log is in its dataDir; default ./var)")
      .option('--json', 'print each record as its JSON line')
      .action(async (options: { config?: string; json?: boolean }) => {
        const [{ gatewayDataDirOrExit }, { AUDIT_FILE_NAME, auditFiles, auditLines }] = await Promise.all([import('../gateway-data-dir.js'), import('../../system/audit-log.js')]);
        const dataDir = gatewayDataDirOrExit(options.config, [AUDIT_FILE_NAME]);
        if (dataDir === undefined) return;
        const lines = function* (): Generator<string> {
          for (const file of auditFiles(dataDir)) yield* auditLines(file);
        };
        for (const line of lines()) {
          if (line.trim() === '') continue;
          if (options.json === true) {
            // Exactly as chained: a record's bytes are what its hash covers.
            process.stdout.write(line + '\n');
            continue;
          }
          try {
            const r = JSON.parse(line) as { seq: number; at: string; action: string; actor: { name: string; role: string; channel: string }; details: Record<string, unknown> };
            const details = Object.entries(r.details ?? {})
              .filter(([, v]) => v !== null && v !== undefined)
              .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
              .join(' ');
            process.stdout.write(terminalText(`${r.seq}  ${r.at}  ${r.action}  by ${r.actor?.name} (${r.actor?.role}, ${r.actor?.channel})  ${details}`) + '\n');
          } catch {
            process.stdout.write(terminalText(`(not a record) ${line}`) + '\n');
          }
        }
      }),
  );
  return audit;
}
