/**
 * The demo container: the demo guest (demo.ts: a Debian kernel and a busybox initrd) packed
 * into a PixelRTS v2 container with the codec, with `kernel` and `initrd` segments and the
 * kernel command line in its metadata. Built once and cached next to the demo's kernel, under
 * `$XDG_CACHE_HOME/pixelrts` (or `~/.cache/pixelrts`); rebuilt when the kernel or the initrd
 * changes.
 *
 * ```ts
 * const file = await demoContainer();            // …/.cache/pixelrts/demo-6.1.0-…-852b….rts.png
 * const vm = await boot(file, { append: 'pixelrts.demo=oneshot' });
 * ```
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { encodeAsync } from './codec';
import { buildDemoImage, defaultCacheDir } from './demo';

export interface DemoContainerOptions {
  /** Cache directory (default `$XDG_CACHE_HOME/pixelrts` or `~/.cache/pixelrts`). */
  cacheDir?: string;
  /** Told what is being done, one line at a time (kernel download, encoding). */
  onProgress?: (line: string) => void;
}

/** The cached demo container's path, building the demo guest and the container when needed. */
export async function demoContainer(options: DemoContainerOptions = {}): Promise<string> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const progress = options.onProgress ?? (() => undefined);
  const demo = await buildDemoImage({ cacheDir, onProgress: progress });
  // The name carries what went in, so a new kernel or initrd makes a new container.
  const kernel = fs.readFileSync(demo.kernelPath);
  const initrd = fs.readFileSync(demo.initrdPath);
  const key = crypto.createHash('sha256').update(kernel).update(initrd).update(demo.cmdline).digest('hex').slice(0, 12);
  const file = path.join(cacheDir, `demo-${demo.kernelRelease}-${key}.rts.png`);
  if (fs.existsSync(file)) return file;

  progress(`encoding ${path.basename(file)} (kernel ${kernel.length} B, initrd ${initrd.length} B)`);
  // Both are compressed already (LZ4 kernel, gzip initrd): stored as is, which also keeps the
  // container randomly accessible, so a mount serves reads without decoding everything first.
  const png = await encodeAsync([
    { name: 'kernel', data: kernel, type: 'kernel' },
    { name: 'initrd', data: initrd, type: 'initrd' },
  ], {
    name: 'pixelrts-demo',
    type: 'boot-bundle',
    cmdline: demo.cmdline,
    metadata: { description: `pixelrts demo guest (Debian ${demo.kernelRelease}, busybox)`, arch: 'x86_64' },
  });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, png);
  fs.renameSync(tmp, file);
  for (const old of fs.readdirSync(cacheDir)) {
    if (/^demo-.*\.rts\.png$/.test(old) && path.join(cacheDir, old) !== file) fs.rmSync(path.join(cacheDir, old), { force: true });
  }
  return file;
}
