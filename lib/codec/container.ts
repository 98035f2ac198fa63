/**
 * A PixelRTS container opened from disk: its metadata, its file table (one file, the segment
 * table of a boot bundle, or the files of an Infinite Map), random-access reads of single
 * files, verification of every hash, and the payload handle a FUSE mount serves from.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import nodePath from 'node:path';
import zlib from 'node:zlib';
import './binding';
import type { PngInfo } from './binding';
import {
  decodeWithPlanAsync, DecodePlan, DecodeResult, gridOf, hashError, looksCompressed, planDecode, PixelrtsWarning, readInfo,
} from './codec';
import { writeFileAtomic } from '../atomic-write';
import { PixelrtsError } from '../errors';
import { InfiniteMap, isInfiniteMap, parseInfiniteMap } from './infinite-map';
import {
  classifyName, containerStem, findMetadata, metadataError, PixelRTSMetadata, readSidecar, sha256HexAsync,
  sidecarDifferences, SegmentInfo,
} from './metadata';
import { cacheEntryFor, DISK_CACHE_MIN, markVerified, wasVerified, type CacheIdentity } from './decoded-cache';
import { native, PayloadHandle } from '../native';

const { EINTR } = os.constants.errno;

/** One file inside a container. */
export interface ContainerFile {
  /** Segment name, the single file's name, or an Infinite Map path such as `boot/vmlinuz`. */
  name: string;
  /** 'kernel', 'initrd', the segment's type, or the container's `type` for a single file. */
  type: string;
  size: number;
  /** First byte in the payload (the first extent's offset). */
  offset: number;
  /** Expected sha256 when the container records one. */
  sha256?: string;
  /** Where the bytes are: [offset, length] ranges of the payload, in file order. */
  extents: Array<[number, number]>;
}

export type ContainerKind = 'pixelrts' | 'infinite-map';

/** One line of a verification report. */
export interface FileCheck {
  name: string;
  /** 'unchecked' when the container records no hash for the file. */
  status: 'ok' | 'mismatch' | 'unchecked';
  expected?: string;
  found?: string;
}

export interface VerifyReport {
  path: string;
  /** True when every recorded hash matches. */
  ok: boolean;
  /** The whole payload against data_hash (absent when the container records none). */
  dataHash?: { expected: string; found: string; ok: boolean };
  files: FileCheck[];
}

/** Options of the long reads (verify, extractTo). */
export interface ReadOptions {
  /**
   * Told as the bytes are decoded and checked: bytes done and the total, for a progress line
   * with a rate and the time left. Not called when the work is one step (a small container
   * decoded in memory at once) or was already done.
   */
  onProgress?: (done: number, total: number) => void;
}

export interface OpenOptions {
  /** Receives each warning as it is found (they are also collected in `container.warnings`). */
  onWarning?: (warning: PixelrtsWarning) => void;
  /**
   * The decoded cache's directory (default: PIXELRTS_CACHE_DIR, else ~/.cache/pixelrts/decoded),
   * where payloads of 64 MiB and more stored uncompressed are decoded (on demand, band by band,
   * for files pixelrts wrote); false keeps every payload in memory.
   */
  cacheDir?: string | false;
  /**
   * Names the container in the decoded cache instead of its file's identity (device, inode,
   * size, mtime): for a file whose path changes from run to run with the same bytes, such as a
   * container read from a URL through a mount.
   */
  cacheIdentity?: CacheIdentity;
  /**
   * Every read of the file costs (it is fetched over a network as it is read): decode into the
   * decoded cache whatever the payload's size (by default only payloads of 64 MiB and more are),
   * so a read fetches and decodes only the bands it touches, and decode nothing ahead of readers.
   */
  readOnDemand?: boolean;
}

const SINGLE_FILE_TYPE = 'data';
/** Segments up to this size are hashed at open to tell the standard curve from the legacy one. */
const ORIENTATION_PROBE_MAX = 1024 * 1024;

/** An opened `.rts.png`. Create with `open(path)`. */
export class Container {
  /** Warnings found so far (recovered bad files, legacy curve, sidecar disagreement, …). */
  readonly warnings: PixelrtsWarning[] = [];
  /** The files, in payload order. */
  files: ContainerFile[] = [];
  /** Grid side G of the image. */
  readonly grid: number;
  /** Payload length in bytes (for an Infinite Map: the whole pixel stream). */
  payloadSize = 0;
  /** Infinite Map layout (superblock, VAT), when kind is 'infinite-map'. */
  infiniteMap?: InfiniteMap;

  private plan!: DecodePlan;
  /** The whole payload held in JS memory (code mode, Infinite Maps, payloads without a length). */
  private cached?: Promise<Buffer>;
  /** The same bytes once they are there, for payload(). */
  private cachedBytes?: Buffer;
  /** payload() over cachedBytes, made once. */
  private cachedHandle?: PayloadHandle;
  /**
   * The one background decode of a payload stored in the pixels (startPayload): mounts,
   * read(), readPayload() and verify() all use it, so the pixels are decoded once.
   */
  private shared?: PayloadHandle;
  /** The hashes of the shared decode's payload, computed once (see checked()). */
  private hashes?: Promise<PayloadHashes>;
  /** The whole PNG file, read only when pixels are gathered in JS (legacy files, Infinite Maps). */
  private pngRead?: Promise<Buffer>;
  /** The decoded cache entry's data file, when the payload is decoded there (see startDecode()). */
  private cacheEntry?: string;
  /** The decoded cache entry of the legacy transposed curve, made once a decode needs it. */
  private transposedCacheEntry?: string;
  /** The file carries the hash tree. */
  private readonly hashTree: boolean;
  /** The decoded cache entry was checked whole against data_hash (by an earlier verify). */
  private cacheVerified = false;
  /** Which curve the pixels use, once known: files pixelrts writes (band index) and a hash check tell. */
  private transposed = false;
  private orientationKnown = false;

  private constructor(
    /** The PNG's path as given to open(). */
    readonly path: string,
    /** The metadata in use (embedded; the sidecar's only when the PNG has none). */
    readonly metadata: PixelRTSMetadata | null,
    readonly kind: ContainerKind,
    private readonly onWarning: ((w: PixelrtsWarning) => void) | undefined,
    info: PngInfo,
    /** Where the decoded cache lives (undefined: the default), or false to keep payloads in memory. */
    private readonly cacheDir: string | false | undefined,
    /** Names the container in the decoded cache (OpenOptions.cacheIdentity). */
    private readonly cacheIdentity: CacheIdentity | undefined,
    /** OpenOptions.readOnDemand. */
    private readonly readOnDemand: boolean,
  ) {
    this.grid = gridOf(info, path);
    this.hashTree = info.hasHashTree;
  }

  /**
   * True when a read never returns a byte that was not checked, so the payload need not be
   * verified whole before it is used (boot skips that step): the payload is served from the
   * decoded cache, and either every block is checked against the file's hash tree as it is
   * decoded (files pixelrts writes), or the whole entry was checked against data_hash by an
   * earlier verify() (files without the tree). verify() itself always hashes the payload.
   */
  get verifiedReads(): boolean {
    return this.cacheEntry !== undefined && (this.hashTree || this.cacheVerified);
  }

  /**
   * True once it is known which Hilbert curve the pixels use, so payload() serves the right
   * bytes: at open for files pixelrts writes (they carry the band index chunk, and pixelrts
   * writes only the standard curve) and for files with a small hashed segment; otherwise after
   * verify() or read() have checked a hash.
   */
  get curveKnown(): boolean {
    return this.orientationKnown;
  }

  /** @internal Use open(). */
  static async create(path: string, options: OpenOptions): Promise<Container> {
    const info = await readHeadInfo(path);
    const pending: PixelrtsWarning[] = [];
    const embedded = findMetadata(info.texts);
    let metadata = embedded;
    let sidecar = null;
    try {
      sidecar = await readSidecar(path);
    } catch (err) {
      pending.push({ code: 'WARN_PIXELRTS_SIDECAR', message: `${(err as Error).message} It was ignored.` });
    }
    if (sidecar && embedded) {
      const diff = sidecarDifferences(embedded, sidecar.metadata);
      if (diff.length > 0) {
        pending.push({ code: 'WARN_PIXELRTS_SIDECAR',
          message: `${sidecar.path} disagrees with the metadata embedded in ${path} on ${diff.map((k) => `"${k}"`).join(', ')}; using the embedded metadata.` });
      }
    } else if (sidecar && !embedded) {
      metadata = sidecar.metadata;
      pending.push({ code: 'WARN_PIXELRTS_SIDECAR',
        message: `${path} has no embedded PixelRTS metadata; using the sidecar ${sidecar.path}.` });
    }
    if (info.truncatedAt !== undefined) {
      pending.push({ code: 'WARN_PIXELRTS_TRUNCATED',
        message: `${path} ends at byte ${info.truncatedAt} without the PNG's closing IEND chunk: the file is truncated ` +
          '(an interrupted copy or download); its files cannot be read. Copy or download it again.' });
    }
    const kind: ContainerKind = isInfiniteMap(info.texts, metadata?.type) ? 'infinite-map' : 'pixelrts';
    const c = new Container(path, metadata, kind, options.onWarning, info, options.cacheDir, options.cacheIdentity,
      options.readOnDemand === true);
    for (const w of pending) c.warn(w);
    if (kind === 'infinite-map') await c.initInfiniteMap(info);
    else await c.initPixelrts(info);
    return c;
  }

  /** The whole PNG, read once when pixels must be gathered in JS. */
  private png(): Promise<Buffer> {
    this.pngRead ??= fs.readFile(this.path).catch((err: NodeJS.ErrnoException) => {
      this.pngRead = undefined;
      throw ioError(this.path, err);
    });
    return this.pngRead;
  }

  private keep(bytes: Buffer): void {
    this.cached = Promise.resolve(bytes);
    this.cachedBytes = bytes;
  }

  private warn(w: PixelrtsWarning): void {
    this.warnings.push(w);
    this.onWarning?.(w);
  }

  private async initInfiniteMap(info: PngInfo): Promise<void> {
    const capacity = this.grid * this.grid * 4;
    // Infinite Maps record no payload length: the payload is the whole pixel stream.
    this.plan = { source: this.path, grid: this.grid, capacity, metadata: this.metadata, mode: 'raw',
      storedSize: capacity, compressed: false, payloadSize: capacity, dataHash: undefined };
    this.payloadSize = capacity;
    const stream = await native().gatherStreamAsync(await this.png(), { offset: 0, length: capacity });
    this.keep(stream);
    this.orientationKnown = true;
    this.infiniteMap = parseInfiniteMap(info.texts, stream, this.grid, this.path,
      (message) => this.warn({ code: 'WARN_PIXELRTS_VAT', message }));
    this.files = this.infiniteMap.files.map((f) => ({
      name: f.name, type: f.type, size: f.size, offset: f.extents[0]?.[0] ?? 0, extents: f.extents,
    }));
  }

  private async initPixelrts(info: PngInfo): Promise<void> {
    this.plan = planDecode(info, this.path, this.metadata);
    const plan = this.plan;
    if (plan.mode === 'code') {
      // The bytes are in the metadata (no pixels are read): take them now. Their hash is
      // checked by read() and verify(), so a damaged file still opens and can be inspected.
      const result = await decodeWithPlanAsync(Buffer.alloc(0), { ...plan, dataHash: undefined }, { onWarning: (w) => this.warn(w) });
      this.keep(result.payload);
      this.payloadSize = result.payload.length;
      this.orientationKnown = true;
    } else {
      this.payloadSize = plan.mode === 'raw' ? plan.capacity : plan.payloadSize!;
      // Only pixelrts writes the band index chunk, and it writes only the standard curve.
      if (info.hasBandIndex) this.orientationKnown = true;
      if (plan.mode === 'dense' && !plan.compressed && (this.payloadSize >= DISK_CACHE_MIN || this.readOnDemand) && this.cacheDir !== false) {
        try {
          this.cacheEntry = await cacheEntryFor(this.path, this.payloadSize, this.cacheDir,
            this.cacheIdentity ? { identity: this.cacheIdentity } : {});
          this.cacheVerified = plan.dataHash !== undefined && await wasVerified(this.cacheEntry, plan.dataHash);
        } catch (err) {
          this.warn({ code: 'WARN_PIXELRTS_CACHE',
            message: `${this.path}: the decoded cache cannot be used (${(err as Error).message}); the payload is decoded in memory instead. Set PIXELRTS_CACHE_DIR to a writable directory.` });
        }
      }
    }
    if (plan.mode === 'dense' && plan.compressed && plan.storedSize === plan.payloadSize) {
      // The original's level-"none" bug (vector negative/n1): flagged compressed, stored raw.
      // Four bytes of pixels tell, so the background decode and random access can skip inflate.
      const head = native().gatherStream(await this.png(), { offset: 0, length: Math.min(4, plan.storedSize) });
      if (!looksCompressed(head)) {
        this.plan = { ...plan, compressed: false };
        this.warn({ code: 'WARN_PIXELRTS_STORED_RAW',
          message: `${this.path}: flagged compressed but the stream is not compressed and its length equals original_size; read it as stored (a known bug of the original encoder at level "none").` });
      }
    }
    this.files = this.segmentTable();
    await this.probeOrientation();
    if (this.readOnDemand && this.cacheEntry !== undefined && this.sharedDecode && this.orientationKnown) {
      // Opened now, off the main thread: its reads of the file may wait on a network, and
      // payload() (synchronous, for mounts) then finds it ready.
      this.shared = await native().openDecodedCacheAsync(this.path,
        { cachePath: this.cacheEntry, payloadSize: this.payloadSize, transposed: this.transposed, readahead: false });
    }
  }

  /** The file table from `segments` (or `offsets`), else one file holding the whole payload. */
  private segmentTable(): ContainerFile[] {
    const meta = this.metadata ?? {};
    const key = nonEmpty(meta.segments) ? 'segments' : nonEmpty(meta.offsets) ? 'offsets' : null;
    if (key === null) {
      const name = typeof meta.name === 'string' && meta.name !== '' ? meta.name : containerStem(this.path);
      const type = typeof meta.type === 'string' ? meta.type : SINGLE_FILE_TYPE;
      return [{ name, type, size: this.payloadSize, offset: 0, sha256: this.plan.mode === 'raw' ? undefined : this.plan.dataHash,
        extents: this.payloadSize > 0 ? [[0, this.payloadSize]] : [] }];
    }
    const table = meta[key] as Record<string, Partial<SegmentInfo>>;
    const names = Object.keys(table);
    const files = names.map((name): ContainerFile => {
      const seg = table[name];
      const field = `${key}.${name}`;
      if (seg.start !== undefined && seg.offset !== undefined && seg.start !== seg.offset) {
        throw metadataError(this.path, `${field}.offset`, `the same value as start (${seg.start})`, seg.offset);
      }
      // The original's converter writes one segment without a position: the whole payload.
      const start = seg.start ?? seg.offset ?? (names.length === 1 ? 0 : undefined);
      if (start === undefined) throw metadataError(this.path, `${field}.start`, 'the byte offset of the segment (start or offset)', undefined);
      const size = seg.size ?? (seg.end !== undefined ? seg.end - start : names.length === 1 ? this.payloadSize - start : undefined);
      if (size === undefined || size < 0) throw metadataError(this.path, `${field}.size`, 'the segment length (size, or end ≥ start)', seg.size ?? seg.end);
      if (seg.end !== undefined && seg.end !== start + size) {
        throw metadataError(this.path, `${field}.end`, `start + size = ${start + size}`, seg.end);
      }
      if (start + size > this.payloadSize) {
        throw metadataError(this.path, field, `a byte range within the ${this.payloadSize}-byte payload`, `[${start}, ${start + size})`,
          'The segment table does not match the payload; the file is damaged or was edited.');
      }
      const sha256 = (seg.sha256 ?? meta.hashes?.[name])?.toLowerCase();
      const type = typeof seg.type === 'string' ? seg.type : classifyName(name) ?? SINGLE_FILE_TYPE;
      return { name, type, size, offset: start, sha256, extents: size > 0 ? [[start, size]] : [] };
    });
    return files.sort((a, b) => a.offset - b.offset);
  }

  /** Random access is only possible when the pixels hold the payload itself. */
  private get randomAccess(): boolean {
    return this.plan.mode === 'dense' && !this.plan.compressed;
  }

  /** The payload is decoded by the shared background decode (it is stored in the pixels with a known length). */
  private get sharedDecode(): boolean {
    return this.plan.mode === 'dense';
  }

  /**
   * Legacy files use the transposed curve. A small segment with a hash tells which curve this
   * file uses before anything else reads it (in particular before payload() starts a mount).
   */
  private async probeOrientation(): Promise<void> {
    if (!this.randomAccess || this.orientationKnown) return;
    const probe = this.files.filter((f) => f.sha256 && f.size > 0 && f.size <= ORIENTATION_PROBE_MAX)
      .sort((a, b) => a.size - b.size)[0];
    if (probe) await this.gatherChecked(probe).catch(() => undefined);
  }

  /** Reads a file's single extent by random access, settling the curve orientation by its hash. */
  private async gatherChecked(file: ContainerFile): Promise<Buffer> {
    const png = await this.png();
    const read = (transposed: boolean) =>
      native().gatherStreamAsync(png, { offset: file.offset, length: file.size, transposed });
    let bytes = await read(this.transposed);
    if (!file.sha256) return bytes;
    let found = await sha256HexAsync(bytes);
    if (found !== file.sha256 && !this.orientationKnown) {
      const other = await read(!this.transposed);
      const otherFound = await sha256HexAsync(other);
      if (otherFound === file.sha256) {
        this.setOrientation(!this.transposed);
        bytes = other;
        found = otherFound;
      }
    }
    if (found !== file.sha256) throw fileHashError(this.path, file, found);
    this.orientationKnown = true;
    return bytes;
  }

  private setOrientation(transposed: boolean): void {
    this.transposed = transposed;
    this.orientationKnown = true;
    if (transposed) {
      this.warn({ code: 'WARN_PIXELRTS_TRANSPOSED',
        message: `${this.path}: written with the legacy transposed Hilbert curve (before 2026-02-09); read with it. Re-encode with \`pixelrts convert\` to update the file.` });
    }
  }

  /** The whole payload held in JS memory (modes without the shared decode), checked against data_hash when recorded. */
  private async decodeAll(): Promise<Buffer> {
    if (this.cached) return this.cached;
    const run = async (): Promise<Buffer> => {
      const r: DecodeResult = await decodeWithPlanAsync(await this.png(), this.plan, {
        transposed: this.orientationKnown ? this.transposed : undefined,
        // The orientation warning is the container's own (it also covers segment reads).
        onWarning: (w) => { if (w.code !== 'WARN_PIXELRTS_TRANSPOSED') this.warn(w); },
      });
      if (this.plan.dataHash !== undefined && !this.orientationKnown) this.setOrientation(r.transposed);
      return r.payload;
    };
    this.cached = run().then((bytes) => { this.cachedBytes = bytes; return bytes; });
    this.cached.catch(() => { this.cached = undefined; });
    return this.cached;
  }

  /**
   * Starts the decode of the pixels on one curve. A large payload of a file pixelrts wrote
   * (band index, stored uncompressed) is decoded on demand into the decoded cache; anything
   * else in the background into memory.
   */
  private startDecode(transposed: boolean): PayloadHandle {
    const entry = transposed ? this.transposedCacheEntry : this.cacheEntry;
    if (entry !== undefined) {
      return native().openDecodedCache(this.path, { cachePath: entry, payloadSize: this.payloadSize, transposed });
    }
    return native().startPayload(this.path, {
      storedSize: this.plan.storedSize,
      compression: this.plan.compressed ? 'auto' : 'none',
      payloadSize: this.payloadSize,
      transposed,
    });
  }

  /**
   * Waits for the whole shared decode and hashes it once: the payload against data_hash and
   * every file against its sha256, chunk by chunk as the decode delivers them (so hashing
   * overlaps decoding), over zero-copy views. While the curve is unknown (a file neither
   * pixelrts wrote nor settled at open) a failed decode or a hash mismatch restarts the decode
   * on the legacy transposed curve; the curve whose hashes match is kept. Throws only when the
   * pixels cannot be decoded at all.
   */
  private checked(onProgress?: ReadOptions['onProgress']): Promise<PayloadHashes> {
    this.hashes ??= (async () => {
      let first = this.payload();
      let result: PayloadHashes;
      try {
        result = await this.hashPayload(first, onProgress).catch((err: { code?: string }) => {
          // A mount of this container was unmounted meanwhile (which cancels its decode): again.
          if (err.code !== 'ERR_PIXELRTS_CANCELLED') throw err;
          first = this.payload();
          return this.hashPayload(first, onProgress);
        });
      } catch (err) {
        if (this.orientationKnown) throw err;
        const other = await this.startTransposedDecode();
        const alternative = await this.hashPayload(other, onProgress).catch(() => undefined);
        if (!alternative || !alternative.consistent) throw err;
        this.shared = other;
        this.setOrientation(true);
        return alternative;
      }
      if (!result.consistent && !this.orientationKnown) {
        const other = await this.startTransposedDecode();
        const alternative = await this.hashPayload(other, onProgress).catch(() => undefined);
        if (alternative?.consistent) {
          native().payloadCancel(first);
          this.shared = other;
          this.setOrientation(true);
          return alternative;
        }
        native().payloadCancel(other);
      }
      // A matching data_hash (or matching file hashes) confirms the standard curve.
      if (result.consistent && (this.plan.dataHash !== undefined || result.files.size > 0)) this.orientationKnown = true;
      if (result.consistent && this.cacheEntry !== undefined && result.dataHash !== undefined && !this.cacheVerified) {
        // Every byte of the cache entry was just checked against data_hash: remember it, so the
        // next open (the next boot) trusts the entry instead of hashing it all again.
        await markVerified(this.cacheEntry, result.dataHash).catch(() => undefined);
        this.cacheVerified = true;
      }
      return result;
    })();
    this.hashes.catch(() => { this.hashes = undefined; });
    return this.hashes;
  }

  /**
   * A decode along the legacy transposed curve. A payload large enough for the decoded cache is
   * decoded into an entry of its own there, like the standard curve's: never into memory.
   */
  private async startTransposedDecode(): Promise<PayloadHandle> {
    if (this.cacheEntry !== undefined && this.transposedCacheEntry === undefined) {
      this.transposedCacheEntry = await cacheEntryFor(this.path, this.payloadSize, nodePath.dirname(this.cacheEntry),
        { transposed: true, ...(this.cacheIdentity ? { identity: this.cacheIdentity } : {}) });
    }
    return this.startDecode(true);
  }

  /** Hashes the payload of `handle` and every file with a recorded sha256, as the decode delivers bytes. */
  private async hashPayload(handle: PayloadHandle, onProgress?: ReadOptions['onProgress']): Promise<PayloadHashes> {
    const size = handle.size;
    const whole = this.plan.dataHash !== undefined ? crypto.createHash('sha256') : undefined;
    // A file that is the whole payload and records data_hash as its sha256 (a single-file
    // container) takes the payload's hash; other one-extent files are hashed in the same pass,
    // the rest (never written by pixelrts) afterwards.
    const isWhole = (f: ContainerFile): boolean =>
      whole !== undefined && f.sha256 === this.plan.dataHash && f.extents.length === 1 && f.extents[0][0] === 0 && f.extents[0][1] === size;
    const inline = this.files.filter((f) => f.sha256 && f.extents.length === 1 && !isWhole(f));
    const later = this.files.filter((f) => f.sha256 && f.extents.length !== 1);
    const partial = new Map(inline.map((f) => [f, crypto.createHash('sha256')]));
    const scratch = Buffer.allocUnsafe(Math.min(HASH_CHUNK, size));
    const ready = async (offset: number, length: number): Promise<Buffer> => {
      const rc = await handle.waitReadyAsync(offset, length);
      if (rc !== 0) throw decodeError(this.path, handle, rc);
      return handle.view(offset, length, scratch);
    };
    for (let offset = 0; offset < size; offset += HASH_CHUNK) {
      const length = Math.min(HASH_CHUNK, size - offset);
      const view = await ready(offset, length);
      whole?.update(view);
      for (const [f, h] of partial) {
        const [o, n] = f.extents[0];
        const from = Math.max(o, offset);
        const to = Math.min(o + n, offset + length);
        if (from < to) h.update(view.subarray(from - offset, to - offset));
      }
      onProgress?.(offset + length, size);
    }
    const files = new Map<string, string>();
    for (const f of inline) files.set(f.name, partial.get(f)!.digest('hex'));
    for (const f of later) files.set(f.name, crypto.createHash('sha256').update(await this.extentBytes(handle, f)).digest('hex'));
    const dataHash = whole?.digest('hex');
    for (const f of this.files) if (isWhole(f)) files.set(f.name, dataHash!);
    const consistent = dataHash !== undefined ? dataHash === this.plan.dataHash
      : [...files].every(([name, found]) => this.file(name).sha256 === found);
    return { dataHash, files, consistent };
  }

  /**
   * Waits until `extents` of the shared decode are decoded, telling `onProgress` as they are
   * (the native write that follows is one call that cannot report). A failed decode is left to
   * that write to report.
   */
  private async decoded(extents: Array<[number, number]>, onProgress: NonNullable<ReadOptions['onProgress']>): Promise<void> {
    const total = extents.reduce((n, [, len]) => n + len, 0);
    const handle = this.payload();
    let done = 0;
    for (const [o, n] of extents) {
      for (let at = o; at < o + n; at += HASH_CHUNK) {
        const length = Math.min(HASH_CHUNK, o + n - at);
        if (await handle.waitReadyAsync(at, length) !== 0) return;
        done += length;
        onProgress(done, total);
      }
    }
  }

  /** A file's bytes from a payload handle: a zero-copy view for one extent, else a copy of its extents. */
  private async extentBytes(handle: PayloadHandle, file: Pick<ContainerFile, 'extents'>): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (const [o, n] of file.extents) {
      const rc = await handle.waitReadyAsync(o, n);
      if (rc !== 0) throw decodeError(this.path, handle, rc);
      parts.push(handle.view(o, n));
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, file.extents.reduce((n, [, len]) => n + len, 0));
  }

  /** The file called `name`; throws ERR_PIXELRTS_NOT_FOUND listing the names there are. */
  file(name: string): ContainerFile {
    const f = this.files.find((x) => x.name === name);
    if (!f) {
      throw new PixelrtsError('ERR_PIXELRTS_NOT_FOUND',
        `${this.path}: no file named "${name}"; the container holds ${this.files.map((x) => `"${x.name}"`).join(', ') || 'no files'}.`);
    }
    return f;
  }

  /**
   * The bytes of one file, checked against its sha256 when recorded (ERR_PIXELRTS_HASH names
   * the file otherwise). The Buffer is the caller's own copy: the container's one decode also
   * serves mounts, so handing out a writable view of it would let a caller change what a mount
   * serves. A read waits only for the bytes of its file when the pixels hold the payload
   * uncompressed and the curve is known.
   */
  async read(name: string): Promise<Buffer> {
    const file = this.file(name);
    if (file.size === 0) return Buffer.alloc(0);
    if (this.sharedDecode) {
      // Settle the curve first: reading on a guessed one would give the wrong bytes.
      if (!this.orientationKnown) await this.checked();
      const known = this.hashes ? await this.hashes : undefined;
      const bytes = await this.extentBytes(this.payload(), file);
      if (file.sha256) {
        const found = known?.files.get(file.name) ?? crypto.createHash('sha256').update(bytes).digest('hex');
        if (found !== file.sha256) throw fileHashError(this.path, file, found);
      }
      return file.extents.length === 1 ? Buffer.from(bytes) : bytes;
    }
    const payload = await this.decodeAll();
    const bytes = Buffer.concat(file.extents.map(([o, n]) => payload.subarray(o, o + n)));
    if (file.sha256) {
      const found = await sha256HexAsync(bytes);
      if (found !== file.sha256) throw fileHashError(this.path, file, found);
    }
    return bytes;
  }

  /**
   * Writes one file (or, without a name, the whole payload) to `target`: a few MiB at a time
   * whatever its size, checked on the way against its sha256 (data_hash for the payload), and
   * atomically: the file appears complete and right, or not at all (a mismatch is
   * ERR_PIXELRTS_HASH and writes nothing). Returns its size and sha256.
   */
  async extractTo(target: string, name?: string, options: ReadOptions = {}): Promise<{ size: number; sha256: string }> {
    const file = name === undefined ? undefined : this.file(name);
    if (!this.sharedDecode) {
      const bytes = file ? await this.read(file.name) : await this.readPayload();
      try {
        await writeFileAtomic(target, bytes);
      } catch (err) {
        throw new PixelrtsError('ERR_PIXELRTS_IO', `cannot write ${target}: ${(err as Error).message}.`, { cause: err });
      }
      return { size: bytes.length, sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
    }
    // Settle the curve first: extracting on a guessed one would write the wrong bytes.
    if (!this.orientationKnown) await this.checked(options.onProgress);
    const extents = file ? file.extents : [[0, this.payloadSize] as [number, number]];
    const expected = file ? file.sha256 : this.plan.dataHash;
    if (options.onProgress) await this.decoded(extents, options.onProgress);
    const r = await native().payloadToFile(this.payload(), target, extents, expected).catch((err: { code?: string }) => {
      throw err.code === 'ERR_PIXELRTS_DECODE' || err.code === 'ERR_PIXELRTS_CANCELLED'
        ? new PixelrtsError(err.code, `${this.path}: ${(err as Error).message}`, { cause: err }) : err;
    });
    if (!r.written) {
      throw file ? fileHashError(this.path, file, r.sha256) : hashError(this.path, expected!, r.sha256, 'payload (data_hash)');
    }
    return { size: r.size, sha256: r.sha256 };
  }

  /**
   * The whole payload P (for an Infinite Map: the whole pixel stream), checked against
   * data_hash. The Buffer is the caller's own copy (see read()).
   */
  async readPayload(): Promise<Buffer> {
    if (this.sharedDecode) {
      const { dataHash } = await this.checked();
      const expected = this.plan.dataHash;
      if (expected !== undefined && dataHash !== expected) throw hashError(this.path, expected, dataHash!, 'payload (data_hash)');
      return Buffer.from(await this.extentBytes(this.payload(), { extents: [[0, this.payloadSize]] }));
    }
    const payload = await this.decodeAll();
    if (this.plan.mode === 'code' && this.plan.dataHash !== undefined) {
      // Code-mode bytes were taken unchecked at open (so a damaged file still opens).
      const found = await sha256HexAsync(payload);
      if (found !== this.plan.dataHash) throw hashError(this.path, this.plan.dataHash, found, 'code-mode payload (data_hash)');
    }
    return payload;
  }

  /**
   * Checks data_hash and every file's sha256; never throws for a mismatch, reports it.
   * Throws only when the container cannot be decoded at all. The bytes checked are those of
   * the decode payload() serves (started here when no mount started it), hashed as they are
   * decoded.
   */
  async verify(options: ReadOptions = {}): Promise<VerifyReport> {
    const expected = this.plan.dataHash;
    let dataFound: string | undefined;
    let found: Map<string, string>;
    if (this.sharedDecode) {
      const hashes = await this.checked(options.onProgress);
      dataFound = hashes.dataHash;
      found = hashes.files;
    } else {
      let payload: Buffer;
      try {
        payload = await this.decodeAll();
      } catch (err) {
        if ((err as { code?: string }).code !== 'ERR_PIXELRTS_HASH' || expected === undefined) throw err;
        // Decode again without the check to say which files are damaged.
        const r = await decodeWithPlanAsync(await this.png(), { ...this.plan, dataHash: undefined },
          { transposed: this.orientationKnown ? this.transposed : undefined });
        payload = r.payload;
      }
      if (expected !== undefined) dataFound = await sha256HexAsync(payload);
      found = new Map();
      for (const f of this.files) {
        if (f.sha256) found.set(f.name, await sha256HexAsync(Buffer.concat(f.extents.map(([o, n]) => payload.subarray(o, o + n)))));
      }
    }
    const dataHash = expected !== undefined ? { expected, found: dataFound!, ok: dataFound === expected } : undefined;
    const files = this.files.map((f): FileCheck => {
      if (!f.sha256) return { name: f.name, status: 'unchecked' };
      const h = found.get(f.name)!;
      return { name: f.name, status: h === f.sha256 ? 'ok' : 'mismatch', expected: f.sha256, found: h };
    });
    const ok = (dataHash?.ok ?? true) && files.every((f) => f.status !== 'mismatch');
    return { path: this.path, ok, dataHash, files };
  }

  /**
   * How decoding this container uses memory and disk, as `pixelrts info` shows it: the decoded
   * cache (bands decoded on demand, a band's buffers per reading thread) or memory (the whole
   * payload, plus the whole PNG for files whose pixels are gathered in JS).
   */
  async footprint(): Promise<Footprint> {
    if (this.cacheEntry !== undefined) {
      const bandBytes = (this.grid * 4 + 1) * Math.min(32, this.grid);
      const st = await fs.stat(this.cacheEntry).catch(() => null);
      return { decode: 'decoded-cache', memoryBytes: 3 * bandBytes * 2,
        cache: { entry: this.cacheEntry, diskBytes: st ? st.blocks * 512 : 0, payloadSize: this.payloadSize } };
    }
    if (this.plan.mode === 'code') return { decode: 'metadata', memoryBytes: this.payloadSize };
    const png = this.sharedDecode && this.randomAccess ? 0 : (await fs.stat(this.path)).size;
    return { decode: 'memory', memoryBytes: this.payloadSize + (this.plan.compressed ? this.plan.storedSize : 0) + png };
  }

  /**
   * How another process decodes the payload as payload() does (the nbdkit plugin,
   * native/nbd/): the decoded cache entry it shares with this library, or the parameters of a
   * background decode in memory. Settles the curve first (a whole verify() for a file neither
   * pixelrts wrote nor told at open). Null when the payload is not stored in the pixels with a
   * known length (code mode, raw payloads, Infinite Maps): those are decoded in JS only.
   */
  async decodeSource(): Promise<DecodeSource | null> {
    if (!this.sharedDecode) return null;
    if (!this.orientationKnown) await this.checked();
    const transposed = this.transposed;
    let cacheEntry = this.cacheEntry;
    if (transposed && cacheEntry !== undefined) {
      this.transposedCacheEntry ??= await cacheEntryFor(this.path, this.payloadSize, nodePath.dirname(cacheEntry), { transposed: true });
      cacheEntry = this.transposedCacheEntry;
    }
    return { path: nodePath.resolve(this.path), payloadSize: this.payloadSize, storedSize: this.plan.storedSize,
      compressed: this.plan.compressed, transposed, ...(cacheEntry !== undefined ? { cacheEntry } : {}), verifiedReads: this.hashTree && cacheEntry !== undefined };
  }

  /**
   * The payload as a native PayloadHandle for a FUSE mount: file extents index into it. For a
   * payload stored in the pixels it is the container's one background decode, started on the
   * first call (read() and verify() use the same one); code-mode containers and payloads
   * already decoded are served from memory. A legacy transposed file is recognised only once
   * a hash has shown it (at open for a small segment, else after read() or verify()): check
   * `curveKnown` (or await verify()) before mounting a file pixelrts did not write.
   */
  payload(): PayloadHandle {
    if (this.cachedBytes) return this.cachedHandle ??= native().payloadFromBuffer(this.cachedBytes);
    if (!this.sharedDecode) return this.startDecode(this.transposed);
    // An unmount cancels the decode it served (waking its readers); the next user starts anew.
    if (this.shared && this.shared.waitReady(0, 0) === EINTR) this.shared = undefined;
    return this.shared ??= this.startDecode(this.transposed);
  }
}

/** What Container.decodeSource() reports: enough for another process to decode the payload the same way. */
export interface DecodeSource {
  /** The container's absolute path. */
  path: string;
  payloadSize: number;
  /** Bytes of pixel stream holding the stored payload. */
  storedSize: number;
  /** The stored payload is zlib or zstd. */
  compressed: boolean;
  /** The legacy transposed curve. */
  transposed: boolean;
  /** The decoded cache entry's data file, when the payload is decoded there (band by band, on demand). */
  cacheEntry?: string;
  /** Every block is checked against the file's hash tree as it is decoded. */
  verifiedReads: boolean;
}

/** What Container.footprint() reports. */
export interface Footprint {
  /** Where the payload is decoded: on demand into the decoded cache, into memory, or taken from the metadata (code mode). */
  decode: 'decoded-cache' | 'memory' | 'metadata';
  /** About how much memory decoding takes at most. */
  memoryBytes: number;
  /** The decoded cache entry: its data file and how much of the payload is decoded there so far (space on disk). */
  cache?: { entry: string; diskBytes: number; payloadSize: number };
}

/** What checked() found about the shared decode's payload. */
interface PayloadHashes {
  /** sha256 of the whole payload (when data_hash is recorded). */
  dataHash?: string;
  /** sha256 of each file that records one, by name. */
  files: Map<string, string>;
  /** The payload matches data_hash, or (without one) every file matches its sha256. */
  consistent: boolean;
}

/** Bytes hashed per step while the decode runs: small enough to start early, large enough to cost few waits. */
const HASH_CHUNK = 2 * 1024 * 1024;

/** ERR_PIXELRTS_DECODE (or _CANCELLED) for a background decode that did not deliver. */
function decodeError(path: string, handle: PayloadHandle, rc: number): PixelrtsError {
  const why = handle.failure;
  if (rc === EINTR) {
    return new PixelrtsError('ERR_PIXELRTS_CANCELLED', `${path}: the decode was cancelled.`);
  }
  return new PixelrtsError('ERR_PIXELRTS_DECODE', why.startsWith(path) ? why : `${path}: ${why || 'the decode failed'}`);
}

function ioError(path: string, err: NodeJS.ErrnoException): PixelrtsError {
  return new PixelrtsError(err.code === 'ENOENT' ? 'ERR_PIXELRTS_NOT_FOUND' : 'ERR_PIXELRTS_IO',
    `${path}: cannot read the container (${err.code === 'ENOENT' ? 'no such file' : err.message}).`, { cause: err });
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A chunk with no data: length, type, CRC of the type. */
function emptyChunk(type: string): Buffer {
  const b = Buffer.alloc(12);
  b.write(type, 4, 'latin1');
  b.writeUInt32BE(zlib.crc32(b.subarray(4, 8)), 8);
  return b;
}

/**
 * The PNG's header and text chunks, reading only the chunks before the first IDAT (in pieces,
 * never the pixels). The native reader checks them (signature, every CRC read, IHDR, texts):
 * it is given those chunks followed by an empty IDAT and IEND. The pixels' own chunks are
 * checked by the decode that reads them (startPayload checks every CRC before decoding).
 * `hasBandIndex` is true when the band index chunk is there (only pixelrts writes it).
 */
async function readHeadInfo(path: string): Promise<PngInfo> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(path, 'r');
  } catch (err) {
    throw ioError(path, err as NodeJS.ErrnoException);
  }
  try {
    const fileSize = (await fh.stat()).size;
    const readAt = async (position: number, length: number): Promise<Buffer> => {
      const b = Buffer.alloc(Math.max(0, Math.min(length, fileSize - position)));
      const { bytesRead } = await fh.read(b, 0, b.length, position);
      return b.subarray(0, bytesRead);
    };
    // The chunks before the first IDAT, read one by one; the hash tree's is skipped (it can be
    // large: the decoder reads the hashes of the bands it decodes, where it needs them).
    const parts: Buffer[] = [await readAt(0, 8)];
    let bandIndex = false;
    let hashTree = false;
    let idat = false;
    let pos = 8;
    while (parts[0].equals(PNG_SIGNATURE)) {
      const header = await readAt(pos, 8);
      if (header.length < 8) { parts.push(header); break; }  // cut off: the native reader says where
      const length = header.readUInt32BE(0);
      const type = header.toString('latin1', 4, 8);
      if (type === 'IDAT') { idat = true; break; }
      if (length > 0x7fffffff) { parts.push(header); break; }
      if (type === 'pxHT') {
        hashTree = true;
        pos += 12 + length;
        continue;
      }
      if (type === 'pxBI') bandIndex = true;
      const body = await readAt(pos + 8, length + 4);
      parts.push(header, body);
      if (body.length < length + 4 || type === 'IEND') break;
      pos += 12 + length;
    }
    if (idat) parts.push(emptyChunk('IDAT'), emptyChunk('IEND'));
    const info = { ...readInfo(Buffer.concat(parts), path), hasBandIndex: bandIndex, hasHashTree: hashTree };
    // The pixels are not read here, but a file cut short (an interrupted copy or download) is
    // worth saying at once: a whole PNG ends with its IEND chunk.
    const tail = await readAt(Math.max(0, fileSize - 12), 12);
    return tail.equals(emptyChunk('IEND')) ? info : { ...info, truncatedAt: fileSize };
  } catch (err) {
    if (err instanceof PixelrtsError) throw err;
    throw ioError(path, err as NodeJS.ErrnoException);
  } finally {
    await fh.close();
  }
}

function nonEmpty(v: unknown): boolean {
  return typeof v === 'object' && v !== null && Object.keys(v).length > 0;
}

function fileHashError(path: string, file: ContainerFile, found: string): PixelrtsError {
  return new PixelrtsError('ERR_PIXELRTS_HASH',
    `${path}: file "${file.name}" sha256 does not match: expected ${file.sha256}, found ${found}. ` +
    'The container is corrupt or was modified after it was written; re-create it from its sources.');
}

/**
 * Opens a PixelRTS v2 container (or an Infinite Map v2) and reads its file table. Nothing is
 * decoded yet except what is needed to list the files.
 *
 * @example
 *   const c = await open('boot.rts.png');
 *   for (const f of c.files) console.log(f.name, f.type, f.size);
 *   const kernel = await c.read(kernelFile(c)!.name);
 */
export async function open(path: string, options: OpenOptions = {}): Promise<Container> {
  return Container.create(path, options);
}

function pick(c: Container, kind: 'kernel' | 'initrd'): ContainerFile | undefined {
  return c.files.find((f) => f.type === kind) ?? c.files.find((f) => classifyName(f.name) === kind);
}

/** The container's kernel: the file whose segment type is 'kernel', else whose name is a kernel name. */
export function kernelFile(c: Container): ContainerFile | undefined {
  return pick(c, 'kernel');
}

/** The container's initrd: the file whose segment type is 'initrd', else whose name is an initrd name. */
export function initrdFile(c: Container): ContainerFile | undefined {
  return pick(c, 'initrd');
}
