import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// tests/src/ and tests/adapters/ mirror src/ and adapters/ (see tests/README.md): a file's tests are found by its
// path. This keeps the mirror from rotting when a module moves or a test is filed in the wrong place.
const ROOT = resolve(import.meta.dirname, '../..');
const MIRRORS = ['tests/src', 'tests/adapters'];
/** The folders of tests that span more than one module; everything else lives in a mirror. */
const CROSS_CUTTING = ['architecture', 'bench', 'cli', 'e2e', 'helpers', 'integration'];

function filesUnder(dir: string): string[] {
  if (!existsSync(join(ROOT, dir))) return [];
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    return statSync(join(ROOT, path)).isDirectory() ? filesUnder(path) : [path];
  });
}

const isTestFile = (file: string): boolean => file.endsWith('.test.ts') || file.endsWith('.contract.ts');

/**
 * The source a mirrored test is about: `tests/src/codecs/dc09/frame.golden.test.ts` → `src/codecs/dc09/frame`.
 * The name up to its first dot is the module; what follows names the kind of test (golden, property, contract,
 * or an aspect such as `integrity`).
 */
export function subjectOf(testFile: string): string {
  return join(relative('tests', dirname(testFile)), basename(testFile).split('.')[0]!);
}

/** A subject exists as a module (`.ts`), a data table (`.json`, the catalog's) or a folder. */
function subjectExists(subject: string): boolean {
  return ['.ts', '.json', ''].some((ending) => existsSync(join(ROOT, subject + ending)));
}

describe('test layout', () => {
  const mirrored = MIRRORS.flatMap(filesUnder);

  it('every test under tests/src/ and tests/adapters/ sits beside a source file or folder of the same path', () => {
    const tests = mirrored.filter(isTestFile);
    expect(tests.length).toBeGreaterThan(0);
    expect(tests.filter((file) => !subjectExists(subjectOf(file)))).toEqual([]);
  });

  it('the mirrors hold tests and their data only: helpers live in tests/helpers/', () => {
    expect(mirrored.filter((file) => file.endsWith('.ts') && !isTestFile(file))).toEqual([]);
  });

  it('every other test sits in a named cross-cutting folder', () => {
    const allowed = [...MIRRORS.map((mirror) => basename(mirror)), ...CROSS_CUTTING];
    const misplaced = readdirSync(join(ROOT, 'tests')).filter((name) => {
      const path = join('tests', name);
      // A folder left empty by a move holds no tests, so only folders with files count.
      if (statSync(join(ROOT, path)).isDirectory()) return !allowed.includes(name) && filesUnder(path).length > 0;
      return name.endsWith('.ts');
    });
    expect(misplaced).toEqual([]);
  });
});
