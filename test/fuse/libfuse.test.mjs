// libfuse3 (LGPL-2.1) is loaded with dlopen when a mount starts, never linked (#15): the addon
// neither needs nor exports it, everything but a mount works on a machine without it, and a
// mount there fails with a PixelrtsError naming the package to install.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { commandMissing, needs, repoRoot } from '../helpers/prereq.mjs';
import { fuseMissing, tempDir } from '../helpers/fuse.mjs';

const require = createRequire(import.meta.url);
const addonPath = require('node-gyp-build').resolve(repoRoot);
const linuxTest = needs(test, process.platform === 'linux' ? commandMissing('readelf', 'binutils') : `libfuse3 is Linux only (this is ${process.platform})`);

linuxTest('the addon neither depends on libfuse3 nor exports fuse_* symbols', (t) => {
  const dynamic = execFileSync('readelf', ['-d', '-W', addonPath], { encoding: 'utf8' });
  const needed = dynamic.split('\n').filter((l) => l.includes('(NEEDED)'));
  t.true(needed.length > 0, `readelf -d ${addonPath} lists no NEEDED entries:\n${dynamic}`);
  t.deepEqual(needed.filter((l) => /libfuse/.test(l)), [], `${addonPath} needs libfuse:\n${needed.join('\n')}`);

  const symbols = execFileSync('readelf', ['--dyn-syms', '-W', addonPath], { encoding: 'utf8' });
  const exported = symbols.split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && f[6] !== 'UND' && /^(GLOBAL|WEAK)$/.test(f[4]))
    .map((f) => f[7].replace(/@.*/, ''));
  t.deepEqual(exported.filter((s) => s.startsWith('fuse_')), [], 'fuse_* symbols exported');
  // Only Node-API's entry points are exported (native/exports.map).
  t.deepEqual(exported.sort(), ['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
});

/** The file libfuse3.so.3 resolves to, from the dynamic linker's cache; null when absent. */
function libfusePath() {
  const cache = spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '';
  const line = cache.split('\n').find((l) => l.trim().startsWith('libfuse3.so.3 '));
  return line ? fs.realpathSync(line.split('=>')[1].trim()) : null;
}

function hidingMissing() {
  if (process.platform !== 'linux') return `libfuse3 is Linux only (this is ${process.platform})`;
  if (process.getuid() !== 0) return 'hiding libfuse3 in a private mount namespace needs root';
  if (libfusePath() === null) return 'libfuse3.so.3 is not installed (Debian package libfuse3-3)';
  return fuseMissing() ?? commandMissing('unshare', 'util-linux');
}

// Runs in a private mount namespace where libfuse3's file is /dev/null, as on a machine without
// the library: the dynamic linker finds it but cannot load it.
const withoutLibfuse = `
const fs = require('node:fs');
const path = require('node:path');
const px = require('./dist/index.js');
(async () => {
  const dir = process.argv[1];
  const data = Buffer.from('codec, frames and boots without a mount need no libfuse');
  const png = px.encode([{ name: 'data', data }], { name: 'no-libfuse' });
  const codec = px.decode(png).subarray(0, data.length).equals(data);
  const server = await px.createFrameServer({ unix: path.join(dir, 'frames.sock') });
  await server.close();
  fs.writeFileSync(path.join(dir, 'c.rts.png'), png);
  fs.mkdirSync(path.join(dir, 'mnt'));
  let mount;
  try {
    await (await px.mount(path.join(dir, 'c.rts.png'), path.join(dir, 'mnt'))).unmount();
    mount = { mounted: true };
  } catch (err) {
    mount = { name: err.name, code: err.code, message: err.message, pixelrts: err instanceof px.PixelrtsError };
  }
  console.log(JSON.stringify({ codec, frames: true, mount }));
})().catch((err) => { console.error(err); process.exit(1); });
`;

needs(test, hidingMissing())('without libfuse3 the codec and frames work and mount names the package to install', (t) => {
  const dir = tempDir(t, 'pixelrts-nolibfuse-');
  const lib = libfusePath();
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c',
    'mount --bind /dev/null "$1" && shift && exec "$@"', 'sh', lib,
    process.execPath, '-e', withoutLibfuse, dir], { cwd: repoRoot, encoding: 'utf8', timeout: 60000 });
  t.is(r.status, 0, `child failed (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  t.true(out.codec, 'encode/decode round trip');
  t.true(out.frames, 'frame server started and closed');
  t.is(out.mount.code, 'ERR_PIXELRTS_FUSE_LIBRARY', JSON.stringify(out.mount));
  t.true(out.mount.pixelrts, `mount threw a ${out.mount.name}, not a PixelrtsError`);
  t.regex(out.mount.message, /libfuse3\.so\.3/);
  t.regex(out.mount.message, /apt-get install fuse3/);
  t.regex(out.mount.message, /libfuse3-3/);
  t.is(fs.readdirSync(path.join(dir, 'mnt')).length, 0);
});

needs(test, fuseMissing())('a mount loads libfuse3 and serves files', async (t) => {
  const px = require('../../dist/index.js');
  const dir = tempDir(t);
  const data = Buffer.from('served through the dlopened libfuse3\n');
  fs.writeFileSync(path.join(dir, 'c.rts.png'), px.encode([{ name: 'data', data }], { name: 'dlopen' }));
  fs.mkdirSync(path.join(dir, 'mnt'));
  const m = await px.mount(path.join(dir, 'c.rts.png'), path.join(dir, 'mnt'));
  try {
    t.deepEqual(fs.readFileSync(path.join(dir, 'mnt', 'data')), data);
    const maps = fs.readFileSync('/proc/self/maps', 'utf8');
    t.regex(maps, /libfuse3\.so\.3/, 'libfuse3 is mapped while a mount is served');
  } finally {
    await m.unmount();
  }
});
