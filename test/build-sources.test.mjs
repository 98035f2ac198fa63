// The two native builds (cmake-js primary, node-gyp fallback) must compile the same sources.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './helpers/prereq.mjs';

function cmakeSources() {
  const text = fs.readFileSync(path.join(repoRoot, 'CMakeLists.txt'), 'utf8');
  const m = /set\(PIXELRTS_SOURCES([^)]*)\)/.exec(text);
  if (!m) throw new Error('CMakeLists.txt has no set(PIXELRTS_SOURCES ...)');
  return m[1].split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
}

function gypSources() {
  const text = fs.readFileSync(path.join(repoRoot, 'binding.gyp'), 'utf8');
  const json = text.replace(/#.*$/gm, '').replace(/,(\s*[\]}])/g, '$1');
  return JSON.parse(json).targets[0].sources;
}

test('CMakeLists.txt and binding.gyp list the same native sources', (t) => {
  const cmake = cmakeSources();
  t.true(cmake.length > 0);
  t.deepEqual([...gypSources()].sort(), [...cmake].sort());
});

test('every listed source exists', (t) => {
  for (const src of cmakeSources()) t.true(fs.existsSync(path.join(repoRoot, src)), src);
});
