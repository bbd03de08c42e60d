// Text that a terminal would obey and hostile strings carrying it, for the tests of what the CLI prints.

/** What a terminal obeys rather than shows: C0 and C1 controls, DEL, and the marks that reorder a line (bidi). */
export const OBEYED_BY_TERMINALS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

/**
 * Text an attacker controls: an access-XML controller sends the account of its duress (unverified, it is still
 * stored and opens an incident), an operator writes the acknowledgement's note. SGR 8 (conceal) in ESC and in C1 CSI
 * form would hide every line printed after it, the real hold-up's included; a newline forges a line of its own;
 * U+202E reverses the rest of the line.
 */
export const HOSTILE_ACCOUNT = 'door-7\u001b[8m\u009b8m';
export const HOSTILE_NOTE = 'false alarm\nno open incidents\u202e';
