/**
 * Copy-on-write overlays for a container's disks. The container stays read-only: QEMU writes
 * to a qcow2 overlay over the disk segment the FUSE mount serves. An overlay in the runtime
 * directory goes with it (ephemeral, the default); one the user names (`--persist`) is kept and
 * reused by the next boot of the same disk.
 *
 * The overlay records which disk it belongs to in its backing-file field, as
 * `pixelrts-overlay:{json}`. QEMU never opens that name (pixelrts always names the backing node
 * itself, since the mount's path changes with every boot), so it is free to say what the
 * overlay was made for, and an overlay made for another disk is refused.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { PixelrtsError } from '../errors';
import { onPath } from '../vm/qemu';

const run = promisify(execFile);

const IDENTITY_PREFIX = 'pixelrts-overlay:';

/** What an overlay was made for. */
export interface OverlayIdentity {
  /** The disk segment's name. */
  segment: string;
  /** Its sha256 (as the container records it), or, without one, its size and container. */
  sha256: string | null;
  size: number;
  /** The container's path when the overlay was made (informative: a moved container still matches by sha256). */
  container: string;
}

/** A disk as QEMU gets it: the overlay it writes to, over the read-only segment. */
export interface DiskOverlay {
  segment: string;
  overlay: string;
  base: string;
  baseFormat: 'raw' | 'qcow2';
  /** True for a --persist overlay (kept after the VM), false for one in the runtime directory. */
  persistent: boolean;
  /** True when a --persist overlay already existed and is reused. */
  reused: boolean;
}

/** The qemu-img binary, or a clear error naming the package. */
export function requireQemuImg(): string {
  const found = onPath('qemu-img');
  if (found) return found;
  throw new PixelrtsError('ERR_PIXELRTS_DEPENDENCY',
    'qemu-img not found on PATH: it makes the copy-on-write overlays of a container\'s disks. ' +
    'Install it (Debian: apt-get install qemu-utils; macOS: brew install qemu), or run scripts/install-deps.sh');
}

/** The header fields of a qcow2 file pixelrts needs: its virtual size and backing-file name. */
export function readQcow2Header(file: string): { size: number; backing: string | null } | null {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(72);
    if (fs.readSync(fd, head, 0, 72, 0) < 72 || head.toString('latin1', 0, 4) !== 'QFI\xfb') return null;
    const backingOffset = Number(head.readBigUInt64BE(8));
    const backingSize = head.readUInt32BE(16);
    const size = Number(head.readBigUInt64BE(24));
    if (backingOffset === 0 || backingSize === 0) return { size, backing: null };
    if (backingSize > 1023) return { size, backing: null };  // QEMU's own limit; not one of ours
    const name = Buffer.alloc(backingSize);
    fs.readSync(fd, name, 0, backingSize, backingOffset);
    return { size, backing: name.toString('utf8') };
  } finally {
    fs.closeSync(fd);
  }
}

/** The identity an overlay records, or null when it is not one of pixelrts' overlays. */
export function readOverlayIdentity(file: string): OverlayIdentity | null {
  const backing = readQcow2Header(file)?.backing;
  if (!backing?.startsWith(IDENTITY_PREFIX)) return null;
  try {
    return JSON.parse(backing.slice(IDENTITY_PREFIX.length)) as OverlayIdentity;
  } catch {
    return null;
  }
}

function sameDisk(a: OverlayIdentity, b: OverlayIdentity): boolean {
  if (a.segment !== b.segment || a.size !== b.size) return false;
  return a.sha256 !== null && b.sha256 !== null ? a.sha256 === b.sha256 : a.container === b.container;
}

/**
 * The overlay for one disk segment: a fresh one in `runtimeDir`, or the `persist` file (made if
 * missing, reused if it was made for this disk, refused otherwise). `base` is the segment's
 * file in the mount; its format is told by its content.
 */
export async function prepareOverlay(o: {
  identity: OverlayIdentity; base: string; runtimeDir: string; index: number; persist?: string;
}): Promise<DiskOverlay> {
  const qemuImg = requireQemuImg();
  const baseHeader = readQcow2Header(o.base);
  if (baseHeader?.backing) {
    throw new PixelrtsError('ERR_PIXELRTS_DISK',
      `disk "${o.identity.segment}" is a qcow2 image with a backing file (${baseHeader.backing}), which a container cannot carry: ` +
      'flatten it first (qemu-img convert -O qcow2 in.qcow2 flat.qcow2) and pack the result.');
  }
  const baseFormat = baseHeader ? 'qcow2' : 'raw';
  const virtualSize = baseHeader ? baseHeader.size : o.identity.size;
  const overlay = o.persist ? path.resolve(o.persist) : path.join(o.runtimeDir, `disk${o.index}.qcow2`);
  if (o.persist && fs.existsSync(overlay)) {
    const found = readOverlayIdentity(overlay);
    if (!found) {
      throw new PixelrtsError('ERR_PIXELRTS_OVERLAY',
        `--persist ${o.persist}: the file exists and is not a pixelrts overlay; name a new file or remove it.`);
    }
    if (!sameDisk(found, o.identity)) {
      throw new PixelrtsError('ERR_PIXELRTS_OVERLAY',
        `--persist ${o.persist}: this overlay was made for disk "${found.segment}" of ${found.container} ` +
        `(sha256 ${found.sha256 ?? 'not recorded'}, ${found.size} bytes), not for disk "${o.identity.segment}" of this container ` +
        `(sha256 ${o.identity.sha256 ?? 'not recorded'}, ${o.identity.size} bytes). Booting it would corrupt the disk: ` +
        'name another --persist file, or remove this one to start over.');
    }
    return { segment: o.identity.segment, overlay, base: o.base, baseFormat, persistent: true, reused: true };
  }
  // Made beside its final name and renamed, so a killed boot never leaves half an overlay there.
  const tmp = `${overlay}.${process.pid}.tmp`;
  try {
    await run(qemuImg, ['create', '-q', '-f', 'qcow2', '-u', '-F', baseFormat,
      '-b', IDENTITY_PREFIX + JSON.stringify(o.identity), tmp, String(virtualSize)]);
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, overlay);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    const e = err as Error & { stderr?: string };
    throw new PixelrtsError('ERR_PIXELRTS_OVERLAY', `cannot create the overlay ${overlay}: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
  return { segment: o.identity.segment, overlay, base: o.base, baseFormat, persistent: o.persist !== undefined, reused: false };
}
