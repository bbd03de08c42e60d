// node --expose-gc imports.mjs mod1 mod2 ... : RSS/heap after each import (cumulative)
const mb = (n) => (n / 1048576).toFixed(1);
function report(label) {
  global.gc(); global.gc();
  const m = process.memoryUsage();
  console.log(`${label.padEnd(60)} rss ${mb(m.rss).padStart(6)}  heap ${mb(m.heapUsed).padStart(6)}  ext ${mb(m.external).padStart(5)}`);
}
report('(bare)');
for (const spec of process.argv.slice(2)) {
  await import(spec.startsWith('.') || spec.startsWith('/') ? new URL(spec, `file://${process.cwd()}/`).href : import.meta.resolve(spec));
  report(spec);
}
