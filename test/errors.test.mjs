// One error contract (#15): every error pixelrts throws, native ones included, is a
// PixelrtsError whose code is in PixelrtsErrorCode and in the one table of docs/errors.md.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { repoRoot } from './helpers/prereq.mjs';

const require = createRequire(import.meta.url);
const px = require('../dist/index.js');

/** Every file under `dir` with one of `exts`. */
function sources(dir, exts) {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && exts.some((x) => e.name.endsWith(x)))
    .map((e) => path.join(e.parentPath ?? e.path, e.name));
}

/** The codes named in lib/ and native/; `ERR_PIXELRTS_PNG_*` (a family, in comments) is not one. */
function usedCodes() {
  const files = [...sources(path.join(repoRoot, 'lib'), ['.ts']), ...sources(path.join(repoRoot, 'native'), ['.cc', '.h', '.mm'])];
  const codes = new Map();
  for (const f of files) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/ERR_PIXELRTS_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_]*\*)/g)) {
      if (!codes.has(m[0])) codes.set(m[0], path.relative(repoRoot, f));
    }
  }
  return codes;
}

function documentedCodes() {
  const doc = fs.readFileSync(path.join(repoRoot, 'docs', 'errors.md'), 'utf8');
  return new Set([...doc.matchAll(/^\| `(ERR_PIXELRTS_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
}

test('every code used in lib/ and native/ is in PixelrtsErrorCode and in the docs/errors.md table, and every listed code is used', (t) => {
  const used = usedCodes();
  const listed = new Set(px.PIXELRTS_ERROR_CODES);
  const documented = documentedCodes();
  t.true(used.size > 50);
  const missing = [...used].filter(([code]) => !listed.has(code)).map(([code, file]) => `${code} (${file})`);
  t.deepEqual(missing, [], 'add these to PIXELRTS_ERROR_CODES in lib/errors.ts');
  t.deepEqual([...used.keys()].filter((c) => !documented.has(c)), [], 'add these to the table in docs/errors.md');
  t.deepEqual([...listed].filter((c) => !used.has(c)), [], 'listed but used nowhere');
  t.deepEqual([...documented].filter((c) => !listed.has(c)), [], 'documented but not in the type');
});

test('the type is the run-time list: PixelrtsError.code is typed PixelrtsErrorCode', (t) => {
  const dts = fs.readFileSync(path.join(repoRoot, 'dist', 'errors.d.ts'), 'utf8');
  t.regex(dts, /readonly code: PixelrtsErrorCode;/);
  t.regex(dts, /export type PixelrtsErrorCode = typeof PIXELRTS_ERROR_CODES\[number\]/);
});

test('a native error (decoding a garbage PNG) is a PixelrtsError, sync and async', async (t) => {
  const garbage = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(64, 7)]);
  const sync = t.throws(() => px.decode(garbage));
  t.true(sync instanceof px.PixelrtsError, `${sync.constructor.name}: ${sync.message}`);
  t.is(sync.code, 'ERR_PIXELRTS_PNG_CHUNK');
  t.true(px.isPixelrtsError(sync));
  const notPng = t.throws(() => px.decode(Buffer.from('not a png')));
  t.true(notPng instanceof px.PixelrtsError);
  t.is(notPng.code, 'ERR_PIXELRTS_PNG_SIGNATURE');
  const rejected = await t.throwsAsync(px.decodeAsync(garbage));
  t.true(rejected instanceof px.PixelrtsError);
  t.true(px.PIXELRTS_ERROR_CODES.includes(rejected.code));
});
