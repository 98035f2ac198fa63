/**
 * A PixelRTS container opened from disk: its metadata, its file table (one file, the segment
 * table of a boot bundle, or the files of an Infinite Map), random-access reads of single
 * files, verification of every hash, and the payload handle a FUSE mount serves from.
 */
import fs from 'node:fs/promises';
import './codec-binding';
import type { PngInfo } from './codec-binding';
import {
  decodeWithPlanAsync, DecodePlan, DecodeResult, gridOf, hashError, looksCompressed, planDecode, PixelrtsWarning, readInfo,
} from './codec';
import { PixelrtsError } from './errors';
import { InfiniteMap, isInfiniteMap, parseInfiniteMap } from './infinite-map';
import {
  classifyName, containerStem, findMetadata, metadataError, PixelRTSMetadata, readSidecar, sha256HexAsync,
  sidecarDifferences, SegmentInfo,
} from './metadata';
import { native, PayloadHandle } from './native';

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

export interface OpenOptions {
  /** Receives each warning as it is found (they are also collected in `container.warnings`). */
  onWarning?: (warning: PixelrtsWarning) => void;
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
  /** The whole payload, once decoding it has started (code mode, Infinite Maps, compressed payloads). */
  private cached?: Promise<Buffer>;
  /** The same bytes once they are there, for payload(). */
  private cachedBytes?: Buffer;
  /** Which curve the pixels use, once a hash has confirmed it. */
  private transposed = false;
  private orientationKnown = false;

  private constructor(
    /** The PNG's path as given to open(). */
    readonly path: string,
    /** The metadata in use (embedded; the sidecar's only when the PNG has none). */
    readonly metadata: PixelRTSMetadata | null,
    readonly kind: ContainerKind,
    private readonly png: Buffer,
    private readonly onWarning: ((w: PixelrtsWarning) => void) | undefined,
    info: PngInfo,
  ) {
    this.grid = gridOf(info, path);
  }

  /** @internal Use open(). */
  static async create(path: string, options: OpenOptions): Promise<Container> {
    let png: Buffer;
    try {
      png = await fs.readFile(path);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new PixelrtsError(e.code === 'ENOENT' ? 'ERR_PIXELRTS_NOT_FOUND' : 'ERR_PIXELRTS_IO',
        `${path}: cannot read the container (${e.code === 'ENOENT' ? 'no such file' : e.message}).`, { cause: err });
    }
    const info = readInfo(png, path);
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
    const kind: ContainerKind = isInfiniteMap(info.texts, metadata?.type) ? 'infinite-map' : 'pixelrts';
    const c = new Container(path, metadata, kind, png, options.onWarning, info);
    for (const w of pending) c.warn(w);
    if (kind === 'infinite-map') await c.initInfiniteMap(info);
    else await c.initPixelrts(info);
    return c;
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
    const stream = await native().gatherStreamAsync(this.png, { offset: 0, length: capacity });
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
      // The bytes are in the metadata: take them now. Their hash is checked by read() and
      // verify(), so a damaged file still opens and can be inspected.
      const result = await decodeWithPlanAsync(this.png, { ...plan, dataHash: undefined }, { onWarning: (w) => this.warn(w) });
      this.keep(result.payload);
      this.payloadSize = result.payload.length;
      this.orientationKnown = true;
    } else {
      this.payloadSize = plan.mode === 'raw' ? plan.capacity : plan.payloadSize!;
    }
    if (plan.mode === 'dense' && plan.compressed && plan.storedSize === plan.payloadSize) {
      // The original's level-"none" bug (vector negative/n1): flagged compressed, stored raw.
      // Four bytes of pixels tell, so the background decode and random access can skip inflate.
      const head = native().gatherStream(this.png, { offset: 0, length: Math.min(4, plan.storedSize) });
      if (!looksCompressed(head)) {
        this.plan = { ...plan, compressed: false };
        this.warn({ code: 'WARN_PIXELRTS_STORED_RAW',
          message: `${this.path}: flagged compressed but the stream is not compressed and its length equals original_size; read it as stored (a known bug of the original encoder at level "none").` });
      }
    }
    this.files = this.segmentTable();
    await this.probeOrientation();
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
    const read = (transposed: boolean) =>
      native().gatherStreamAsync(this.png, { offset: file.offset, length: file.size, transposed });
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

  /** Decodes the whole payload (hash-checked against data_hash when recorded); cached when needed. */
  private async decodeAll(): Promise<Buffer> {
    if (this.cached) return this.cached;
    const run = async (): Promise<Buffer> => {
      const r: DecodeResult = await decodeWithPlanAsync(this.png, this.plan, {
        transposed: this.orientationKnown ? this.transposed : undefined,
        // The orientation warning is the container's own (it also covers segment reads).
        onWarning: (w) => { if (w.code !== 'WARN_PIXELRTS_TRANSPOSED') this.warn(w); },
      });
      if (this.plan.dataHash !== undefined && !this.orientationKnown) this.setOrientation(r.transposed);
      return r.payload;
    };
    if (this.randomAccess) return run();
    // Without random access every file read needs the whole payload: keep it.
    this.cached = run().then((bytes) => { this.cachedBytes = bytes; return bytes; });
    this.cached.catch(() => { this.cached = undefined; });
    return this.cached;
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
   * the file otherwise). When the pixels hold the payload uncompressed only that file's pixels
   * are decoded.
   */
  async read(name: string): Promise<Buffer> {
    const file = this.file(name);
    if (file.size === 0) return Buffer.alloc(0);
    if (this.randomAccess) return this.gatherChecked(file);
    const payload = await this.decodeAll();
    const bytes = Buffer.concat(file.extents.map(([o, n]) => payload.subarray(o, o + n)));
    if (file.sha256) {
      const found = await sha256HexAsync(bytes);
      if (found !== file.sha256) throw fileHashError(this.path, file, found);
    }
    return bytes;
  }

  /** The whole payload P (for an Infinite Map: the whole pixel stream), checked against data_hash. */
  async readPayload(): Promise<Buffer> {
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
   * Throws only when the container cannot be decoded at all.
   */
  async verify(): Promise<VerifyReport> {
    let payload: Buffer;
    const expected = this.plan.dataHash;
    try {
      payload = await this.decodeAll();
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_PIXELRTS_HASH' || expected === undefined) throw err;
      // Decode again without the check to say which files are damaged.
      const r = await decodeWithPlanAsync(this.png, { ...this.plan, dataHash: undefined },
        { transposed: this.orientationKnown ? this.transposed : undefined });
      payload = r.payload;
    }
    let dataHash: VerifyReport['dataHash'];
    if (expected !== undefined) {
      const found = await sha256HexAsync(payload);
      dataHash = { expected, found, ok: found === expected };
    }
    const files = await Promise.all(this.files.map(async (f): Promise<FileCheck> => {
      if (!f.sha256) return { name: f.name, status: 'unchecked' };
      const found = await sha256HexAsync(Buffer.concat(f.extents.map(([o, n]) => payload.subarray(o, o + n))));
      return { name: f.name, status: found === f.sha256 ? 'ok' : 'mismatch', expected: f.sha256, found };
    }));
    const ok = (dataHash?.ok ?? true) && files.every((f) => f.status !== 'mismatch');
    return { path: this.path, ok, dataHash, files };
  }

  /**
   * The payload as a native PayloadHandle for a FUSE mount, with the decode running in the
   * background: file extents index into it. Code-mode containers and payloads already decoded
   * are served from memory. A legacy transposed file is recognised only once a hash has shown
   * it (at open for a small segment, else after read() or verify()).
   */
  payload(): PayloadHandle {
    if (this.cachedBytes) return native().payloadFromBuffer(this.cachedBytes);
    return native().startPayload(this.path, {
      storedSize: this.plan.storedSize,
      compression: this.plan.compressed ? 'auto' : 'none',
      payloadSize: this.payloadSize,
      transposed: this.transposed,
    });
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
