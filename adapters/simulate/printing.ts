import { formatFrameRecord, formatLoadReport, formatScenarioSummary, type FrameRecord, type LoadReport, type ScenarioSummary } from '../../src/simulate/report.js';
import { formatReceivedRecord, type ReceivedRecord } from '../../src/simulate/received-record.js';
import type { SimulateOptions } from './options.js';
import { terminalText } from '../system/terminal-text.js';

/** Everything `simulate` prints on stdout, one line (or table) each: text, or JSON lines with --json. */
export interface Printer {
  frame(record: FrameRecord): void;
  report(report: LoadReport): void;
  summary(summary: ScenarioSummary): void;
  listening(address: { host: string; port: number }): void;
  received(record: ReceivedRecord): void;
}

export function printer(options: Pick<SimulateOptions, 'json' | 'quiet'>): Printer {
  const write = (line: string) => process.stdout.write(line + '\n');
  // What a receiver under test answered, and what anybody sent `--receive`: one line each, shown, never obeyed.
  const writeRecord = (line: string) => write(terminalText(line));
  const json = options.json === true;
  return {
    frame(record) {
      if (options.quiet === true && record.answer === 'ack') return;
      writeRecord(json ? JSON.stringify(record) : formatFrameRecord(record));
    },
    report: (report) => write(json ? JSON.stringify({ report }) : formatLoadReport(report)),
    summary: (summary) => write(json ? JSON.stringify({ summary }) : formatScenarioSummary(summary)),
    listening: (address) => write(json ? JSON.stringify({ listening: address }) : `listening on tcp and udp ${address.host}:${address.port}`),
    received: (record) => writeRecord(json ? JSON.stringify(record) : formatReceivedRecord(record)),
  };
}
