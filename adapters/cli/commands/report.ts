import { Command } from 'commander';

export interface ReportOptions {
  config: string;
  site: string;
  from?: string;
  to?: string;
  csv?: boolean;
  html?: boolean;
}

/** `panelbridge report`: a site's assurance report for a period, as text, CSV or a print-ready HTML page. */
export function reportCommand(): Command {
  return new Command('report')
    .description("a site's duress assurance report: each device's tests, uses, missed tests and overdue days, 90-day coverage, incidents")
    .requiredOption('-c, --config <file>', 'configuration file (YAML or JSON): its sites and dataDir')
    .requiredOption('--site <id>', 'the site')
    .option('--from <date>', 'first day, YYYY-MM-DD in the site time zone (default: 29 days before --to)')
    .option('--to <date>', 'last day, YYYY-MM-DD, included (default: today)')
    .option('--csv', 'print CSV (one table; the first column names the record kind)')
    .option('--html', 'print the print-ready HTML page')
    .action(async (options: ReportOptions) => {
      // Imported when the command runs: it opens the SQLite ledger.
      const { printReport } = await import('./report-action.js');
      printReport(options);
    });
}
