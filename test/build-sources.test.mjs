// The two native builds (cmake-js primary, node-gyp fallback) must compile the same sources,
// both the list every platform builds and the macOS-only list.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './helpers/prereq.mjs';

function cmakeList(name) {
  const text = fs.readFileSync(path.join(repoRoot, 'CMakeLists.txt'), 'utf8');
  const m = new RegExp(`set\\(${name}([^)]*)\\)`).exec(text);
  if (!m) throw new Error(`CMakeLists.txt has no set(${name} ...)`);
  return m[1].split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
}

function gypTarget() {
  const text = fs.readFileSync(path.join(repoRoot, 'binding.gyp'), 'utf8');
  const json = text.replace(/#.*$/gm, '').replace(/,(\s*[\]}])/g, '$1');
  return JSON.parse(json).targets[0];
}

function gypDarwinSources() {
  const mac = (gypTarget().conditions ?? []).find(([cond]) => cond === "OS=='mac'");
  return mac?.[1].sources ?? [];
}

test('CMakeLists.txt and binding.gyp list the same native sources', (t) => {
  const cmake = cmakeList('PIXELRTS_SOURCES');
  t.true(cmake.length > 0);
  t.deepEqual([...gypTarget().sources].sort(), [...cmake].sort());
});

test('CMakeLists.txt and binding.gyp list the same macOS-only sources', (t) => {
  const cmake = cmakeList('PIXELRTS_DARWIN_SOURCES');
  t.true(cmake.length > 0);
  t.deepEqual([...gypDarwinSources()].sort(), [...cmake].sort());
});

test('every listed source exists', (t) => {
  for (const src of [...cmakeList('PIXELRTS_SOURCES'), ...cmakeList('PIXELRTS_DARWIN_SOURCES')]) {
    t.true(fs.existsSync(path.join(repoRoot, src)), src);
  }
});

test('the nbdkit plugin (CMake only) lists every source of native/nbd/, and they exist', (t) => {
  const listed = cmakeList('PIXELRTS_NBD_SOURCES');
  const present = fs.readdirSync(path.join(repoRoot, 'native', 'nbd')).filter((f) => f.endsWith('.cc')).map((f) => `native/nbd/${f}`);
  t.deepEqual([...listed].sort(), present.sort());
});
