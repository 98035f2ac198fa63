// Containers and servers for the tests (and the bench) that read containers over HTTP.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { demoCacheDir, demoImage } from './demo-image.mjs';

const require = createRequire(import.meta.url);

/** Bytes of the random disk in diskDemoContainer(). */
export const DISK_BYTES = 40 << 20;

let diskDemo;
/**
 * The demo guest (kernel, initrd) with a 40 MiB disk of random bytes: a container most of whose
 * bytes a boot never reads, so reading on demand shows. Built once into the tests' cache.
 */
export function diskDemoContainer() {
  diskDemo ??= (async () => {
    const demo = await demoImage();
    const key = crypto.createHash('sha256').update(`${demo.kernelPath}\n${demo.initrdPath}\n${DISK_BYTES}`).digest('hex').slice(0, 12);
    const file = path.join(demoCacheDir, `remote-disk-${key}.rts.png`);
    if (fs.existsSync(file)) return file;
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-diskdemo-'));
    try {
      const disk = path.join(work, 'disk.img');
      fs.writeFileSync(disk, crypto.randomBytes(DISK_BYTES));
      const tmp = path.join(work, 'out.rts.png');
      await require('../../dist/codec/writer.js').writeContainer(tmp, [
        { name: 'kernel', type: 'kernel', path: demo.kernelPath },
        { name: 'initrd', type: 'initrd', path: demo.initrdPath },
        { name: 'disk', type: 'disk', path: disk },
      ], { name: 'demo-disk', type: 'boot-bundle', cmdline: demo.cmdline });
      fs.mkdirSync(demoCacheDir, { recursive: true });
      fs.copyFileSync(tmp, `${file}.tmp`);
      fs.renameSync(`${file}.tmp`, file);
      return file;
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  })();
  return diskDemo;
}

/** A site directory nginx can serve (world-readable) and a cache directory, removed with the test. */
export function remoteScratch(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-remote-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);  // nginx's workers (nobody, when it runs as root) read the site below
  const site = path.join(dir, 'site');
  fs.mkdirSync(site);
  return { dir, site, cache: path.join(dir, 'cache') };
}
