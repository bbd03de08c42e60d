/** The options of `panelbridge simulate`, as commander parses them (the command and its action both read them). */
export interface SimulateOptions {
  to?: string;
  account?: string;
  key?: string;
  keyFile?: string;
  keyEnv?: string;
  keyEncoding: 'hex' | 'ascii';
  event?: string;
  zone?: number;
  user?: number;
  format: 'adm-cid' | 'sia';
  receiver?: string;
  line?: string;
  count: number;
  rate?: number;
  connections: number;
  timeout: number;
  json?: boolean;
  quiet?: boolean;
  scenario?: string;
  serial?: string;
  protocol?: 'surgard';
  baudRate: number;
  receive?: boolean;
  listen: string;
}
