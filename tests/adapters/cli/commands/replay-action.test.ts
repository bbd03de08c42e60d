import { describe, expect, it } from 'vitest';
import { formatProgress } from '../../../../adapters/cli/commands/replay-action.js';

describe('formatProgress', () => {
  it('draws the share of bytes read', () => {
    expect(formatProgress(3 << 20, 12 << 20, 1500, 8)).toBe('[##------]  25.0%  3.0/12.0 MiB  1500 frames');
    expect(formatProgress(13 << 20, 12 << 20, 9, 4)).toBe('[####] 100.0%  12.0/12.0 MiB  9 frames');
  });
});
