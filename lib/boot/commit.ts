/**
 * Committing a VM's disk changes into a new container: each disk overlay is merged with the
 * segment under it (qemu-img convert, which reads the overlay over the read-only base, so the
 * old container is never written), and the result is packed with the container's other
 * segments and its metadata into a new `.rts.png` that boots like any other, without the
 * overlay.
 *
 * The merged disks are written to a private directory beside the output (a disk can be as
 * large as the output itself), watched from birth, so a killed commit leaves nothing there;
 * the container itself is written atomically (writeContainer).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { open } from '../codec/container';
import { writeContainer, type WriteProgress } from '../codec/writer';
import { PixelrtsError } from '../errors';
import { mount, type Mount } from '../fuse/mount';
import { readOverlayIdentity, readQcow2Header, requireQemuImg } from './overlay';
import { createRuntimeDir, removeRuntimeDir } from './runtime-dir';
import type { QmpExecutor } from '../vm/qmp';

const run = promisify(execFile);

/** One disk's overlay. */
export interface CommitDisk {
  segment: string;
  overlay: string;
}

export interface CommitOptions {
  /** Where the container is mounted already (a running VM's mount); default: mounted for the commit. */
  mountpoint?: string;
  /** Told the phase (`merge` per disk, then the container's `hash`/`compress`/`encode`) and bytes done of total. */
  onProgress?: (p: { phase: 'merge' | WriteProgress['phase']; done: number; total: number; detail?: string }) => void;
}

/**
 * Runs `work` with the guest paused: QMP `stop` (which makes QEMU flush every disk), then
 * `cont` afterwards, whatever `work` did, unless the guest was paused already.
 */
export async function pausedFor<T>(qmp: QmpExecutor, work: () => Promise<T>): Promise<T> {
  const status = await qmp.execute('query-status') as { running?: boolean };
  if (status.running) await qmp.execute('stop');
  try {
    return await work();
  } finally {
    if (status.running) await qmp.execute('cont');
  }
}

/** Metadata keys a commit carries over from the old container to the new one. */
const CARRIED_KEYS = ['description', 'content_version', 'arch', 'memory', 'cpus', 'meta'];

/**
 * Writes `output`: the container `image` with each of `disks` replaced by its segment merged
 * with its overlay. The overlays must be consistent (the VM paused or stopped). Resolves with
 * the new container's metadata.
 */
export async function commitDisks(image: string, disks: CommitDisk[], output: string, options: CommitOptions = {}): Promise<Record<string, unknown>> {
  const qemuImg = requireQemuImg();
  const container = await open(image);
  for (const d of disks) {
    const file = container.files.find((f) => f.name === d.segment);
    if (!file || file.type !== 'disk') {
      throw new PixelrtsError('ERR_PIXELRTS_OVERLAY', `${image} has no disk segment "${d.segment}" for the overlay ${d.overlay}.`);
    }
    const identity = readOverlayIdentity(d.overlay);
    if (!identity || identity.segment !== d.segment || (identity.sha256 !== null && file.sha256 !== undefined && identity.sha256 !== file.sha256)) {
      throw new PixelrtsError('ERR_PIXELRTS_OVERLAY',
        `${d.overlay} is not an overlay of disk "${d.segment}" of ${image}` +
        `${identity ? ` (it was made for disk "${identity.segment}" of ${identity.container})` : ' (it is not a pixelrts overlay)'}.`);
    }
  }
  const outDir = path.dirname(path.resolve(output));
  const { dir: work, watcher } = await createRuntimeDir(outDir, '.pixelrts-commit');
  let mounted: Mount | undefined;
  try {
    let mountpoint = options.mountpoint;
    if (mountpoint === undefined) {
      mountpoint = path.join(work, 'mnt');
      fs.mkdirSync(mountpoint, { mode: 0o700 });
      mounted = await mount(container, mountpoint);
    }
    const fileOf = (segment: string): string => path.join(mountpoint as string, segment);
    const merged = new Map<string, string>();
    for (const [i, d] of disks.entries()) {
      const base = fileOf(d.segment);
      const qcow2Base = readQcow2Header(base) !== null;
      const out = path.join(work, `disk${i}.${qcow2Base ? 'qcow2' : 'raw'}`);
      // The overlay's own backing-file field names no file (overlay.ts): the base is given here.
      const source = {
        driver: 'qcow2',
        file: { driver: 'file', filename: path.resolve(d.overlay) },
        backing: { driver: qcow2Base ? 'qcow2' : 'raw', file: { driver: 'file', filename: base, locking: 'off' } },
      };
      options.onProgress?.({ phase: 'merge', done: i, total: disks.length, detail: d.segment });
      try {
        // -U: a running VM's QEMU holds the overlay's lock; it is paused, so the image is consistent.
        await run(qemuImg, ['convert', '-U', '-O', qcow2Base ? 'qcow2' : 'raw', `json:${JSON.stringify(source)}`, out],
          { maxBuffer: 1 << 20 });
      } catch (err) {
        const e = err as Error & { stderr?: string };
        throw new PixelrtsError('ERR_PIXELRTS_COMMIT', `merging the overlay ${d.overlay} into disk "${d.segment}" failed: ${(e.stderr ?? e.message).trim()}`, { cause: err });
      }
      merged.set(d.segment, out);
    }
    options.onProgress?.({ phase: 'merge', done: disks.length, total: disks.length });
    const segments = container.files.map((f) => ({ name: f.name, type: f.type, path: merged.get(f.name) ?? fileOf(f.name) }));
    const meta = container.metadata as Record<string, unknown> | undefined ?? {};
    const carried = Object.fromEntries(CARRIED_KEYS.filter((k) => meta[k] !== undefined).map((k) => [k, meta[k]]));
    return await writeContainer(output, segments, {
      ...(typeof meta.name === 'string' ? { name: meta.name } : {}),
      ...(typeof meta.type === 'string' ? { type: meta.type } : {}),
      ...(typeof meta.cmdline === 'string' ? { cmdline: meta.cmdline } : {}),
      ...(Object.keys(carried).length ? { metadata: carried } : {}),
      ...(options.onProgress ? { onProgress: (p: WriteProgress) => options.onProgress?.(p) } : {}),
    }) as unknown as Record<string, unknown>;
  } finally {
    await (mounted as Mount | undefined)?.unmount().catch(() => undefined);
    try {
      removeRuntimeDir(work);
    } catch {
      // still mounted: the watcher removes it once the mount is gone
    }
    watcher.release();
  }
}
