// Whole machines (#13): a Debian root filesystem booted from its container against plain QEMU on
// the same kernel, initrd and raw disk file (snapshot=on, so neither writes its disk), paired
// runs in one process, time from command start to the marker unit's console line; and the
// guest reading its whole disk (dd) through pixelrts (overlay over the FUSE-served segment,
// decoded cache cold and warm) against the raw file.
// The guest images are the tests' (test/helpers/machine-images.mjs), built once and cached.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { debianContainer, debianMissing } from '../test/helpers/machine-images.mjs';
import { timeTo } from './time-to.mjs';
import { demoImage } from '../test/helpers/demo-image.mjs';
import { guestShell } from '../test/helpers/guest-shell.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (m) => require(path.join(root, 'dist', `${m}.js`));
const { open } = dist('codec/container');
const { writeContainer } = dist('codec/writer');
const { boot } = dist('boot/boot');
const { launchVm } = dist('vm/vm');

const PAIRS = Number(process.env.DISK_BENCH_PAIRS ?? 3);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const missing = debianMissing();
if (missing) {
  console.log(`disk bench skipped: ${missing}`);
  process.exit(0);
}
const file = await debianContainer();
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-diskbench-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
// Everything this bench decodes (here and in the CLI it runs) goes to a cache of its own.
const cacheDir = path.join(work, 'cache');
process.env.PIXELRTS_CACHE_DIR = cacheDir;
const container = await open(file);
for (const name of ['kernel', 'initrd', 'disk']) await container.extractTo(path.join(work, name), name);
const cmdline = `${container.metadata.cmdline} pixelrts.poweroff`;

const pixelrtsBoot = () => timeTo(process.execPath, [path.join(root, 'dist/cli/main.js'), 'boot', file, '--accel', 'tcg', '--json',
  '--append', 'pixelrts.poweroff'], /pixelrts-marker: /);
const plainBoot = () => timeTo('qemu-system-x86_64', ['-nodefaults', '-no-user-config', '-no-reboot', '-machine', 'pc', '-accel', 'tcg',
  '-cpu', 'max', '-m', '512M', '-smp', '1', '-kernel', path.join(work, 'kernel'), '-initrd', path.join(work, 'initrd'),
  '-append', cmdline, '-serial', 'stdio', '-display', 'none',
  '-drive', `file=${path.join(work, 'disk')},format=raw,if=virtio,snapshot=on`], /pixelrts-marker: /);

console.log(`Debian container ${path.basename(file)}: ${(fs.statSync(path.join(work, 'disk')).size / 2 ** 30).toFixed(1)} GiB disk`);
console.log(`boot to the marker unit's line, ${PAIRS} paired runs (order alternating), TCG:`);
const ours = [];
const plain = [];
const ratios = [];
for (let i = 0; i < PAIRS; i++) {
  let p;
  let b;
  if (i % 2 === 0) {
    p = await pixelrtsBoot();
    b = await plainBoot();
  } else {
    b = await plainBoot();
    p = await pixelrtsBoot();
  }
  ours.push(p);
  plain.push(b);
  ratios.push(p / b);
  console.log(`  pair ${i + 1}: pixelrts ${(p / 1000).toFixed(2)} s, plain QEMU ${(b / 1000).toFixed(2)} s, ratio ${(p / b).toFixed(3)}`);
}
console.log(`  median: pixelrts ${(median(ours) / 1000).toFixed(2)} s, plain QEMU ${(median(plain) / 1000).toFixed(2)} s, ` +
  `ratio ${median(ratios).toFixed(3)} (target <= 1.05)`);

// The guest reads its whole disk: the demo guest (a busybox shell) with the Debian disk attached.
const demo = await demoImage();
const ddFile = path.join(work, 'dd.rts.png');
await writeContainer(ddFile, [
  { name: 'kernel', type: 'kernel', path: demo.kernelPath },
  { name: 'initrd', type: 'initrd', path: demo.initrdPath },
  { name: 'disk', type: 'disk', path: path.join(work, 'disk') },
], { name: 'dd-bench', type: 'boot-bundle', cmdline: demo.cmdline });
const DD = 'a=$(cut -d" " -f1 /proc/uptime); dd if=/dev/vda of=/dev/null bs=1M 2>/dev/null; b=$(cut -d" " -f1 /proc/uptime); echo "DD $a $b"';

async function ddSeconds(vm) {
  await vm.console.waitFor(/pixelrts-demo# /, { timeout: 120_000 });
  const out = await guestShell(vm)(DD);
  const m = /DD ([\d.]+) ([\d.]+)/.exec(out);
  await vm.kill();
  await vm.exited;
  return Number(m[2]) - Number(m[1]);
}
const diskBytes = fs.statSync(path.join(work, 'disk')).size;
const mbps = (s) => `${(diskBytes / s / 1e6).toFixed(0)} MB/s`;
console.log('guest reads its whole disk (dd bs=1M, guest clock), TCG:');
const viaPixelrts = async () => ddSeconds(await boot(ddFile, { accel: 'tcg', noVerify: true }));
const viaFile = async () => ddSeconds(await launchVm({ kernel: demo.kernelPath, initrd: demo.initrdPath, cmdline: demo.cmdline, accel: 'tcg',
  qemuArgs: ['-drive', `file=${path.join(work, 'disk')},format=raw,if=virtio,snapshot=on`] }));
const cold = await viaPixelrts();
const raw = [];
const warm = [];
for (let i = 0; i < PAIRS; i++) {
  raw.push(await viaFile());
  warm.push(await viaPixelrts());
}
console.log(`  pixelrts, decoded cache cold: ${cold.toFixed(2)} s (${mbps(cold)})`);
console.log(`  pixelrts, decoded cache warm: median ${median(warm).toFixed(2)} s (${mbps(median(warm))})`);
console.log(`  raw file (plain QEMU drive):  median ${median(raw).toFixed(2)} s (${mbps(median(raw))})`);
console.log(`  ratio (raw time / pixelrts time): warm ${(median(raw) / median(warm)).toFixed(2)}x, cold ${(median(raw) / cold).toFixed(2)}x (target >= 0.8x)`);
