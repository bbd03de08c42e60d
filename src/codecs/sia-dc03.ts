import { catalogedDuressCodes } from '../catalog/index.js';
import type { Protocol } from '../model/event.js';
import { emptySignal } from '../model/signal.js';
import type { Signal } from '../model/signal.js';
import { escapeBytes, fail, ok } from './result.js';
import type { DecodeResult } from './result.js';

/**
 * SIA DC-03 (protocols.md §2): binary blocks `[header][function code][data][parity]` on telephone/serial links,
 * and the block *data* (`#acct|Nri1/BA01^text^|Atext`) that DC-09 SIA-DCS, Sur-Gard protocol S and panel
 * serial lines carry as text.
 *
 * Decisions (the standard is paywalled; these follow the public implementations):
 * - Addresses, `id` and `ri` are read as DECIMAL. The standard says base 16, but Galaxy (openGalaxy) and DSC send
 *   decimal and every public vector is decimal. An address that carries a hex letter (`HA01A`) can only be base 16,
 *   so it is read as such (quirk `hex-address`): refusing it would refuse the whole block, a hold-up with it.
 * - A rendered block (spaces between its words: `N Ri01 BA 01`, `Nri1/HA 05`) is read the same whether it comes
 *   inside DC-09, from Sur-Gard or a serial line: quirk `spaced-rendering`.
 * - `da`+`ti` become `occurredAt` as if the panel clock were UTC (the block carries no zone), marked
 *   `occurredAtLocal`; two-digit years 70-99 are 19xx, 00-69 are 20xx. The event builder reads it in the site's
 *   time zone. Raw `da`/`ti` stay in `extended`.
 * - Modifiers without a Signal field of their own (pi, ai, ph, lv, va, pt, rg, ss, da, ti, unknown ones) and a
 *   packet's `*units` go to `extended` under their lowercase name (`units`, `unitType`); DC-09 extended fields use
 *   single uppercase letters, so the keys cannot collide.
 * - Tolerated deviations are listed in `quirks` (on the result and on every signal); `strict` rejects them.
 */

export interface SiaData {
  /** The first `#acct` block (or digit-only account block) of the data, else null. */
  account: string | null;
  /** One signal per event packet, in order: a block with several packets yields several signals. */
  events: Signal[];
  /** Every `^text^` and `A` block of the data, joined by a space; null when there is none. */
  text: string | null;
  quirks: string[];
}

export interface SiaOptions {
  /** Reject the tolerated quirks instead of labelling them. */
  strict?: boolean;
  /** Protocol stamped on the signals: 'sia-dc03' by default, 'sia-dcs' inside DC-09, 'surgard' for protocol S. */
  protocol?: Protocol;
}


/** Information and special blocks a data string may carry that this gateway does not interpret. */
const IGNORED_DATA_BLOCKS: ReadonlySet<string> = new Set([...'CEPX@?&LVvI']);
/** `L90` inside an event block: listen-in, the panel stays on line 90 s (Sur-Gard MLR2-DG manual p.40). */
const LISTEN_IN = /L(\d{1,3})/y;
/** SIA code of a listen-in session's start (catalogued covert: it often follows a silent hold-up). */
const LISTEN_IN_BEGIN = 'LF';

const MAX_ADDRESS_DIGITS = 4;
/** Longest digit string read as a number (partition, user, address): beyond it a value is garbage, not a number. */
const MAX_NUMBER_DIGITS = 9;

/** Value syntax of each modifier (openGalaxy `Sia.cpp`; Galaxy GX manual). */
const MODIFIER_VALUE: Readonly<Record<string, RegExp>> = {
  da: /\d{2}-\d{2}-\d{2}/y,
  // HHMM without a colon: Bosch B/G series in Bosch SIA mode (`tihhmm`, installation manual F.01U.287.180 §22.2.1).
  ti: /\d{2}:\d{2}(?::\d{2})?|\d{4}(?!\d)/y,
  id: /\d+/y,
  ri: /\d+/y,
  pi: /\d+/y,
  ai: /\d+/y,
  ph: /\d+/y,
  lv: /\d+/y,
  va: /\d+/y,
  pt: /\d+/y,
  rg: /\d+/y,
  ss: /\d+/y,
};
/** The modifiers that cannot go without a value, and what the value looks like: a date or time is never "none". */
const DATE_TIME_MODIFIER_FORMAT: Readonly<Record<string, string>> = { da: 'MM-DD-YY', ti: 'HH:MM, HH:MM:SS or HHMM' };
/** A `ti` value's hour, minute and optional second, with or without the colon (quirk `time-without-colon`). */
const TIME_PARTS = /^(\d{2}):?(\d{2})(?::(\d{2}))?$/;
const UNKNOWN_MODIFIER_VALUE = /[0-9:.-]*/y;
const ADDRESS = /\d+/y;
/** Capitals then '=': a text field a sender runs on after a packet, no `|A` before it (quirk text-without-block). */
const RUN_ON_TEXT_START = '[A-Z]{1,2}=';
/**
 * A base-16 address (a digit first, then upper-case hex digits), ending where the packet does or where run-on text
 * starts (`BR319AI=…`: zone 319A, field `I=`). No two of its letters are adjacent: two adjacent capitals are the
 * next event code written without '/' (`BA01FA02`).
 */
const HEX_ADDRESS = new RegExp(String.raw`\d(?:[0-9]|[A-F](?![A-F]))*(?=$|[/|^*\s]|${RUN_ON_TEXT_START})`, 'y');
const UNITS = /\*(\d{1,6})([A-Za-z]{1,2})?/y;
/**
 * XSIA text tail after a packet: `*'Teller 3'NM` or `*"Teller 3"NM`, the quoted text followed by a two-letter
 * tag saying what the text names (`NM` name). Aritech/ATS and other XSIA senders append it to every event.
 */
const XSIA_TEXT = /\*(?:'([^'|]*)'|"([^"|]*)")([A-Z]{2})?/y;
/** A field of digits between the account and the event block (AlphaVision style `#0001|0|NHA5`). */
const EXTRA_FIELD = /^\d{1,4}$/;
const MODIFIER_NAME = /^[a-z]{2}$/;
/** Text fields a sender runs on after a packet, no `|A` before them: `OP0597U=Kort 10196`, `CA002A=Heildsala U=…`. */
const RUN_ON_TEXT = new RegExp(`${RUN_ON_TEXT_START}[^|/]*`, 'y');
const EVENT_CODE = /^[A-Z]{2}$/;
/**
 * The duress and hold-up codes, read in any case (quirk `miscased-code`): written `ha` by a panel, a hold-up was taken
 * for an unknown modifier, and after another code (`BA01/ha02`) it vanished from a block that still parsed. No
 * modifier is spelled like one.
 */
const DURESS_CODES: ReadonlySet<string> = new Set(catalogedDuressCodes().filter((code) => code.scheme === 'sia').map((code) => code.value));
/** A duress or hold-up code standing as a word; run-on text carrying one is refused, so the duress scan reads it. */
const DURESS_WORD = new RegExp(`(?:^|[^A-Za-z])(?:${[...DURESS_CODES].join('|')})(?![A-Za-z])`, 'i');
const ACCOUNT = /^[0-9A-Za-z]{1,16}$/;
/** An account written without '#' (ioBroker.sia's example `1234|NFA129`, the NorthLat `12345A|NFA129`). */
const BARE_ACCOUNT = /^[0-9][0-9A-Fa-f]{2,15}$/;

/**
 * Modifiers whose upper-case spelling is not a SIA event code, so a rendered line may write them in any case
 * (`N Ri01 BA 01`). `da`, `ph`, `pt` and `ss` collide with the codes DA, PH, PT and SS and stay lowercase-only.
 */
export const CASE_INSENSITIVE_MODIFIERS: readonly string[] = ['ri', 'id', 'ti', 'pi', 'ai', 'lv', 'va', 'rg'];

/** A syntax error inside the parser; parseSiaData turns it into a DecodeError value. */
class SiaSyntaxError extends Error {}

/** Collects quirks in order, once each; in strict mode the first one is an error. */
class QuirkLog {
  readonly list: string[] = [];
  constructor(private readonly strict: boolean) {}

  add(quirk: string, detail: string): void {
    if (this.strict) throw new SiaSyntaxError(`tolerated quirk '${quirk}' rejected in strict mode: ${detail}`);
    this.note(quirk);
  }

  /** A variant the standard allows (XSIA text): named in the quirks, accepted in strict mode too. */
  note(quirk: string): void {
    if (!this.list.includes(quirk)) this.list.push(quirk);
  }
}

interface ParsedEvent {
  signal: Signal;
  texts: string[];
  /** Ordinal of the N/O block the packet came from: an `A` block right after it describes its events. */
  block: number;
}

/** Recursive-descent reader over one data string; one instance per call. */
class SiaDataParser {
  private pos = 0;
  private account: string | null = null;
  private firstAccount: string | null = null;
  private readonly events: ParsedEvent[] = [];
  private readonly texts: string[] = [];
  private blockCount = 0;
  /** The event block just read stopped at an N/O block that follows a '/' without its '|' (quirk block-without-bar). */
  private barlessBlockNext = false;
  /** Digit-only fields before the event block, kept on every event so no digit is lost. */
  private readonly extraFields: string[] = [];

  constructor(
    private readonly data: string,
    private readonly quirks: QuirkLog,
    private readonly protocol: Protocol,
  ) {}

  parse(): SiaData {
    // Every block reader stops at the next '|' or at the end of the data.
    this.parseBlock(true);
    while (this.data[this.pos] === '|' || this.barlessBlockNext) {
      if (this.barlessBlockNext) {
        this.barlessBlockNext = false;
        this.parseBlock(false);
        continue;
      }
      this.pos++;
      if (this.pos === this.data.length) {
        this.quirks.add('empty-block', 'data ends with "|"');
        break;
      }
      this.parseBlock(false);
    }
    const quirks = this.quirks.list;
    return {
      account: this.firstAccount,
      events: this.events.map(({ signal, texts }) => ({
        ...signal,
        extended: this.extraFields.length === 0 ? signal.extended : { ...signal.extended, extraFields: this.extraFields.join('|') },
        text: texts.length === 0 ? null : texts.join(' '),
        quirks: [...quirks],
      })),
      text: this.texts.length === 0 ? null : this.texts.join(' '),
      quirks: [...quirks],
    };
  }

  private parseBlock(first: boolean): void {
    const start = this.pos;
    const fn = this.data[start];
    if (fn === undefined || fn === '|') {
      // A leading '|' ends the DC-09 pad (`[|Nri1/CL501]`); an empty block elsewhere is a sender slip.
      if (!first) this.quirks.add('empty-block', `empty block at offset ${start}`);
      return;
    }
    if (fn === 'N' || fn === 'O') {
      this.pos++;
      this.parseEventBlock(fn);
      return;
    }
    if (fn === 'L' && (this.parseListenInBlock() || this.parseListenInTime())) return;
    const content = this.readToBlockEnd();
    if (fn === '#') {
      this.setAccount(content.slice(1), start);
    } else if (fn === 'A') {
      this.addAsciiBlock(content.slice(1));
    } else if (first && this.data[this.pos] === '|' && BARE_ACCOUNT.test(content)) {
      this.quirks.add('account-without-hash', `account block "${content}" has no '#'`);
      this.setAccount(content, start);
    } else if (EXTRA_FIELD.test(content)) {
      this.quirks.add('extra-field', `field "${content}" at offset ${start} before the event block`);
      this.extraFields.push(content);
    } else if (IGNORED_DATA_BLOCKS.has(fn)) {
      this.quirks.add('ignored-block', `'${fn}' block at offset ${start} is not interpreted`);
    } else {
      throw new SiaSyntaxError(`unknown block function code "${printable(fn)}" at offset ${start}`);
    }
  }

  /**
   * A listen-in block that carries the event (`Lri1BA01`, Sur-Gard MLR2-DG manual p.40) is read as a new-event
   * block; one without an event code stays an ignored block. Returns whether it was read.
   */
  private parseListenInBlock(): boolean {
    const start = this.pos;
    const blocks = this.blockCount;
    try {
      this.pos++;
      this.parseEventBlock('N');
      this.quirks.note('listen-in-block');
      return true;
    } catch (error) {
      if (!(error instanceof SiaSyntaxError)) throw error;
      this.pos = start;
      this.blockCount = blocks;
      return false;
    }
  }

  /**
   * A listen-in block without an event code (`L`, `L90`: the panel stays on line 90 s) is the same listen-in as an
   * event block's `/L90`: it joins the data's last event, or, with none before it (a panel that sends it as a block of
   * its own after the hold-up's acknowledge), is itself the event: SIA LF, listen-in begin. Returns whether it was read.
   */
  private parseListenInTime(): boolean {
    const start = this.pos;
    LISTEN_IN.lastIndex = start;
    const time = LISTEN_IN.exec(this.data)?.[1] ?? '';
    const end = start + 1 + time.length;
    if (end !== this.data.length && this.data[end] !== '|') return false;
    this.pos = end;
    const last = this.events.at(-1);
    if (last !== undefined) {
      last.signal.extended['listenIn'] = time;
      this.quirks.note('listen-in');
      return true;
    }
    this.blockCount++;
    const signal = emptySignal(this.protocol);
    signal.account = this.account;
    signal.code = { scheme: 'sia', value: LISTEN_IN_BEGIN };
    signal.extended['listenIn'] = time;
    this.events.push({ signal, texts: [], block: this.blockCount });
    this.quirks.note('listen-in-block');
    return true;
  }

  private readToBlockEnd(): string {
    const end = this.data.indexOf('|', this.pos);
    const stop = end === -1 ? this.data.length : end;
    const content = this.data.slice(this.pos, stop);
    this.pos = stop;
    return content;
  }

  private setAccount(account: string, offset: number): void {
    if (!ACCOUNT.test(account)) {
      throw new SiaSyntaxError(`account block at offset ${offset} is not 1-16 letters or digits: "${printable(account)}"`);
    }
    this.account = account;
    this.firstAccount ??= account;
  }

  /** An `A` block describes the events of the N/O block just before it (Galaxy levels 3-4). */
  private addAsciiBlock(raw: string): void {
    const text = raw.trim();
    if (text === '') return;
    this.texts.push(text);
    for (const event of this.events) if (event.block === this.blockCount) event.texts.push(text);
  }

  /** `N`/`O` block: modifiers, event packets `TTAAAA[*units]`, `^text^`, with or without '/' between them. */
  private parseEventBlock(fn: 'N' | 'O'): void {
    this.blockCount++;
    const blockStart = this.pos - 1;
    const modifiers: Record<string, string> = {};
    const blockEvents: ParsedEvent[] = [];
    let pendingTexts: string[] = [];
    let separated = true;
    let modifierAfterLastEvent = false;

    while (this.pos < this.data.length && this.data[this.pos] !== '|') {
      const c = this.data[this.pos];
      if (c === '/') {
        this.pos++;
        separated = true;
        continue;
      }
      if (c === '^') {
        const text = this.readCaretText();
        const last = blockEvents.at(-1);
        if (text !== '') {
          this.texts.push(text);
          if (last === undefined) pendingTexts.push(text);
          else last.texts.push(text);
        }
        separated = true;
        continue;
      }
      const pair = this.data.slice(this.pos, this.pos + 2);
      LISTEN_IN.lastIndex = this.pos;
      const listenIn = blockEvents.length > 0 ? LISTEN_IN.exec(this.data) : null;
      const miscasedDuress = pair !== pair.toUpperCase() && DURESS_CODES.has(pair.toUpperCase()) ? pair.toUpperCase() : null;
      if (listenIn !== null) {
        this.pos = LISTEN_IN.lastIndex;
        blockEvents.at(-1)!.signal.extended['listenIn'] = listenIn[1] ?? '';
        this.quirks.note('listen-in');
      } else if (!separated && blockEvents.length > 0 && this.at(RUN_ON_TEXT)) {
        const at = this.pos;
        const text = this.match(RUN_ON_TEXT)!.trim();
        // Never take a duress code for text (`HA=`, `U=x HA02`): the block fails and the duress scan reads it.
        if (DURESS_WORD.test(text)) throw new SiaSyntaxError(`text "${printable(text)}" after a packet carries a duress code`);
        this.quirks.add('text-without-block', `text "${printable(text)}" follows the packet at offset ${at} without '|A'`);
        this.texts.push(text);
        blockEvents.at(-1)!.texts.push(text);
      } else if (miscasedDuress === null && MODIFIER_NAME.test(pair)) {
        this.pos += 2;
        this.readModifier(pair, modifiers);
        modifierAfterLastEvent = blockEvents.length > 0;
      } else if (miscasedDuress !== null || EVENT_CODE.test(pair)) {
        if (miscasedDuress !== null) this.quirks.add('miscased-code', `code ${pair} at offset ${this.pos} read as ${miscasedDuress}`);
        if (!separated) this.quirks.add('no-slash-before-code', `code ${pair} at offset ${this.pos} follows without '/'`);
        this.pos += 2;
        const event = this.readPacket(miscasedDuress ?? pair, fn, modifiers);
        event.texts.push(...pendingTexts);
        pendingTexts = [];
        blockEvents.push(event);
        modifierAfterLastEvent = false;
      } else if (separated && (c === 'N' || c === 'O') && MODIFIER_NAME.test(this.data.slice(this.pos + 1, this.pos + 3))) {
        // `…/YK00/Ori1/RX00/MA00`: a new block after a '/', its '|' left out. 'N' or 'O' then a modifier is no code.
        this.quirks.add('block-without-bar', `${c} block at offset ${this.pos} follows a '/' instead of a '|'`);
        this.barlessBlockNext = true;
        break;
      } else {
        throw new SiaSyntaxError(
          `expected a modifier, a two-letter event code, '/' or '^' at offset ${this.pos} of the ${fn} block, got "${printable(pair)}"`,
        );
      }
      separated = false;
    }

    if (blockEvents.length === 0) {
      throw new SiaSyntaxError(`the ${fn} block at offset ${blockStart} carries no event code`);
    }
    if (modifierAfterLastEvent) this.quirks.add('modifier-after-last-event', `the ${fn} block ends with a modifier`);
    this.events.push(...blockEvents);
  }

  private readCaretText(): string {
    const open = this.pos;
    const close = this.data.indexOf('^', open + 1);
    if (close === -1) {
      this.quirks.add('unterminated-text', `'^' at offset ${open} has no closing '^'`);
      const end = this.data.indexOf('|', open);
      this.pos = end === -1 ? this.data.length : end;
      return this.data.slice(open + 1, this.pos).trim();
    }
    this.pos = close + 1;
    return this.data.slice(open + 1, close).trim();
  }

  private readModifier(name: string, modifiers: Record<string, string>): void {
    const known = MODIFIER_VALUE[name];
    if (known === undefined) this.quirks.add('unknown-modifier', `modifier '${name}' at offset ${this.pos - 2}`);
    const value = this.match(known ?? UNKNOWN_MODIFIER_VALUE);
    if (known !== undefined && value === null) {
      const format = DATE_TIME_MODIFIER_FORMAT[name];
      if (format !== undefined) throw new SiaSyntaxError(`modifier '${name}' at offset ${this.pos - 2} has no valid value (${format})`);
      // `NriBA`: a panel that sends no area number, passed through as is by a Sur-Gard receiver unless its "Force
      // SIA Zone Number" option (off by default) adds 00. The number stays unknown (null), the event is read.
      this.quirks.add('empty-modifier', `modifier '${name}' at offset ${this.pos - 2} carries no digits`);
    }
    if (name === 'ti' && value !== null && !value.includes(':')) {
      this.quirks.add('time-without-colon', `modifier 'ti${value}' at offset ${this.pos - 2 - value.length} is HHMM`);
    }
    modifiers[name] = value ?? '';
  }

  private readPacket(code: string, fn: 'N' | 'O', modifiers: Readonly<Record<string, string>>): ParsedEvent {
    const packetStart = this.pos - 2;
    const address = this.match(HEX_ADDRESS) ?? this.match(ADDRESS);
    const base16 = address !== null && /[A-F]/.test(address);
    if (base16) this.quirks.note('hex-address');
    if (address !== null && address.length > MAX_ADDRESS_DIGITS) {
      this.quirks.add('long-address', `address "${address}" of ${code} at offset ${packetStart} has more than 4 digits`);
    }
    const signal = emptySignal(this.protocol);
    signal.account = this.account;
    signal.code = { scheme: 'sia', value: code };
    signal.qualifier = fn === 'O' ? 'status' : null;
    signal.address = numberOf(address ?? undefined, `address of ${code}`, base16 ? 16 : 10);
    signal.partition = numberOf(modifiers['ri'], "modifier 'ri'");
    signal.user = numberOf(modifiers['id'], "modifier 'id'");
    signal.occurredAt = this.occurredAt(modifiers['da'], modifiers['ti']);
    if (signal.occurredAt !== null) signal.occurredAtLocal = true;
    for (const [name, value] of Object.entries(modifiers)) {
      if (name !== 'ri' && name !== 'id') signal.extended[name] = value;
    }
    const texts: string[] = [];
    UNITS.lastIndex = this.pos;
    XSIA_TEXT.lastIndex = this.pos;
    const units = UNITS.exec(this.data);
    const xsia = units === null ? XSIA_TEXT.exec(this.data) : null;
    if (units !== null) {
      this.pos = UNITS.lastIndex;
      signal.extended['units'] = units[1] ?? '';
      if (units[2] !== undefined) signal.extended['unitType'] = units[2];
    } else if (xsia !== null) {
      this.pos = XSIA_TEXT.lastIndex;
      this.quirks.note('xsia-text');
      const text = (xsia[1] ?? xsia[2] ?? '').trim();
      if (text !== '') {
        texts.push(text);
        this.texts.push(text);
      }
      if (xsia[3] !== undefined) signal.extended['textType'] = xsia[3];
    } else if (this.data[this.pos] === '*') {
      throw new SiaSyntaxError(`'*' after ${code} at offset ${this.pos} is followed by neither a units number nor XSIA text`);
    }
    return { signal, texts, block: this.blockCount };
  }

  private occurredAt(date: string | undefined, time: string | undefined): string | null {
    if (date === undefined || time === undefined) return null;
    const [month, day, year] = date.split('-').map(Number) as [number, number, number];
    // Month 00 means "day is a weekday" (DC-03): no calendar date to build.
    if (month === 0) return null;
    const parts = TIME_PARTS.exec(time);
    if (parts === null) return null;
    const [hour, minute, second] = [parts[1], parts[2], parts[3] ?? '0'].map(Number) as [number, number, number];
    const fullYear = year >= 70 ? 1900 + year : 2000 + year;
    const ms = Date.UTC(fullYear, month - 1, day, hour, minute, second);
    const back = new Date(ms);
    const valid =
      back.getUTCMonth() === month - 1 && back.getUTCDate() === day && hour < 24 && minute < 60 && second < 60;
    if (!valid) {
      this.quirks.add('invalid-timestamp', `da${date} ti${time} is not a calendar date and time`);
      return null;
    }
    return back.toISOString();
  }

  private at(pattern: RegExp): boolean {
    pattern.lastIndex = this.pos;
    return pattern.test(this.data);
  }

  private match(pattern: RegExp): string | null {
    pattern.lastIndex = this.pos;
    const found = pattern.exec(this.data);
    if (found === null || found[0] === '') return null;
    this.pos = pattern.lastIndex;
    return found[0];
  }
}

/** null for a number that was not sent: no modifier, or one without digits (`empty-modifier`). */
function numberOf(digits: string | undefined, what: string, radix: 10 | 16 = 10): number | null {
  if (digits === undefined || digits === '') return null;
  if (digits.length > MAX_NUMBER_DIGITS) throw new SiaSyntaxError(`${what} has more than ${MAX_NUMBER_DIGITS} digits`);
  return Number.parseInt(digits, radix);
}

/** Input quoted in an error message: log-safe and bounded. */
function printable(text: string): string {
  const bounded = text.length > 32 ? text.slice(0, 32) + '…' : text;
  return escapeBytes(Buffer.from(bounded, 'latin1'));
}

/**
 * The data with its rendered N/O blocks in wire form, so a rendered block reads the same inside DC-09, from Sur-Gard
 * or on a serial line: spaces between its words (`N Ri01 BA 01` DSC rendering, `Nri1/HA 05`, a code and its address
 * in separate words) are labelled `spaced-rendering`, upper-case `RI`, `ID`, `TI`, `PI`, `AI`, `LV`, `VA`, `RG`
 * modifiers `uppercase-modifier`. Only a rendered line (`line`) may write a modifier in upper case without a space:
 * in wire data `NAIAA` is the codes AI and AA.
 */
function inWireForm(data: string, quirks: QuirkLog, line: boolean): string {
  let wire = '';
  let pos = 0;
  while (pos < data.length) {
    const rest = data.slice(pos);
    const eventBlock = rest[0] === 'N' || rest[0] === 'O';
    const bar = rest.indexOf('|');
    const end = eventBlock ? blockEnd(rest) : bar === -1 ? rest.length : bar;
    const block = rest.slice(0, end);
    const spaced = eventBlock && /\s/.test(block.replace(/\^[^^]*(\^|$)|\*'[^']*('|$)|\*"[^"]*("|$)|(?<=[A-Z])=[^|/]*/g, ''));
    if (spaced) quirks.add('spaced-rendering', 'spaces between block words');
    wire += eventBlock && (spaced || line) ? normaliseEventBlock(block, quirks) : block;
    pos += end;
    if (pos < data.length) {
      wire += '|';
      pos++;
    }
  }
  return wire;
}

function parseWithQuirks(data: string, quirks: QuirkLog, protocol: Protocol, line = false): DecodeResult<SiaData> {
  try {
    return ok(new SiaDataParser(inWireForm(data, quirks, line), quirks, protocol).parse());
  } catch (error) {
    if (error instanceof SiaSyntaxError) return fail('SIA03_FORMAT_INVALID', error.message, data);
    throw error;
  }
}

/**
 * DC-03 data as carried by DC-09 SIA-DCS, Sur-Gard protocol S and serial SIA lines: optional `#acct|`, function
 * letter N (new) / O (old, published with qualifier 'status'), modifiers before the codes, '/' separators
 * (their absence is tolerated as quirk `no-slash-before-code`), one or more event packets `TTAAAA`, `^text^` and
 * `|Atext` ASCII blocks. Every packet becomes a signal: parsing never stops after the first code. The empty string
 * gives no events (a DC-09 `[]` link test). An unknown two-letter code is not an error; the catalogue decides.
 */
export function parseSiaData(data: string, options: SiaOptions = {}): DecodeResult<SiaData> {
  return parseWithQuirks(data, new QuirkLog(options.strict ?? false), options.protocol ?? 'sia-dc03');
}

/** What ends text run on after a packet (`OP0597U=Kort 10196`): the next '|' or '/', which stays a separator. */
const RUN_ON_END = '|/';

/**
 * Tracks free text while a rendered line is read character by character: `^…^`, the XSIA `*'…'` / `*"…"` tails,
 * and text run on after a packet. step() says whether the character is part of (or delimits) a text.
 */
class TextSpans {
  private close: string | null = null;
  private previous = '';

  step(c: string): boolean {
    const before = this.previous;
    this.previous = c;
    if (this.close === RUN_ON_END) {
      if (c !== '|' && c !== '/') return true;
      this.close = null;
      return false;
    }
    if (this.close !== null) {
      if (c === this.close) this.close = null;
      return true;
    }
    if (c === '^') this.close = '^';
    else if ((c === '"' || c === "'") && before === '*') this.close = c;
    // Capital letters then '=' start text run on after a packet (quirk text-without-block).
    else if (c === '=' && /[A-Z]/.test(before)) this.close = RUN_ON_END;
    return this.close !== null;
  }
}

/**
 * Words of a rendered block, split on spaces and '/' outside `^…^`, so free text stays whole; `spaced` when only
 * spaces (no '/') separate a word from the one before.
 */
function splitWords(segment: string): Array<{ word: string; spaced: boolean }> {
  const words: Array<{ word: string; spaced: boolean }> = [];
  let word = '';
  let slash = false;
  const text = new TextSpans();
  for (const c of segment) {
    const inText = text.step(c);
    if (!inText && (c === '/' || /\s/.test(c))) {
      if (word !== '') words.push({ word, spaced: !slash });
      if (word !== '') slash = false;
      word = '';
      if (c === '/') slash = true;
    } else {
      word += c;
    }
  }
  if (word !== '') words.push({ word, spaced: !slash });
  return words;
}

/** The end of the first N/O block: the first '|' outside `^…^`. */
function blockEnd(text: string): number {
  const spans = new TextSpans();
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? '';
    if (!spans.step(c) && c === '|') return i;
  }
  return text.length;
}

/**
 * Rewrites a rendered event block (`N Ri01 BA 01`, `NRI01/BA01`) into wire form (`Nri01/BA01`): words are split
 * on spaces and '/', case-insensitive modifiers are lower-cased, a code word followed by a digit word after a
 * space (not a '/') is joined.
 */
function normaliseEventBlock(block: string, quirks: QuirkLog): string {
  const fn = block[0] ?? '';
  const words = splitWords(block.slice(1));
  const modifierStart = new RegExp(`^(${CASE_INSENSITIVE_MODIFIERS.join('|')})`, 'i');
  const joined: string[] = [];
  for (const { word, spaced } of words) {
    const previous = joined.at(-1);
    // A code and its number in separate words (`BA 05`), or a modifier and its value (`ID 12`).
    const takesNumber = previous !== undefined && (EVENT_CODE.test(previous) || CASE_INSENSITIVE_MODIFIERS.includes(previous));
    if (takesNumber && spaced && /^\d/.test(word)) {
      joined[joined.length - 1] = previous + word;
      continue;
    }
    const modifier = modifierStart.exec(word)?.[1];
    if (modifier !== undefined && modifier !== modifier.toLowerCase()) {
      quirks.add('uppercase-modifier', `modifier "${modifier}" written in upper case`);
      joined.push(modifier.toLowerCase() + word.slice(2));
    } else {
      joined.push(word);
    }
  }
  return fn + joined.join('/');
}

/**
 * One SIA message per line from a panel serial port or printer output. Accepted, besides the wire data form of
 * parseSiaData: surrounding CR/LF and spaces; surrounding `[...]`; `#acct` followed by spaces instead of '|'
 * (Galaxy levels 0-1, `#1234 NBA0001`), labelled `spaced-rendering`. Rendered N/O blocks are read by the data
 * parser on every path (see inWireForm).
 */
export function decodeSiaLine(text: string, options: SiaOptions = {}): DecodeResult<SiaData> {
  const quirks = new QuirkLog(options.strict ?? false);
  try {
    let line = text.trim();
    if (line.startsWith('[') && line.endsWith(']')) line = line.slice(1, -1).trim();
    const account = /^#([0-9A-Za-z]+)(\s+|\|)/.exec(line);
    let prefix = '';
    if (account !== null) {
      if (account[2] !== '|') quirks.add('spaced-rendering', 'account followed by spaces instead of "|"');
      prefix = `#${account[1] ?? ''}|`;
      line = line.slice(account[0].length);
    }
    return parseWithQuirks(prefix + line, quirks, options.protocol ?? 'sia-dc03', true);
  } catch (error) {
    if (error instanceof SiaSyntaxError) return fail('SIA03_FORMAT_INVALID', error.message, text);
    throw error;
  }
}
