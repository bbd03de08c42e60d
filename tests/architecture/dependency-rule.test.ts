import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// The dependency rule of the layout (see README "Layout"): the core never reaches into the I/O edges,
// nothing imports in a circle, and the lowest layers (settings, ports) import nothing above them.
const ROOT = resolve(import.meta.dirname, '../..');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

// Static imports, re-exports, dynamic imports and inline `import('…')` types: every way one file can lean on another.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g;

/** Repository-relative paths of the project files `file` imports (packages and node: builtins left out). */
export function projectImports(file: string, source: string): string[] {
  const found = new Set<string>();
  for (const [, specifier] of source.matchAll(SPECIFIER)) {
    if (!specifier!.startsWith('.')) continue;
    const target = relative(ROOT, resolve(ROOT, dirname(file), specifier!)).replace(/\.js$/, '.ts');
    found.add(target);
  }
  return [...found];
}

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of [...sourceFiles('src'), ...sourceFiles('adapters')]) {
    graph.set(file, projectImports(file, readFileSync(join(ROOT, file), 'utf8')));
  }
  return graph;
}

/** Every import cycle, each reported once as the path that closes it. */
export function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

describe('dependency rule', () => {
  const graph = importGraph();

  it('reads the tree it checks', () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get('adapters/cli/gateway.ts')?.length).toBeGreaterThan(5);
  });

  it('src/ never imports adapters/', () => {
    const violations = [...graph].flatMap(([file, targets]) =>
      file.startsWith('src/') ? targets.filter((t) => t.startsWith('adapters/')).map((t) => `${file} -> ${t}`) : [],
    );
    expect(violations).toEqual([]);
  });

  it('has no circular imports', () => {
    expect(cycles(graph).map((cycle) => cycle.join(' -> '))).toEqual([]);
  });

  it('src/settings/ imports only itself and the catalog data', () => {
    const violations = [...graph].flatMap(([file, targets]) =>
      file.startsWith('src/settings/')
        ? targets.filter((t) => !t.startsWith('src/settings/') && !t.startsWith('src/catalog/')).map((t) => `${file} -> ${t}`)
        : [],
    );
    expect(violations).toEqual([]);
  });

  it('the DC-09 socket worker does not load the code catalogue (its validation and tables cost each worker about 5 MB idle)', () => {
    const reached = new Set<string>();
    const visit = (file: string): void => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const next of graph.get(file) ?? []) visit(next);
    };
    visit('adapters/inputs/dc09-socket-worker.ts');
    expect(reached.has('src/codecs/dc09/framer.ts')).toBe(true);
    expect([...reached].filter((file) => file.startsWith('src/catalog/'))).toEqual([]);
  });

  it('src/ports.ts imports nothing from the project', () => {
    expect(graph.get('src/ports.ts')).toEqual([]);
  });
});

describe('the checker itself', () => {
  it('finds a cycle and every import form', () => {
    const graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(cycles(graph)).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
    const source = [
      "import { x } from './x.js';",
      "export * from '../y.js';",
      "import './side.js';",
      "type T = import('./t.js').T;",
      "const m = await import('./lazy.js');",
      "import { z } from 'zod';",
    ].join('\n');
    expect(projectImports('src/a/file.ts', source).sort()).toEqual(
      ['src/a/lazy.ts', 'src/a/side.ts', 'src/a/t.ts', 'src/a/x.ts', 'src/y.ts'].sort(),
    );
  });
});
