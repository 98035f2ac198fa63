// What the serve tests and the network bench share: whether nbdkit, its clients and the
// pixelrts plugin are here, the containers they serve (built once, cached beside the demo under
// node_modules/.cache/pixelrts-test), `pixelrts serve --json` as a child process, and tampering
// with a container behind a valid CRC.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { commandMissing, repoRoot } from './prereq.mjs';
import { fuseMissing } from './fuse.mjs';
import { demoCacheDir } from './demo-image.mjs';
import { writePatterned } from './reference-codec.mjs';
import { readChunks } from './png-js.mjs';

const require = createRequire(import.meta.url);
const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
export const pluginPath = path.join(repoRoot, 'build', 'Release', 'nbdkit-pixelrts-plugin.so');

/** null when `pixelrts serve --nbd` and the NBD clients can run here, else the reason. */
export function nbdMissing() {
  return commandMissing('nbdkit', 'nbdkit') ?? commandMissing('nbdinfo', 'libnbd-bin') ?? commandMissing('nbdcopy', 'libnbd-bin') ??
    commandMissing('qemu-img', 'qemu-utils') ?? fuseMissing() ??
    (fs.existsSync(pluginPath) ? null : `${pluginPath} was not built (install nbdkit-plugin-dev, then npx cmake-js compile)`);
}

/** Bytes of the large test disk: above the 64 MiB from which payloads go through the decoded cache (whole sectors: QEMU sees NBD sizes in 512-byte sectors). */
export const LARGE_DISK_SIZE = 72 * 1024 * 1024 + 3 * 4096;


const building = new Map();
/**
 * A container with a kernel-like segment and a disk of `diskSize` random bytes, built once:
 * { container, disk, kernel } (the raw files beside it). Level 0 (stored deflate blocks), so a
 * byte changed behind a valid CRC still inflates and only the hash tree can catch it.
 */
export function diskContainer(diskSize, tag) {
  const key = `${tag}-${diskSize}`;
  if (!building.has(key)) {
    building.set(key, (async () => {
      fs.mkdirSync(demoCacheDir, { recursive: true });
      const base = path.join(demoCacheDir, `nbd-${key}-v1`);
      const out = { container: `${base}.rts.png`, disk: `${base}.disk`, kernel: `${base}.kernel` };
      if (fs.existsSync(out.container) && fs.existsSync(`${out.container}.meta.json`)) return out;
      const work = fs.mkdtempSync(path.join(demoCacheDir, '.build-nbd-'));
      try {
        writePatterned(path.join(work, 'disk'), diskSize, `nbd-disk-${tag}`);
        writePatterned(path.join(work, 'kernel'), 300_001, `nbd-kernel-${tag}`);
        const png = path.join(work, 'c.rts.png');
        await require('../../dist/codec/writer.js').writeContainer(png, [
          { name: 'kernel', type: 'kernel', path: path.join(work, 'kernel') },
          { name: 'disk', type: 'disk', path: path.join(work, 'disk') },
        ], { name: `nbd-${tag}`, type: 'boot-bundle', level: 0 });
        fs.renameSync(path.join(work, 'disk'), out.disk);
        fs.renameSync(path.join(work, 'kernel'), out.kernel);
        fs.renameSync(`${png}.meta.json`, `${out.container}.meta.json`);
        fs.renameSync(png, out.container);
        return out;
      } finally {
        fs.rmSync(work, { recursive: true, force: true });
      }
    })());
  }
  return building.get(key);
}


/**
 * A copy of `container` at `target` with one byte of image data changed, `fraction` of the way
 * through its IDAT run, and that chunk's CRC made right again (as a tool that rewrote the file
 * would leave it), with the same sidecar.
 */
export function tamperedCopy(container, target, fraction = 0.5) {
  const png = fs.readFileSync(container);
  // Each chunk's data is a view into png: its offset there is where the chunk's data starts.
  const idats = readChunks(png).filter((c) => c.type === 'IDAT').map((c) => ({ at: c.data.byteOffset - png.byteOffset - 8, length: c.data.length }));
  let skip = Math.floor(idats.reduce((n, c) => n + c.length, 0) * fraction);
  const chunk = idats.find((c) => (skip < c.length ? true : (skip -= c.length, false)));
  png[chunk.at + 8 + skip] ^= 0x55;
  png.writeUInt32BE(zlib.crc32(png.subarray(chunk.at + 4, chunk.at + 8 + chunk.length)), chunk.at + 8 + chunk.length);
  fs.writeFileSync(target, png);
  fs.copyFileSync(`${container}.meta.json`, `${target}.meta.json`);
  return target;
}

/** sha256 of a file, streamed. */
export async function fileSha256(file) {
  const h = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk);
  return h.digest('hex');
}

/**
 * Starts `pixelrts serve FILE --json ...args` with `env`; resolves once it listens with
 * { child, events, listening, url, stderr } (listening.nbd: [{ name, size, type, uri }] with
 * --nbd). `t` kills it when the test ends (when given).
 */
export async function startServe(t, file, env, args = []) {
  const child = spawn(process.execPath, [cli, 'serve', file, '--json', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  t?.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const events = [];
  let buf = '';
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const listening = await new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`pixelrts serve exited ${code}: ${stderr}`)));
    child.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d;
      const parts = buf.split('\n');
      buf = parts.pop();
      for (const l of parts) {
        const e = JSON.parse(l);
        events.push(e);
        if (e.type === 'listening') resolve(e);
      }
    });
  });
  return { child, events, listening, url: listening.url, files: listening.files, stderr: () => stderr };
}

/** startServe with --nbd. */
export const startNbdServe = (t, file, env, args = []) => startServe(t, file, env, ['--nbd', ...args]);

/** The processes whose parent is `pid`. */
export function childrenOf(pid) {
  const out = [];
  for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
    const list = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    if (list) out.push(...list.split(/\s+/).map(Number));
  }
  return out;
}

/** The command name of process `pid` ('' once it is gone). */
export function commOf(pid) {
  try { return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return ''; }
}
