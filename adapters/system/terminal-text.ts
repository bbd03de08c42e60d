/**
 * What a terminal obeys instead of showing: C0 and C1 controls and DEL (cursor moves, colours, erasures, a conceal
 * that hides every line after it; C1 CSI U+009B works like ESC [ in xterm), line separators, and the marks that
 * reorder a line (bidi overrides and isolates).
 */
const OBEYED = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/**
 * One line for a terminal: every character it would obey is shown as a `\uXXXX` escape. Text a panel sent (an
 * access-XML account, DC-09 extended data) or a person wrote (a note) cannot then hide or forge a line of the
 * listing; JSON keeps its meaning, as these are also JSON's escapes and appear only inside its strings.
 */
export function terminalText(line: string): string {
  return line.replace(OBEYED, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
