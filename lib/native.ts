/**
 * Loads the native addon: a prebuilt binary from prebuilds/ when one matches this
 * platform, else build/Release from a local compile (node-gyp-build picks).
 * Each concept adds the typed signature of what it exports to `NativeAddon`.
 */
import path from 'node:path';
import { PixelrtsError } from './errors';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;

/** A container's byte stream held in native memory, possibly still decoding (see payload_handle.h). */
export interface PayloadHandle {
  /** Total size in bytes. */
  readonly size: number;
  /** Empty while fine; the decode's error message once it failed. */
  readonly failure: string;
  /** Blocks until [offset, offset+length) is ready; 0, or an errno (EIO after a failed decode). */
  waitReady(offset: number, length: number): number;
  /** Waits on the thread pool until [offset, offset+length) is ready; resolves 0, or an errno (EIO after a failed decode, EINTR after a cancel). */
  waitReadyAsync(offset: number, length: number): Promise<number>;
  /**
   * Bytes [offset, offset+length) as a Buffer over the payload's own memory, without a copy
   * (read-only by contract). Waits for the range first: call it after waitReadyAsync resolved 0.
   * Throws ERR_PIXELRTS_DECODE after a failed decode, ERR_PIXELRTS_RANGE outside the payload.
   * The Buffer keeps the payload alive on its own. When the bytes are in a file (the decoded
   * cache) the view is a copy: into `scratch` (at least `length` bytes) when given, so a loop
   * over a large payload reuses one buffer; the result is then valid until the next call.
   */
  view(offset: number, length: number, scratch?: Buffer): Buffer;
}

export interface NativeAddon {
  abiVersion: number;
  /** The class native errors are made of: PixelrtsError, handed over once as the addon loads. */
  setErrorClass(errorClass: typeof PixelrtsError): void;
  /** Replaces `path` with `data`, written into an unnamed file beside it first (see atomic-write.ts). */
  writeFileAtomic(path: string, data: Buffer, options: { mode: number; durable: boolean }): Promise<void>;
  /** A PayloadHandle over a copy of `bytes`, every range ready at once. */
  payloadFromBuffer(bytes: Buffer): PayloadHandle;
}

let cached: NativeAddon | undefined;

/**
 * What to do when the addon did not load. In a checkout: build it. In an installed package:
 * node-gyp-build found no prebuilt binary for this platform and none was compiled, or the one
 * found does not load here (an older glibc); either way the fix is the system packages a compile
 * needs, then a compile. The prebuilt platforms are package.json's os × cpu (scripts/pack.mjs
 * refuses to pack without them); the glibc they need is docs/packaging.md's baseline.
 */
function loadAdvice(root: string): string {
  if (!root.split(path.sep).includes('node_modules')) {
    return 'Run `npm run build` (needs the packages from scripts/install-deps.sh).';
  }
  const pkg = require(path.join(root, 'package.json')) as { os: string[]; cpu: string[] };
  const prebuilt = pkg.os.flatMap((os) => pkg.cpu.map((cpu) => `${os}-${cpu}`)).join(', ');
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  const libc = header?.glibcVersionRuntime ? `glibc ${header.glibcVersionRuntime}` : 'a libc other than glibc';
  return `Prebuilt binaries exist for ${prebuilt} with glibc 2.31 or newer; this is ${process.platform}-${process.arch} with ${libc}. ` +
    'To build the addon from source, install a C++ compiler, make, Python 3 and the libraries\' headers: ' +
    'on Debian/Ubuntu `apt-get install g++ make python3 libdeflate-dev libzstd-dev zlib1g-dev libfuse3-dev libopenh264-dev`, ' +
    'on Fedora `dnf install gcc-c++ make python3 libdeflate-devel libzstd-devel zlib-devel fuse3-devel openh264-devel`, ' +
    'on Arch `pacman -S base-devel python libdeflate zstd zlib fuse3 openh264`; ' +
    `then run \`npm rebuild pixelrts --build-from-source\` (node-gyp compiles into ${path.join(root, 'build')}).`;
}

/** The loaded addon; throws ERR_PIXELRTS_ADDON with the fix when it cannot be loaded. */
export function native(): NativeAddon {
  if (cached) return cached;
  const root = path.join(__dirname, '..');
  try {
    const addon = nodeGypBuild(root) as NativeAddon;
    addon.setErrorClass(PixelrtsError);
    cached = addon;
  } catch (err) {
    throw new PixelrtsError('ERR_PIXELRTS_ADDON',
      `pixelrts: the native addon could not be loaded from ${root} (${(err as Error).message.trim()}). ${loadAdvice(root)}`,
      { cause: err });
  }
  return cached;
}
