import { describe, expect, it } from 'vitest';
import { terminalText } from '../../../adapters/system/terminal-text.js';
import { OBEYED_BY_TERMINALS, HOSTILE_ACCOUNT, HOSTILE_NOTE } from '../../helpers/terminal-text.js';

describe('terminalText', () => {
  it('shows every character a terminal would obey as a \\u escape, and leaves the rest, and the meaning of JSON, alone', () => {
    expect(terminalText('Teller 1 – Zürich ✓')).toBe('Teller 1 – Zürich ✓');
    expect(terminalText('a\u001b[2Jb\u009b8m\r\n\t\u007f\u202e')).toBe('a\\u001b[2Jb\\u009b8m\\u000d\\u000a\\u0009\\u007f\\u202e');
    const value = { account: HOSTILE_ACCOUNT, note: HOSTILE_NOTE };
    const printed = terminalText(JSON.stringify(value));
    expect(printed).not.toMatch(OBEYED_BY_TERMINALS);
    expect(JSON.parse(printed)).toEqual(value);
  });
});
