/**
 * The codec's native binding (native/codec/): the typed signatures it adds to `NativeAddon`.
 * The TypeScript layer above it (container.ts, codec.ts) interprets metadata and chooses what to
 * ask for; the native layer does every byte-level job: PNG parsing and writing, the Hilbert
 * gather and scatter, inflate and deflate, and background decoding into a PayloadHandle.
 */

/** One text chunk of a PNG (tEXt, zTXt or iTXt), decompressed and decoded to a string. */
export interface PngText {
  chunk: 'tEXt' | 'zTXt' | 'iTXt';
  keyword: string;
  text: string;
}

/** openDecodedCache's options. */
export interface DecodedCacheOptions {
  cachePath: string;
  payloadSize: number;
  transposed?: boolean;
  /** Decode ahead of a sequential reader (default true; off for files fetched as they are read). */
  readahead?: boolean;
}

/** What `readPngInfo` finds without inflating the image data. */
export interface PngInfo {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlace: number;
  /** Text chunks in file order. */
  texts: PngText[];
  /** True when the file carries pixelrts' private band index (full flushes), so decode can use threads. */
  hasBandIndex: boolean;
  /** True when the file carries pixelrts' hash tree (pxHT), so every block can be checked as it is decoded. */
  hasHashTree: boolean;
  /** The file's size when it does not end with IEND (cut short); absent for a whole file. */
  truncatedAt?: number;
}

export interface GatherOptions {
  /** First byte of the pixel byte stream to return (default 0). */
  offset?: number;
  /** How many bytes to return; must lie within width·height·4. */
  length: number;
  /** Use the legacy transposed curve (spec §2). */
  transposed?: boolean;
  /** 0 = choose (both cores when the band index is present), 1 = single-threaded, 2 = two threads. */
  threads?: number;
  /** For tests and benchmarks: fail with ERR_PIXELRTS_BAND_INDEX unless the band index was used. */
  requireBandIndex?: boolean;
  /** Write into this Buffer (exactly `length` bytes) and return it, instead of a new one (async: do not touch it until the promise settles). */
  into?: Buffer;
}

export interface GatherPixelsOptions {
  /** Side of the square image `pixels` holds (a power of two). */
  grid: number;
  /** First byte of the pixel byte stream to return (default 0). */
  offset?: number;
  /** How many bytes to return; must lie within grid·grid·4. */
  length: number;
  /** Use the legacy transposed curve (spec §2). */
  transposed?: boolean;
  /** Write into this Buffer (exactly `length` bytes) and return it, instead of a new one. */
  into?: Buffer;
}

/** What `payloadProgress` reports about a background decode. */
export interface PayloadProgress {
  /** Bands (rows of 32×32 tiles) gathered so far. */
  bandsDone: number;
  bands: number;
  /** The whole payload is ready (decompressed too, when compressed). */
  finished: boolean;
  /** Bands this handle decoded itself (a decoded cache finds the others already there). */
  bandsDecoded: number;
}

export interface EncodeOptions {
  /** Grid side; default: the smallest power of two with G²·4 ≥ stream length, at least 4 (1 when empty). */
  grid?: number;
  /** libdeflate level 0–12 (default 6); stored blocks when the data does not compress. */
  level?: number;
  /** Text chunks to write before IDAT, in order (keyword "PixelRTS" for the metadata). */
  texts: Array<{ keyword: string; text: string }>;
  /** Write full flushes at band boundaries and their index chunk (default true). */
  bandIndex?: boolean;
  /** With the band index, write the hash tree chunk pxHT (default true). */
  hashTree?: boolean;
  /** 0 = choose (both cores with the band index), 1 or 2 threads. */
  threads?: number;
}

/** A piece of the stream writePngFile packs: bytes in memory, or a file as it was hashed. */
export type StreamPiece = Buffer | { path: string; size: number; mtimeNs: bigint };

export interface StartPayloadOptions {
  /** Bytes of pixel stream that hold the stored stream S (encoded_size, or data_size when uncompressed). */
  storedSize: number;
  /** 'none': S is the payload; 'auto': zstd when S has zstd's magic, else zlib. */
  compression: 'none' | 'auto';
  /** Size of the payload P after decompression (data_size); checked. */
  payloadSize: number;
  transposed?: boolean;
}

declare module '../native' {
  interface NativeAddon {
    /** Checks signature, every chunk's CRC and IHDR; returns the header and text chunks. Throws ERR_PIXELRTS_PNG_*. */
    readPngInfo(png: Buffer): PngInfo;
    /** Bytes [offset, offset+length) of the pixel stream along the Hilbert curve; with a band index only the bands holding the range are inflated, else the image data is inflated whole and unfiltered only down to the last band needed. */
    gatherStream(png: Buffer, options: GatherOptions): Buffer;
    /** Same as gatherStream, off the main thread. */
    gatherStreamAsync(png: Buffer, options: GatherOptions): Promise<Buffer>;
    /** zstd when `stream` starts with zstd's magic, else zlib (RFC 1950); throws when the output would exceed maxOutput. */
    decompress(stream: Buffer, maxOutput: number): { data: Buffer; format: 'zlib' | 'zstd' };
    /** zlib stream (RFC 1950) of `data` at libdeflate `level`. */
    compressZlib(data: Buffer, level: number): Buffer;
    /** A complete PNG holding `stream` along the Hilbert curve. */
    encodePng(stream: Buffer, options: EncodeOptions): Buffer;
    /** Same as encodePng, off the main thread. */
    encodePngAsync(stream: Buffer, options: EncodeOptions): Promise<Buffer>;
    /**
     * Encodes the pieces, end to end, as a PNG written band by band into an unnamed file beside
     * `path` that replaces it once complete and on disk; memory holds a few bands, whatever the
     * size. The same bytes as encodePng. A file piece whose size or mtime differs from the one
     * given fails with ERR_PIXELRTS_INPUT_CHANGED; a full disk with ERR_PIXELRTS_NO_SPACE.
     */
    writePngFile(path: string, pieces: StreamPiece[], options: EncodeOptions,
      onProgress?: (done: number, total: number) => void): Promise<{ size: number }>;
    /**
     * A payload stored uncompressed, decoded into the cache file `cachePath` (and
     * `cachePath.bands`) and served from it: band by band on demand for files with a band
     * index, front to back for the others; every tile checked against the hash tree when the
     * file has one.
     */
    openDecodedCache(path: string, options: DecodedCacheOptions): PayloadHandle;
    /** openDecodedCache on the thread pool: opening reads the file's head and band hashes, which may wait on a network. */
    openDecodedCacheAsync(path: string, options: DecodedCacheOptions): Promise<PayloadHandle>;
    /** Maps the PNG file at `path` and decodes its payload in a background thread; returns at once. */
    startPayload(path: string, options: StartPayloadOptions): PayloadHandle;
    /** Waits until [offset, offset+length) of the payload is ready, then returns a copy (blocks: for tests and tools). Throws ERR_PIXELRTS_DECODE after a failed decode, ERR_PIXELRTS_CANCELLED after a cancel. */
    payloadRead(handle: PayloadHandle, offset: number, length: number): Buffer;
    /**
     * Writes the payload's `extents` to `path`, a few MiB at a time, atomically, hashing them on
     * the way; with `expectedSha256`, a mismatch writes nothing (written: false).
     */
    payloadToFile(handle: PayloadHandle, path: string, extents: Array<[number, number]>, expectedSha256?: string):
      Promise<{ size: number; sha256: string; written: boolean }>;
    /** Stops a background decode; waiting and later reads fail with EINTR / ERR_PIXELRTS_CANCELLED. */
    payloadCancel(handle: PayloadHandle): void;
    /** Progress of a startPayload() decode (for tests and tools); throws for other handles. */
    payloadProgress(handle: PayloadHandle): PayloadProgress;
    /** Bytes [offset, offset+length) of the stream along the curve from plain RGBA pixels (grid·grid·4 bytes, rows top to bottom). */
    gatherPixels(pixels: Buffer, options: GatherPixelsOptions): Buffer;
    /** Spec §2 d2xy: curve index d → [x, y] on an n×n grid (the reference definition, for tests). */
    hilbertD2xy(n: number, d: number): [number, number];
    /** The tiling, for tests: band `band`'s tiles ([curve tile, orientation] left to right) and the bands holding stream bytes [begin, end); `table: false` walks the curve for the tiles even on small grids. */
    hilbertBands(grid: number, options?: { band?: number; begin?: number; end?: number; transposed?: boolean; table?: boolean }):
      { tiles: Array<[number, number]>; bands: number[] };
  }
}
