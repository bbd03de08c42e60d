/**
 * Letters of other scripts that look like Latin ones, after Unicode's confusables.txt (UTS #39), lower case only:
 * the text is lower-cased first. A sender that writes "Durеss" with a Cyrillic е must not pass it unlabelled.
 */
const LATIN_LOOKALIKES: ReadonlyMap<string, string> = new Map(
  Object.entries({
    'а': 'a', 'α': 'a', 'с': 'c', 'ԁ': 'd', 'е': 'e', 'ε': 'e', 'һ': 'h', 'і': 'i', 'ι': 'i', 'ј': 'j', 'о': 'o', 'ο': 'o',
    'р': 'p', 'ρ': 'p', 'ԛ': 'q', 'г': 'r', 'ѕ': 's', 'υ': 'u', 'ս': 'u', 'ν': 'v', 'ԝ': 'w', 'х': 'x', 'χ': 'x', 'у': 'y',
  }),
);

/**
 * Text as it reads: compatibility forms (full-width letters, ligatures) and accents folded (NFKD, marks dropped),
 * invisible format characters (zero-width space, soft hyphen, direction marks) removed, look-alike letters read as
 * Latin, lower case.
 */
function foldLookalikes(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\p{Mn}\p{Cf}]/gu, '')
    .toLowerCase()
    .replace(/[^\u0000-\u007f]/g, (letter) => LATIN_LOOKALIKES.get(letter) ?? letter);
}

/** Whether a text a sender chose (an access event type, an element of its document) names a duress, however spelled. */
export function namesDuress(text: string): boolean {
  return foldLookalikes(text).includes('duress');
}

/** The calls for help a sender's text may name, most urgent first: a duress outranks a hold-up, a hold-up a panic. */
export const NAMED_ALARMS = ['duress', 'holdup', 'panic'] as const;
export type NamedAlarm = (typeof NAMED_ALARMS)[number];

/**
 * "Hold-up", "Holdup", "Hold up button", "HOLD_UP", "TellerHoldUp", "Hold-ups": written as one word, or as two with up
 * to three separators between them and "up" ending a word; not "threshold up", "hold upstairs", "HoldUpdate".
 */
const HOLDUP_WORD = /(?<!thres)hold(?:up(?!dat|per|load)|[^a-z0-9]{1,3}ups?(?![a-z]))/;

/**
 * "Panic", "PanicAlarm", "Panic button". Not panic hardware: a panic bar (crash bar), panic bolt or latch, panic
 * hardware and panic exit devices open emergency exits (ANSI/BHMA A156.3 exit devices), so "Panic bar door opened"
 * is a door; not "Hispanic" either.
 */
const PANIC_WORD = /(?<!his)panic(?![^a-z0-9]{0,3}(?:bar|bolt|latch|hardware|exit|push|paddle))/;

/** The most urgent call for help a sender's text names, however spelled, or null. */
export function alarmNamedIn(text: string): NamedAlarm | null {
  const folded = foldLookalikes(text);
  if (folded.includes('duress')) return 'duress';
  if (HOLDUP_WORD.test(folded)) return 'holdup';
  return PANIC_WORD.test(folded) ? 'panic' : null;
}
