// `npm run prebuild` (prebuildify) writes prebuilds/linux-x64/, and node-gyp-build loads the
// addon from there when build/ is gone, which is how users without a compiler get it. Runs in
// a scratch copy of the package so the checkout's own build/ is left alone.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './helpers/prereq.mjs';

const copied = ['package.json', '.npmrc', 'CMakeLists.txt', 'binding.gyp', 'native', 'scripts', 'dist'];

test('prebuildify output loads without build/ and links system libraries statically', (t) => {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    t.pass(`prebuild check is for linux-x64 (this is ${process.platform}-${process.arch})`);
    return;
  }
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-prebuild-'));
  t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }));
  for (const name of copied) {
    fs.cpSync(path.join(repoRoot, name), path.join(scratch, name), { recursive: true });
  }
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(scratch, 'node_modules'));

  execFileSync('npm', ['run', '--silent', 'prebuild'], { cwd: scratch, stdio: 'pipe' });
  fs.rmSync(path.join(scratch, 'build'), { recursive: true, force: true });

  const dir = path.join(scratch, 'prebuilds', 'linux-x64');
  const binaries = fs.readdirSync(dir).filter((f) => f.endsWith('.node'));
  t.is(binaries.length, 1, `one addon in ${dir}, found ${binaries.join(', ')}`);

  const loaded = execFileSync(process.execPath,
    ['-p', "const n = require('./dist/native.js'); require.resolve('./dist/native.js') && n.native().abiVersion"],
    { cwd: scratch, encoding: 'utf8' });
  t.is(loaded.trim(), '1');

  const deps = execFileSync('ldd', [path.join(dir, binaries[0])], { encoding: 'utf8' });
  for (const lib of ['libdeflate', 'libzstd', 'libfuse3', 'libopenh264']) {
    t.false(deps.includes(lib), `${lib} should be linked statically, ldd says:\n${deps}`);
  }
});
