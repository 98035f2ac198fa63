// Reads the import graph of lib/ from its TypeScript sources and checks it against the layering
// written in docs/architecture.md: data flows file → codec → mount → QEMU → console/channel/frames,
// and a module may import only down that flow, inside its own part, or from the shared top.
import fs from 'node:fs';
import path from 'node:path';

/** The parts in data-flow order; each may import the parts before it, never one after it. */
export const PARTS = ['codec', 'remote', 'fuse', 'vm', 'net', 'frames', 'screen', 'view', 'boot', 'serve', 'demo', 'cli'];

/** Modules at the top of lib/ that belong to no part. Only index.ts may import the parts. */
export const SHARED = ['errors', 'native', 'format', 'atomic-write', 'index'];

// Every form that names another module: import/export … from, bare import, import(), require(),
// and `declare module` augmentations of another file's types.
const SPECIFIER = /(?:\bfrom\s+|\bimport\s+|\bimport\(\s*|\brequire\(\s*|\bdeclare\s+module\s+)['"]([^'"]+)['"]/g;

function tsFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** 'codec', 'cli', … for a module path relative to lib/ (no extension); 'shared' at the top. */
export function partOf(rel) {
  const parts = rel.split('/');
  return parts.length === 1 ? 'shared' : parts[0];
}

/** Whether a module in part `from` may import one in part `to` (index.ts is checked separately). */
function allowed(from, to) {
  if (to === 'shared') return true;
  if (from === 'shared') return false;
  if (from === to) return true;
  return PARTS.indexOf(to) !== -1 && PARTS.indexOf(to) < PARTS.indexOf(from);
}

/**
 * Every import in libDir that breaks the layering, as
 * { file, specifier, reason } with file relative to libDir.
 */
export function importViolations(libDir) {
  const violations = [];
  for (const file of tsFiles(libDir)) {
    const rel = path.relative(libDir, file).replace(/\\/g, '/').replace(/\.ts$/, '');
    const from = partOf(rel);
    if (from !== 'shared' && !PARTS.includes(from)) {
      violations.push({ file: rel, specifier: '', reason: `lib/${from}/ is not a known part (${PARTS.join(', ')})` });
      continue;
    }
    const src = fs.readFileSync(file, 'utf8');
    for (const [, spec] of src.matchAll(SPECIFIER)) {
      if (!spec.startsWith('.')) continue; // node: builtins and packages
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec));
      if (target.startsWith('../')) {
        if (target !== '../package.json') violations.push({ file: rel, specifier: spec, reason: 'reaches outside lib/' });
        continue;
      }
      const to = partOf(target);
      if (rel === 'index') {
        if (to === 'cli') violations.push({ file: rel, specifier: spec, reason: 'the package entry must not load the CLI' });
        continue;
      }
      if (!allowed(from, to)) {
        violations.push({ file: rel, specifier: spec, reason: `${from} may not import ${to}` });
      }
    }
  }
  return violations;
}

/** The files at lib/'s top level that are not shared modules. */
export function strayTopLevelFiles(libDir) {
  return fs.readdirSync(libDir, { withFileTypes: true })
    .filter((e) => e.isFile() && !SHARED.includes(e.name.replace(/\.ts$/, '')))
    .map((e) => e.name);
}
