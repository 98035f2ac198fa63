/**
 * The kernel's mount table as this process sees it (/proc/self/mountinfo): which directories
 * are mount points, and of what.
 */
import fs from 'node:fs';

/** One mount. */
export interface MountEntry {
  /** Where it is mounted (absolute, as the kernel reports it). */
  mountPoint: string;
  /** e.g. "fuse.pixelrts", "tmpfs". */
  fsType: string;
  /** The source column (a FUSE mount's fsname). */
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Every mount visible to this process; empty where /proc is not available. */
export function readMountTable(): MountEntry[] {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    if (fields.length < 5 || sep < 0 || sep + 2 >= fields.length) continue;
    entries.push({ mountPoint: unescape(fields[4]), fsType: fields[sep + 1], source: unescape(fields[sep + 2]) });
  }
  return entries;
}

/** The topmost mount at exactly `dir` (an absolute, canonical path), if any. */
export function findMount(dir: string): MountEntry | undefined {
  const all = readMountTable().filter((m) => m.mountPoint === dir);
  return all[all.length - 1];
}
