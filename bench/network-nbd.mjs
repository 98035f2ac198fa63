// The NBD section of the network bench (bench/network.bench.mjs runs it; not a part of its own):
//   `pixelrts serve --nbd` (nbdkit + the pixelrts plugin, reading through the decoded
//        cache) against nbdkit's own `file` plugin on the same bytes (the disk extracted raw),
//        same nbdkit, same clients: sequential read (nbdcopy), 4 KiB random reads (a client of
//        our own, 16 requests in flight), cold (empty decoded cache) and cached (second pass),
//        and four clients at once. The disk is the Debian container's (the disk tests', built
//        once and cached) when it is there, else 256 MiB of random bytes
//        (NETWORK_BENCH_DISK=random forces that). The page cache holds the PNG and the raw file
//        in both cases: "cold" is the plugin's decode, not the disk's.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { debianContainer, debianMissing } from '../test/helpers/machine-images.mjs';
import { diskContainer, nbdMissing } from '../test/helpers/nbd.mjs';
import { NbdClient } from '../test/helpers/nbd-client.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (m) => require(path.join(root, 'dist', `${m}.js`));

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const mbps = (bytes, ms) => bytes / (ms / 1000) / 1e6;
const now = () => Number(process.hrtime.bigint()) / 1e6;

/** Runs `cmd args` to the end; rejects with its stderr when it fails. */
function exec(cmd, args) {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d) => { err += d; });
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err}`))));
  });
}

/** ms for `nbdcopy URI null:` (nbdcopy's defaults: several connections when the server allows multi-conn). */
async function nbdcopyMs(uri, extra = []) {
  const t0 = now();
  await exec('nbdcopy', [...extra, uri, 'null:']);
  return now() - t0;
}

/** 4 KiB reads at random aligned offsets, `depth` in flight, for `ms` (or `max` reads): reads per second. */
async function randomIops(host, port, name, size, { ms = 3000, max = 200_000, depth = 16, seed = 1 } = {}) {
  const c = await NbdClient.connect(host, port, name);
  let x = seed;
  const next = () => { x = (x * 1103515245 + 12345) >>> 0; return x; };
  const blocks = Math.floor(size / 4096);
  let done = 0;
  const t0 = now();
  const deadline = t0 + ms;
  await Promise.all(Array.from({ length: depth }, async () => {
    while (now() < deadline && done < max) {
      await c.read(((next() * 65536 + next()) % blocks) * 4096, 4096);
      done++;
    }
  }));
  const elapsed = now() - t0;
  await c.close();
  return done / (elapsed / 1000);
}

/** nbdkit's `file` plugin on `file`, read-only, on a free port: { uri, close }. */
async function fileServer(file, dir) {
  const { port } = await new Promise((resolve) => {
    const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => resolve(a)); });
  });
  const pidFile = path.join(dir, `file-${port}.pid`);
  const child = spawn('nbdkit', ['--foreground', '--readonly', '--ipaddr', '127.0.0.1', '--port', String(port), '--pidfile', pidFile,
    'file', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((resolve) => child.once('close', resolve));
  for (let i = 0; !fs.existsSync(pidFile); i++) {
    if (child.exitCode !== null || i > 500) throw new Error('nbdkit file plugin did not start');
    await new Promise((r) => setTimeout(r, 20));
  }
  return { uri: `nbd://127.0.0.1:${port}/`, host: '127.0.0.1', port, close: async () => { child.kill('SIGKILL'); await exited; } };
}

/** The container and its raw disk for the NBD section: { file, disk, label }. */
async function nbdDisk(work) {
  if (process.env.NETWORK_BENCH_DISK !== 'random' && debianMissing() === null) {
    const file = await debianContainer();
    const disk = path.join(work, 'disk.raw');
    await (await dist('codec/container').open(file, { cacheDir: false })).extractTo(disk, 'disk');
    return { file, disk, label: `the Debian container's disk (ext4, ${path.basename(file)})` };
  }
  const { container, disk } = await diskContainer(256 * 1024 * 1024, 'bench');
  return { file: container, disk, label: '256 MiB of random bytes (level 0 container)' };
}

/** The NBD section (see the file comment). */
export async function nbdSection(log = console.log) {
  const missing = nbdMissing();
  if (missing) {
    log(`nbd section skipped: ${missing}`);
    return;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-netbench-'));
  const { serveContainer } = dist('serve/server');
  const servers = [];
  try {
    const { file, disk, label } = await nbdDisk(work);
    const size = fs.statSync(disk).size;
    log(`NBD: ${label}, ${(size / 2 ** 20).toFixed(0)} MiB; nbdkit ${(await import('node:child_process')).execFileSync('nbdkit', ['--version']).toString().trim()}`);
    // Everything decoded here goes to a cache of this run's own, emptied for the cold figures.
    const cacheDir = path.join(work, 'cache');
    process.env.PIXELRTS_CACHE_DIR = cacheDir;
    const base = await fileServer(disk, work);
    servers.push(base);
    const start = async () => {
      const s = await serveContainer(file, { nbd: true });
      servers.push(s);
      return { s, uri: s.nbd.exports.find((e) => e.name === 'disk').uri };
    };
    let { s, uri } = await start();
    const [host, port] = [s.nbd.host, s.nbd.port];

    // Sequential: the first pass decodes (cold), the next ones read the decoded cache.
    const cold = await nbdcopyMs(uri);
    const warm = [];
    const file1 = [];
    for (let i = 0; i < 3; i++) {
      file1.push(await nbdcopyMs(base.uri));
      warm.push(await nbdcopyMs(uri));
    }
    const single = await nbdcopyMs(uri, ['--connections=1']);
    const singleFile = await nbdcopyMs(base.uri, ['--connections=1']);
    log('sequential read, nbdcopy to null: (MB/s; median of 3 for cached and file):');
    log(`  pixelrts plugin, cold (decoding):   ${mbps(size, cold).toFixed(0)} MB/s  ratio ${(median(file1) / cold).toFixed(2)}x`);
    log(`  pixelrts plugin, cached:            ${mbps(size, median(warm)).toFixed(0)} MB/s  ratio ${(median(file1) / median(warm)).toFixed(2)}x (target >= 0.8x)`);
    log(`  nbdkit file plugin (baseline):      ${mbps(size, median(file1)).toFixed(0)} MB/s`);
    log(`  one connection: plugin cached ${mbps(size, single).toFixed(0)} MB/s, file ${mbps(size, singleFile).toFixed(0)} MB/s, ratio ${(singleFile / single).toFixed(2)}x`);

    // Random 4 KiB reads, cached (every band decoded by the passes above).
    const rPlugin = [];
    const rFile = [];
    for (let i = 0; i < 2; i++) {
      rFile.push(await randomIops(base.host, base.port, '', size, { seed: 7 + i }));
      rPlugin.push(await randomIops(host, port, 'disk', size, { seed: 7 + i }));
    }
    log('4 KiB random reads, 16 in flight, one connection (reads/s; median of 2):');
    log(`  pixelrts plugin, cached: ${median(rPlugin).toFixed(0)}  ratio ${(median(rPlugin) / median(rFile)).toFixed(2)}x (target >= 0.8x)`);
    log(`  nbdkit file plugin:      ${median(rFile).toFixed(0)}`);

    // Four clients at once, one connection each.
    const four = async (u) => { const t0 = now(); await Promise.all([0, 1, 2, 3].map(() => exec('nbdcopy', ['--connections=1', u, 'null:']))); return now() - t0; };
    const fourFile = await four(base.uri);
    const fourPlugin = await four(uri);
    log('four clients at once (nbdcopy --connections=1 each), aggregate:');
    log(`  pixelrts plugin, cached: ${mbps(4 * size, fourPlugin).toFixed(0)} MB/s  ratio ${(fourFile / fourPlugin).toFixed(2)}x`);
    log(`  nbdkit file plugin:      ${mbps(4 * size, fourFile).toFixed(0)} MB/s`);

    // Cold random reads: an empty decoded cache, each read decodes the band(s) holding it.
    await s.close();
    servers.splice(servers.indexOf(s), 1);
    fs.rmSync(cacheDir, { recursive: true, force: true });
    ({ s, uri } = await start());
    // The first 500 reads: most land in a band not decoded yet (a disk has a few hundred).
    const coldIops = await randomIops(s.nbd.host, s.nbd.port, 'disk', size, { ms: 60_000, max: 500, seed: 99 });
    const bandsFile = fs.readdirSync(cacheDir).find((f) => f.endsWith('.payload.bands'));
    const bands = bandsFile ? fs.readFileSync(path.join(cacheDir, bandsFile)) : Buffer.alloc(0);
    log(`4 KiB random reads, cold (empty decoded cache, the first 500 reads; ${bands.filter((b) => b === 1).length} of ${bands.length} bands decoded by them):`);
    log(`  pixelrts plugin, cold: ${coldIops.toFixed(0)} reads/s  ratio ${(coldIops / median(rFile)).toFixed(3)}x`);
  } finally {
    for (const srv of servers) await srv.close().catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
  }
}
