import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sources(full);
    return full.endsWith('.ts') ? [full] : [];
  });
}

/** Bare module names the shipped code imports (`import … from 'x'`, `import('x')`), and pino transport targets. */
function importedPackages(): Set<string> {
  const names = new Set<string>();
  for (const file of [...sources(path.join(root, 'src')), ...sources(path.join(root, 'adapters'))]) {
    const text = readFileSync(file, 'utf8');
    // A pino transport is a module name too: `transport: { target: 'pino-pretty' }`.
    for (const match of text.matchAll(/(?:from\s+|import\(\s*|transport:\s*\{\s*target:\s*)'([^'.][^']*)'/g)) {
      const spec = match[1]!;
      if (spec.startsWith('node:')) continue;
      names.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return names;
}

describe('the npm package', () => {
  it('ships what runs: no compiled tests, no source maps or declarations, the CLI and the shrinkwrap', () => {
    const output = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
    const files = (JSON.parse(output) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    expect(files.filter((f) => f.startsWith('dist/tests') || f.startsWith('tests/'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.map') || f.endsWith('.d.ts') || f.endsWith('.ts'))).toEqual([]);
    expect(files).toContain(pkg.bin['panelbridge']);
    expect(files).toContain('npm-shrinkwrap.json');
    expect(files).toContain('dist/adapters/inputs/dc09-socket-worker.js');
    expect(files).toContain('config/panelbridge.example.yaml');
  }, 60_000);

  it('depends on exactly the packages the shipped code imports', () => {
    const imported = importedPackages();
    expect(Object.keys(pkg.dependencies).filter((d) => !imported.has(d))).toEqual([]);
    expect([...imported].filter((d) => pkg.dependencies[d] === undefined).sort()).toEqual([]);
  });

  it('pins the tested versions in npm-shrinkwrap.json, in step with package.json', () => {
    const shrinkwrap = JSON.parse(readFileSync(path.join(root, 'npm-shrinkwrap.json'), 'utf8')) as {
      packages: Record<string, { dependencies?: Record<string, string>; devDependencies?: Record<string, string> }>;
    };
    expect(shrinkwrap.packages['']?.dependencies).toEqual(pkg.dependencies);
    expect(shrinkwrap.packages['']?.devDependencies).toEqual(pkg.devDependencies);
  });
});
