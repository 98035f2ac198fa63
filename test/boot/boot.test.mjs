// boot() against real QEMU (TCG) and a real FUSE mount: the demo container the project writes,
// a kernel-only container, and the failures that must stop a boot before QEMU starts.
import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { needs, vectorsDir, vectorsMissing } from '../helpers/prereq.mjs';
import { processGone } from '../helpers/qemu.mjs';
import { bootMissing, demoContainer, leftovers, runtimeDirs } from '../helpers/boot.mjs';
import { demoImage } from '../helpers/demo-image.mjs';

const require = createRequire(import.meta.url);
const { boot } = require('../../dist/boot/boot.js');
const { open } = require('../../dist/codec/container.js');
const { encode, readMetadata } = require('../../dist/codec/codec.js');
const { writeContainer } = require('../../dist/codec/writer.js');
const { metadataText } = require('../../dist/codec/metadata.js');
const { native } = require('../../dist/native.js');
const { DEMO_MARKER } = require('../../dist/demo/image.js');

const btest = needs(test, bootMissing());

// A private runtime root for one test: boot() puts its directory under XDG_RUNTIME_DIR, which is
// process-wide, so the tests that boot run one at a time.
async function withRuntimeRoot(t, fn) {
  const xdg = fs.mkdtempSync(path.join('/tmp', 'pixelrts-bootapi-'));
  const root = path.join(xdg, 'pixelrts');
  const saved = process.env.XDG_RUNTIME_DIR;
  process.env.XDG_RUNTIME_DIR = xdg;
  try {
    return await fn(root);
  } finally {
    if (saved === undefined) delete process.env.XDG_RUNTIME_DIR; else process.env.XDG_RUNTIME_DIR = saved;
    fs.rmSync(xdg, { recursive: true, force: true });
  }
}

function tmpFile(t, name) {
  const dir = fs.mkdtempSync(path.join('/tmp', 'pixelrts-bootimg-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, name);
}

/** Writes a copy of `src` whose embedded metadata `mutate` changed (the payload untouched). */
async function writeWithMetadata(src, dst, mutate) {
  const png = fs.readFileSync(src);
  const meta = readMetadata(png);
  mutate(meta);
  const payload = await (await open(src)).readPayload();
  fs.writeFileSync(dst, native().encodePng(payload, { texts: [{ keyword: 'PixelRTS', text: metadataText(meta) }] }));
}

btest.serial('boots the demo container: marker line, exit 0, then no mount, no QEMU, no runtime directory', async (t) => {
  const file = await demoContainer();
  await withRuntimeRoot(t, async (root) => {
    const stages = [];
    const vm = await boot(file, { append: 'pixelrts.demo=oneshot', accel: 'tcg', onStage: (e) => stages.push(e) });
    const lines = [];
    vm.console.on('line', (l) => lines.push(l));
    t.true(vm.runtimeDir.startsWith(root));
    t.is((fs.statSync(vm.runtimeDir).mode & 0o777), 0o700);
    t.true(fs.existsSync(path.join(vm.mountpoint, 'kernel')), 'the mount presents /kernel');
    t.true(fs.existsSync(path.join(vm.mountpoint, 'initrd')), 'the mount presents /initrd');
    t.regex(vm.cmdline, /pixelrts\.demo=oneshot/);
    t.regex(vm.cmdline, /console=ttyS0/);
    const exit = await vm.exited;
    t.true(lines.some((l) => l.includes(DEMO_MARKER)), lines.join('\n'));
    t.is(exit.exitCode, 0);
    t.true(exit.poweredOff);
    t.deepEqual(exit.teardownErrors, []);
    t.true(processGone(vm.pid), 'QEMU still running');
    t.deepEqual(await leftovers(root, [vm.pid], 0), []);
    const done = stages.filter((s) => s.status === 'done').map((s) => s.stage);
    for (const s of ['open', 'verify', 'accel', 'mount', 'qemu-start', 'first-console-line', 'exit']) t.true(done.includes(s), `stage ${s}`);
    // Verify and mount may overlap (the demo is written by pixelrts: its curve is known). QEMU
    // starts after the mount, and before verify has finished only with its CPUs stopped; the
    // guest runs (its first line) only after verify.
    t.true(done.indexOf('mount') < done.indexOf('qemu-start'));
    const started = stages.find((s) => s.stage === 'qemu-start' && s.status === 'done');
    if (done.indexOf('qemu-start') < done.indexOf('verify')) t.regex(started.detail, /paused until verified/);
    t.true(done.indexOf('verify') < done.indexOf('first-console-line'));
    t.true(stages.every((s) => s.ms >= 0 && s.at >= 0));
  });
});

btest.serial('a large container boots at once: no whole-payload verify, each block checked against the hash tree as QEMU reads it', async (t) => {
  const demo = await demoImage();
  const disk = tmpFile(t, 'disk.img');
  fs.writeFileSync(disk, Buffer.alloc(64 * 1024 * 1024, 0x5a));  // makes the payload large enough for the decoded cache
  const file = path.join(path.dirname(disk), 'large.rts.png');
  await writeContainer(file, [{ name: 'kernel', path: demo.kernelPath }, { name: 'initrd', path: demo.initrdPath },
    { name: 'disk', path: disk }], { cmdline: demo.cmdline, level: 1 });
  const cache = path.join(path.dirname(disk), 'cache');
  const savedCacheDir = process.env.PIXELRTS_CACHE_DIR;
  process.env.PIXELRTS_CACHE_DIR = cache;
  t.teardown(() => { process.env.PIXELRTS_CACHE_DIR = savedCacheDir; });
  await withRuntimeRoot(t, async () => {
    const stages = [];
    const vm = await boot(file, { append: 'pixelrts.demo=oneshot', accel: 'tcg', onStage: (e) => stages.push(e) });
    const lines = [];
    vm.console.on('line', (l) => lines.push(l));
    const exit = await vm.exited;
    t.true(lines.some((l) => l.includes(DEMO_MARKER)), lines.join('\n'));
    t.is(exit.exitCode, 0);
    const verify = stages.find((s) => s.stage === 'verify');
    t.is(verify.status, 'skipped');
    t.regex(verify.detail, /hash tree/);
  });
  // Only the bands QEMU read were decoded: the kernel and initrd, not the disk nobody read.
  const c = await open(file);
  const p = native().payloadProgress(c.payload());
  t.true(p.bandsDone > 0 && p.bandsDone < p.bands / 2, `${p.bandsDone} of ${p.bands} bands decoded`);
});

btest.serial('boots a kernel-only container: the kernel runs, panics without a root, QEMU exits, teardown is clean', async (t) => {
  const demo = await open(await demoContainer());
  const kernel = await demo.read('kernel');
  const file = tmpFile(t, 'kernel-only.rts.png');
  fs.writeFileSync(file, encode([{ name: 'vmlinuz', data: kernel }], { cmdline: 'panic=-1 loglevel=4' }));
  await withRuntimeRoot(t, async (root) => {
    const vm = await boot(file, { accel: 'tcg', memory: '256M' });
    const lines = [];
    vm.console.on('line', (l) => lines.push(l));
    const exit = await vm.exited;
    const text = lines.join('\n');
    t.regex(text, /Kernel panic|VFS: Unable to mount root|unable to mount root/i, text);
    t.is(exit.exitCode, 1, exit.reason);
    t.regex(exit.reason, /reset|panic/);
    t.deepEqual(await leftovers(root, [vm.pid], 0), []);
  });
});

btest.serial('refuses a container whose kernel hash is wrong, before the guest runs, naming the file', async (t) => {
  const file = tmpFile(t, 'tampered.rts.png');
  const bogus = 'f'.repeat(64);
  await writeWithMetadata(await demoContainer(), file, (meta) => {
    for (const table of [meta.segments, meta.offsets]) table.kernel.sha256 = bogus;
    meta.hashes.kernel = bogus;
  });
  await withRuntimeRoot(t, async (root) => {
    const stages = [];
    const err = await t.throwsAsync(boot(file, { accel: 'tcg', onStage: (e) => stages.push(e) }));
    t.is(err.code, 'ERR_PIXELRTS_VERIFY');
    t.true(err.message.includes(file), err.message);
    t.regex(err.message, /"kernel"/);
    t.true(err.message.includes(`expected sha256 ${bogus}`));
    t.regex(err.message, /found [0-9a-f]{64}/);
    t.regex(err.message, /--no-verify/);
    // QEMU may have been building the machine while the hashes were checked, with its CPUs
    // stopped (-S); then it was killed without the guest running a single instruction.
    const started = stages.find((s) => s.stage === 'qemu-start' && s.status === 'done');
    if (started) t.regex(started.detail, /paused until verified/);
    t.false(stages.some((s) => s.stage === 'first-console-line'), 'the guest ran');
    // The mount may have been made while the hashes were checked; the failure removed it.
    t.deepEqual(await leftovers(root, [], 0), []);
    t.deepEqual(runtimeDirs(root), []);

    // The override: the payload itself is intact, so it boots with noVerify.
    const vm = await boot(file, { accel: 'tcg', noVerify: true, append: 'pixelrts.demo=oneshot' });
    t.is((await vm.exited).exitCode, 0);
    t.deepEqual(await leftovers(root, [vm.pid], 0), []);
  });
});

btest.serial('QEMU builds the machine while a slow verify runs, CPUs stopped: the guest runs once it passes, never when it fails', async (t) => {
  // 40 MiB of random bytes beside the demo's kernel and initrd: below the decoded cache's size,
  // so the whole payload is hashed before the guest may run, and that takes longer than QEMU's
  // own start-up.
  const demo = await open(await demoContainer());
  const file = tmpFile(t, 'slow-verify.rts.png');
  fs.writeFileSync(file, encode([
    { name: 'kernel', data: await demo.read('kernel') },
    { name: 'initrd', data: await demo.read('initrd') },
    { name: 'filler', data: crypto.randomBytes(40 << 20) },
  ], { cmdline: demo.metadata.cmdline }));
  const tampered = tmpFile(t, 'slow-verify-bad.rts.png');
  await writeWithMetadata(file, tampered, (meta) => {
    const bogus = '0'.repeat(64);
    for (const table of [meta.segments, meta.offsets]) table.filler.sha256 = bogus;
    meta.hashes.filler = bogus;
  });
  await withRuntimeRoot(t, async (root) => {
    const stages = [];
    const vm = await boot(file, { accel: 'tcg', append: 'pixelrts.demo=oneshot', onStage: (e) => stages.push(e) });
    const lines = [];
    vm.console.on('line', (l) => lines.push(l));
    t.is((await vm.exited).exitCode, 0);
    t.true(lines.some((l) => l.includes(DEMO_MARKER)), lines.join('\n'));
    const at = (stage, status) => stages.find((s) => s.stage === stage && s.status === status);
    t.regex(at('qemu-start', 'start') && at('qemu-start', 'done').detail, /paused until verified/);
    t.true(at('qemu-start', 'start').at < at('verify', 'done').at, 'QEMU started only after verify');

    stages.length = 0;
    const err = await t.throwsAsync(boot(tampered, { accel: 'tcg', onStage: (e) => stages.push(e) }));
    t.is(err.code, 'ERR_PIXELRTS_VERIFY');
    t.regex(err.message, /"filler"/);
    t.regex(at('qemu-start', 'done').detail, /paused until verified/);
    t.false(stages.some((s) => s.stage === 'first-console-line'), 'the guest ran');
    const pid = Number(/pid (\d+)/.exec(at('qemu-start', 'done').detail)[1]);
    t.deepEqual(await leftovers(root, [pid], 0), []);
    t.deepEqual(runtimeDirs(root), []);
  });
});

btest.serial('a container without a kernel: lists what it holds and how to make one bootable', async (t) => {
  const file = tmpFile(t, 'rootfs.rts.png');
  fs.writeFileSync(file, encode([{ name: 'rootfs', data: Buffer.alloc(5000, 7) }, { name: 'notes.txt', data: Buffer.from('hi') }]));
  await withRuntimeRoot(t, async (root) => {
    const err = await t.throwsAsync(boot(file));
    t.is(err.code, 'ERR_PIXELRTS_NO_KERNEL');
    t.true(err.message.includes(file));
    t.regex(err.message, /rootfs \(4\.9 KiB, type data\), notes\.txt \(2 B, type data\)/);
    t.regex(err.message, /pixelrts convert --segment kernel=/);
    t.deepEqual(runtimeDirs(root), []);
  });
});

btest.serial('an accelerator that cannot work here is refused with the alternatives', async (t) => {
  const accel = process.platform === 'darwin' ? 'kvm' : 'hvf';
  await withRuntimeRoot(t, async (root) => {
    const err = await t.throwsAsync(boot(await demoContainer(), { accel }));
    t.is(err.code, 'ERR_PIXELRTS_ACCEL');
    t.regex(err.message, /--accel (auto|tcg)/);
    t.deepEqual(runtimeDirs(root), []);
  });
});

needs(btest, vectorsMissing()).serial('a container the original wrote (e_multiseg): verified, mounted, its kernel (random bytes) refused before QEMU starts', async (t) => {
  // The vector's "kernel" is random bytes: the header check reads it through the mount, which
  // shows the original's segments reached the mount, and refuses it naming what it found.
  await withRuntimeRoot(t, async (root) => {
    const stages = [];
    const err = await t.throwsAsync(boot(path.join(vectorsDir, 'e_multiseg.rts.png'), { accel: 'tcg', onStage: (e) => stages.push(e) }));
    t.is(err.code, 'ERR_PIXELRTS_NOT_A_KERNEL');
    t.regex(err.message, /segment "kernel" of .*e_multiseg\.rts\.png is not a kernel QEMU can boot: it looks like nothing pixelrts recognises/);
    t.false(stages.some((s) => s.stage === 'qemu-start'), 'QEMU never started');
    t.true(stages.some((s) => s.stage === 'verify' && s.status === 'done' && /3 hashes ok/.test(s.detail)));
    t.true(stages.some((s) => s.stage === 'mount' && s.status === 'done'));
    t.deepEqual(await leftovers(root, [], 2000), []);
  });
});
