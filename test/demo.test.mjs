// lib/demo/image.ts: the newc writer (checked with GNU cpio), the demo image and the demo container.
import test from 'ava';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { commandMissing, needs, repoRoot } from './helpers/prereq.mjs';
import { demoCacheDir, demoImage, demoMissing } from './helpers/demo-image.mjs';
import { lib, tempDir } from './helpers/qemu.mjs';
import { bootMissing, demoContainer, leftovers, runtimeEnv, startCli } from './helpers/boot.mjs';

const demo = lib('demo/image');
const cpioTest = needs(test, commandMissing('cpio', 'cpio'));
const dtest = needs(test, demoMissing() ?? commandMissing('cpio', 'cpio'));

function cpioList(archive) {
  return execFileSync('cpio', ['-t', '-v', '--quiet'], { input: archive, encoding: 'utf8' }).trim().split('\n');
}

cpioTest('writeCpio output is read back by GNU cpio: files, directories, symlinks, device nodes', (t) => {
  const archive = demo.writeCpio([
    { name: 'bin', mode: demo.S_IFDIR | 0o755 },
    { name: 'bin/tool', mode: demo.S_IFREG | 0o755, data: Buffer.from('#!/bin/sh\necho hi\n') },
    { name: 'bin/link', mode: demo.S_IFLNK | 0o777, data: Buffer.from('tool') },
    { name: 'dev/console', mode: demo.S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1 },
    { name: 'odd-size', mode: demo.S_IFREG | 0o644, data: Buffer.alloc(5, 1) },
  ]);
  t.is(archive.length % 4, 0);
  const list = cpioList(archive);
  t.is(list.length, 5);
  t.regex(list[0], /^drwxr-xr-x .* bin$/);
  t.regex(list[1], /^-rwxr-xr-x .* 18 .* bin\/tool$/);
  t.regex(list[2], /^lrwxrwxrwx .* bin\/link -> tool$/);
  t.regex(list[3], /^crw------- .* 5,\s+1 .* dev\/console$/);
  const dir = tempDir(t);
  execFileSync('cpio', ['-i', '-d', '--quiet', 'bin/tool', 'odd-size'], { input: archive, cwd: dir });
  t.is(fs.readFileSync(path.join(dir, 'bin/tool'), 'utf8'), '#!/bin/sh\necho hi\n');
  t.deepEqual(fs.readFileSync(path.join(dir, 'odd-size')), Buffer.alloc(5, 1));
});

test('isStaticElf tells a static busybox from a dynamic executable', (t) => {
  t.false(demo.isStaticElf(fs.readFileSync(process.execPath)));
  t.false(demo.isStaticElf(Buffer.from('#!/bin/sh\n')));
  if (fs.existsSync('/bin/busybox')) t.true(demo.isStaticElf(fs.readFileSync('/bin/busybox')));
});

test('the demo scripts parse as POSIX sh', (t) => {
  for (const f of ['init', 'agent.sh']) {
    execFileSync('sh', ['-n', path.join(repoRoot, 'assets/demo', f)]);
    t.pass(f);
  }
});

dtest('the demo image: Debian cloud kernel, initrd with init, agent, busybox and modules', async (t) => {
  const img = await demoImage();
  t.regex(img.kernelRelease, /^\d+\.\d+\.\d+-\d+-cloud-amd64$/);
  t.is(fs.readFileSync(img.kernelPath).subarray(0x202, 0x206).toString('latin1'), 'HdrS', 'a bzImage');
  t.true(img.cmdline.includes('console=ttyS0'));
  const list = cpioList(zlib.gunzipSync(fs.readFileSync(img.initrdPath)));
  const names = list.map((l) => l.split(/\s+/).slice(8).join(' '));
  for (const n of ['init', 'bin/busybox', 'bin/pixelrts-agent', 'lib/modules/button.ko', 'lib/modules/evdev.ko',
    'lib/modules/virtio_pci.ko', 'lib/modules/virtio_console.ko', 'bin/sh -> busybox']) {
    t.true(names.includes(n), n);
  }
  t.true(list.some((l) => /^crw.* dev\/console$/.test(l)));
  // A second call is served from the cache.
  const again = await demo.buildDemoImage({ cacheDir: demoCacheDir });
  t.deepEqual(again, img);
});

const codecReady = (() => {
  try {
    return typeof lib('native').native().encodePng === 'function' ? null : 'the native codec (encodePng) is not built yet';
  } catch (err) {
    return `the native addon does not load: ${err.message}`;
  }
})();

needs(test, demoMissing() ?? codecReady)('the demo container holds the kernel and initrd with the demo command line', async (t) => {
  const c = await demo.buildDemoContainer({ cacheDir: demoCacheDir });
  const img = await demoImage();
  const { readMetadata } = lib('codec/codec');
  const meta = readMetadata(fs.readFileSync(c.containerPath));
  t.is(meta.cmdline, img.cmdline);
  const sha = (f) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  t.is(meta.segments.kernel.sha256, sha(img.kernelPath));
  t.is(meta.segments.initrd.sha256, sha(img.initrdPath));
  t.true(fs.existsSync(`${c.containerPath}.meta.json`));
  t.false((await demo.buildDemoContainer({ cacheDir: demoCacheDir })).built, 'cached');
});

needs(test, demoMissing() ?? codecReady)('concurrent builders sharing a cache, after a builder died holding the lock: one builds, all get the same whole container, nothing left over', async (t) => {
  const img = await demoImage();
  const cacheDir = tempDir(t);
  // The kernel as a previous build left it (so nothing is downloaded), and the lock of a builder that died.
  const kdir = path.join(cacheDir, `kernel-${img.kernelRelease}`);
  fs.mkdirSync(kdir);
  for (const f of fs.readdirSync(path.dirname(img.kernelPath)).filter((f) => !f.startsWith('initrd-') && !f.startsWith('.'))) {
    fs.copyFileSync(path.join(path.dirname(img.kernelPath), f), path.join(kdir, f));
  }
  fs.writeFileSync(path.join(cacheDir, 'kernel-release'), `${img.kernelRelease}\n`);
  const dead = spawnSync('true').pid;
  fs.symlinkSync(String(dead), path.join(cacheDir, '.build.lock'));
  const script = `require(${JSON.stringify(path.join(repoRoot, 'dist', 'demo/image.js'))}).buildDemoContainer({ cacheDir: ${JSON.stringify(cacheDir)} })
    .then((c) => console.log(JSON.stringify({ containerPath: c.containerPath, built: c.built, initrdPath: c.initrdPath })))`;
  const results = await Promise.all([1, 2, 3].map(() => new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout))));
  })));
  t.is(new Set(results.map((r) => r.containerPath)).size, 1);
  t.is(results.filter((r) => r.built).length, 1, 'built once');
  const { readMetadata } = lib('codec/codec');
  const meta = readMetadata(fs.readFileSync(results[0].containerPath));
  const sha = (f) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  t.is(meta.segments.kernel.sha256, sha(img.kernelPath));
  t.is(meta.segments.initrd.sha256, sha(results[0].initrdPath));
  const left = [...fs.readdirSync(cacheDir), ...fs.readdirSync(kdir)].filter((f) => f.startsWith('.'));
  t.deepEqual(left, [], 'no lock or temporary file left');
});

needs(test, bootMissing())('`pixelrts demo` without a terminal (the README\'s first command) boots one-shot: banner, status lines, exit 0, nothing left', async (t) => {
  await demoContainer();
  // The CLI caches under $XDG_CACHE_HOME/pixelrts: point it at the tests' cache, built above.
  const xdg = tempDir(t);
  fs.symlinkSync(demoCacheDir, path.join(xdg, 'pixelrts'));
  const { root, env } = runtimeEnv(t);
  const r = await startCli(t, ['demo'], { ...env, XDG_CACHE_HOME: xdg }).done;
  t.is(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  t.true(r.lines.includes(demo.DEMO_MARKER), r.stdout);
  t.true(r.lines.some((l) => l.includes('pixelrts demo guest')), 'banner');
  const statuses = r.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l).data.message);
  t.deepEqual(statuses, ['pixelrts demo ready', 'pixelrts demo powering off']);
  t.deepEqual(await leftovers(root, [], 2000), []);
});
