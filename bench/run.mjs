// `npm run bench [-- part...]`: runs every bench/<part>.bench.mjs (or the named parts) one
// after another, each in its own process so one part's memory and threads do not skew the
// next. Each part prints its own figures and ratios against a baseline measured in the same run.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const all = fs.readdirSync(dir).filter((f) => f.endsWith('.bench.mjs')).sort()
  .map((f) => f.slice(0, -'.bench.mjs'.length));
const wanted = process.argv.slice(2);
const unknown = wanted.filter((p) => !all.includes(p));
if (unknown.length > 0) {
  console.error(`bench: unknown part(s) ${unknown.join(', ')}; available: ${all.join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const part of wanted.length > 0 ? wanted : all) {
  console.log(`\n=== bench: ${part} ===`);
  const r = spawnSync(process.execPath, ['--expose-gc', path.join(dir, `${part}.bench.mjs`)], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`bench: ${part} exited with ${r.status ?? r.signal}`);
    failed++;
  }
}
process.exit(failed === 0 ? 0 : 1);
