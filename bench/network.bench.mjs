// Beyond one machine (#17), from a local nginx (Debian's, on a free loopback port):
//   url-boot   the demo booted from a URL against from a local file: time from command start
//              to the guest's marker line, the cache cold (a fresh cache) and warm;
//   debian     the Debian root filesystem container booted from a URL: bytes fetched when the
//              guest starts, at its first console line and at the login prompt, against its size;
//   pull       `pull` of a version with one changed file: bytes fetched against the file's size;
//   nbd        `pixelrts serve --nbd` against nbdkit's own file plugin on the same bytes
//              (bench/network-nbd.mjs).
// NETWORK_BENCH=url-boot,pull runs only those sections.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startNginx } from '../test/helpers/nginx.mjs';
import { demoContainer } from '../test/helpers/boot.mjs';
import { demoImage } from '../test/helpers/demo-image.mjs';
import { debianContainer, debianMissing } from '../test/helpers/machine-images.mjs';
import { diskDemoContainer } from '../test/helpers/remote.mjs';
import { timeTo } from './time-to.mjs';
import { nbdSection } from './network-nbd.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (m) => require(path.join(root, 'dist', `${m}.js`));
const cli = path.join(root, 'dist', 'cli', 'main.js');
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
const pct = (a, b) => `${((100 * a) / b).toFixed(1)}%`;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-netbench-'));
const teardowns = [];
/** What test helpers take as `t`: teardowns run when the bench ends. */
const t = { teardown: (f) => teardowns.push(f) };
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

/** A directory nginx serves, with `files` ({name: path}) copied in; resolves with the base URL. */
async function site(name, files) {
  const dir = path.join(work, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(work, 0o755);
  for (const [n, p] of Object.entries(files)) fs.copyFileSync(p, path.join(dir, n));
  return (await startNginx(t, dir)).url;
}

export async function benchUrlBoot(rounds = Number(process.env.NETWORK_BENCH_ROUNDS ?? 5)) {
  const { DEMO_MARKER } = dist('demo/image');
  const file = await demoContainer();
  const url = `${await site('demo', { 'demo.rts.png': file })}/demo.rts.png`;
  const args = ['--accel', 'tcg', '--append', 'pixelrts.demo=oneshot'];
  const marker = new RegExp(DEMO_MARKER);
  const runtime = fs.mkdtempSync(path.join(work, 'run-'));
  const times = { local: [], cold: [], warm: [] };
  for (let i = 0; i < rounds; i++) {
    const cache = path.join(work, `url-cache-${i}`);
    const env = { XDG_RUNTIME_DIR: runtime, XDG_CACHE_HOME: cache };
    times.local.push(await timeTo(process.execPath, [cli, 'boot', file, ...args], marker, env));
    times.cold.push(await timeTo(process.execPath, [cli, 'boot', url, ...args], marker, env));
    times.warm.push(await timeTo(process.execPath, [cli, 'boot', url, ...args], marker, env));
  }
  // Ratios per round (each against the local boot of the same round): the machine's load
  // drifts between rounds far more than within one.
  console.log(`demo (${mb(fs.statSync(file).size)}), command start to the guest's marker line, ${rounds} rounds (local, URL cold, URL warm in turn):`);
  for (const [k, v] of Object.entries(times)) {
    const ratios = v.map((x, i) => x / times.local[i]);
    console.log(`  ${k.padEnd(6)} ${median(v).toFixed(0).padStart(6)} ms  (${v.map((x) => x.toFixed(0)).join(', ')})  median ratio to local ${median(ratios).toFixed(3)}`);
  }
}

export async function benchDebian() {
  const missing = debianMissing();
  if (missing) {
    console.log(`debian section skipped: ${missing}`);
    return;
  }
  const file = await debianContainer();
  const size = fs.statSync(file).size;
  const url = `${await site('debian', { 'debian.rts.png': file })}/debian.rts.png`;
  const saved = { ...process.env };
  process.env.XDG_CACHE_HOME = path.join(work, 'debian-cache');
  process.env.XDG_RUNTIME_DIR = fs.mkdtempSync(path.join(work, 'run-'));
  try {
    const { boot } = dist('boot/boot');
    for (const round of ['cold', 'warm']) {
      const t0 = performance.now();
      let started;
      const vm = await boot(url, {
        accel: 'tcg', memory: '512M',
        // The qemu-start stage's detail says what was fetched when QEMU had loaded the kernel and initrd.
        onStage: (e) => { if (e.stage === 'qemu-start' && e.status === 'done') started = { ms: performance.now() - t0, bytes: Number(/(\d+) bytes fetched/.exec(e.detail)[1]) }; },
      });
      await vm.console.waitFor(/./, { timeout: 300_000 });
      const first = { ms: performance.now() - t0, bytes: vm.remote.stats().bytesFetched };
      await vm.console.waitFor(/login: /, { timeout: 300_000 });
      const login = { ms: performance.now() - t0, bytes: vm.remote.stats().bytesFetched };
      await vm.kill();
      await vm.exited;
      console.log(`Debian root filesystem from a URL, ${round} cache (${mb(size)} file): fetched when the guest starts ${mb(started.bytes)} (${pct(started.bytes, size)}), ` +
        `at its first console line ${mb(first.bytes)} (${pct(first.bytes, size)}, ${(first.ms / 1000).toFixed(1)} s), at the login prompt ${mb(login.bytes)} (${pct(login.bytes, size)}, ${(login.ms / 1000).toFixed(1)} s)`);
    }
  } finally {
    process.env = saved;
  }
}

export async function benchPull() {
  const { open } = dist('codec/container');
  const { writeContainer } = dist('codec/writer');
  const { pull } = dist('remote/pull');
  const v1 = await diskDemoContainer();
  const demo = await demoImage();
  const c1 = await open(v1, { cacheDir: false });
  const disk = await c1.read('disk');
  const initrd = await c1.read('initrd');
  const versions = {
    // The initrd's bytes changed, its size the same: nothing after it moves.
    initrd: () => { const b = Buffer.from(initrd); crypto.randomFillSync(b, b.length - 4096, 4096); return { initrd: b, disk }; },
    // 1 MiB in the middle of the 40 MiB disk.
    disk: () => { const b = Buffer.from(disk); crypto.randomFillSync(b, 20 << 20, 1 << 20); return { initrd, disk: b }; },
  };
  for (const [changed, make] of Object.entries(versions)) {
    const parts = make();
    const dir = path.join(work, `pull-${changed}`);
    fs.mkdirSync(dir);
    for (const [n, b] of Object.entries(parts)) fs.writeFileSync(path.join(dir, n), b);
    const v2 = path.join(dir, 'v2.rts.png');
    await writeContainer(v2, [
      { name: 'kernel', type: 'kernel', path: demo.kernelPath },
      { name: 'initrd', type: 'initrd', path: path.join(dir, 'initrd') },
      { name: 'disk', type: 'disk', path: path.join(dir, 'disk') },
    ], { name: 'demo-disk', type: 'boot-bundle', cmdline: demo.cmdline });
    const url = `${await site(`pull-site-${changed}`, { 'os.rts.png': v2 })}/os.rts.png`;
    const local = path.join(dir, 'local.rts.png');
    fs.copyFileSync(v1, local);
    const t0 = performance.now();
    const r = await pull(url, { output: local, cacheDir: path.join(dir, 'cache') });
    const ms = performance.now() - t0;
    const fileSize = changed === 'initrd' ? initrd.length : disk.length;
    console.log(`pull, ${changed} changed (${changed === 'initrd' ? '4 KiB of a' : '1 MiB of a'} ${mb(fileSize)} file): fetched ${mb(r.fetched)} of ${mb(r.size)} ` +
      `(${pct(r.fetched, r.size)} of the container, ${(r.fetched / fileSize).toFixed(2)}x the changed file), ${r.bandsFetched} bands fetched, ${r.bandsReused} kept, ${ms.toFixed(0)} ms; ` +
      `the result ${fs.readFileSync(local).equals(fs.readFileSync(v2)) ? 'is' : 'is NOT'} the new file byte for byte`);
  }
}

const sections = { 'url-boot': benchUrlBoot, debian: benchDebian, pull: benchPull, nbd: () => nbdSection() };
const wanted = (process.env.NETWORK_BENCH ?? Object.keys(sections).join(',')).split(',');
const unknown = wanted.filter((w) => !(w in sections));
if (unknown.length > 0) {
  console.error(`network bench: unknown section(s) ${unknown.join(', ')}; available: ${Object.keys(sections).join(', ')}`);
  process.exit(2);
}
try {
  for (const name of wanted) {
    console.log(`\n--- network: ${name} ---`);
    await sections[name]();
  }
} finally {
  for (const f of teardowns.reverse()) await f();
}
