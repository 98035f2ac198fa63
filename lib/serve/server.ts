/**
 * `pixelrts serve`: a container's files over HTTP, for machines that have nothing, and for
 * `boot`/`mount` from a URL elsewhere. The container is mounted read-only (FUSE) in a private
 * runtime directory and its files are served from the mount, so every byte sent went through
 * the same bounded, verified reads as a local boot (a block that fails its hash is an I/O
 * error, never sent). Routes:
 *   GET|HEAD /files/NAME     a file, with byte ranges (206, 416), ETag = its sha256
 *   GET      /boot.ipxe      an iPXE script: the kernel, the initrd and the command line
 *   GET      /metadata.json  the container's metadata
 * With `nbd`, its files are also NBD exports (nbd.ts: nbdkit with the pixelrts plugin), on the
 * same address. It listens where the user says (default 127.0.0.1); nothing is written.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { PixelrtsError } from '../errors';
import { open, type Container } from '../codec/container';
import { mount, type Mount } from '../fuse/mount';
import { createRuntimeDir, idBase, removeRuntimeDir, runtimeRoot, type CleanupWatcher } from '../boot/runtime-dir';
import { startNbd, type NbdOptions, type NbdServer } from './nbd';

export interface ServeOptions {
  /** Address to listen on (default 127.0.0.1; `0.0.0.0` for every interface). */
  host?: string;
  /** Port (default 0: a free one). */
  port?: number;
  /** Also serve the files over NBD (nbdkit), on the same address: true, or its options. */
  nbd?: boolean | NbdOptions;
}

export interface ServeEvents {
  /** One request answered: method, path, status, bytes sent. */
  request: [info: { method: string; path: string; status: number; bytes: number; range?: string }];
  /** A read failed (a block that does not match its hash): the response was cut short. */
  warning: [err: PixelrtsError];
}

/** One byte range of a file of `size` bytes from a Range header; null when it asks for none. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;  // several ranges or another unit: the whole file
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** The iPXE script that boots the container's kernel and initrd with its command line. */
export function ipxeScript(container: Container): string | null {
  const kernel = container.files.find((f) => f.type === 'kernel') ?? container.files.find((f) => /^(kernel|vmlinuz|bzImage)$/.test(f.name));
  if (!kernel) return null;
  const initrd = container.files.find((f) => f.type === 'initrd') ?? container.files.find((f) => /^(initrd|initramfs)/.test(f.name));
  const cmdline = typeof container.metadata?.cmdline === 'string' ? container.metadata.cmdline : '';
  // Relative URIs: iPXE resolves them against this script's own, whatever address reached it.
  return ['#!ipxe', `echo pixelrts: booting ${kernel.name}${initrd ? ` and ${initrd.name}` : ''}`,
    `kernel files/${encodeURIComponent(kernel.name)}${initrd ? ` initrd=${encodeURIComponent(initrd.name)}` : ''}${cmdline ? ` ${cmdline}` : ''}`,
    ...(initrd ? [`initrd files/${encodeURIComponent(initrd.name)}`] : []), 'boot', ''].join('\n');
}

export class ContainerServer extends EventEmitter {
  /** The address it listens on, e.g. http://127.0.0.1:8080/. */
  readonly url: string;
  readonly #http: http.Server;
  readonly #mount: Mount;
  readonly #dir: string;
  readonly #watcher: CleanupWatcher;
  readonly #container: Container;
  /** The NBD exports, when asked for (ServeOptions.nbd). */
  readonly nbd: NbdServer | undefined;

  /** @internal Use serveContainer(). */
  constructor(server: http.Server, mounted: Mount, dir: string, watcher: CleanupWatcher, container: Container, nbd?: NbdServer) {
    super();
    this.nbd = nbd;
    nbd?.on('warning', (err) => this.emit('warning', err));
    this.#http = server;
    this.#mount = mounted;
    this.#dir = dir;
    this.#watcher = watcher;
    this.#container = container;
    const { address, port } = server.address() as AddressInfo;
    this.url = `http://${address.includes(':') ? `[${address}]` : address}:${port}/`;
    server.on('request', (req, res) => this.#answer(req, res));
  }

  /** The files served, under /files/NAME. */
  get files(): Array<{ name: string; size: number; type: string }> {
    return this.#container.files.map((f) => ({ name: f.name, size: f.size, type: String(f.type ?? 'data') }));
  }

  /** Stops listening (and nbdkit), unmounts and removes the runtime directory. */
  async close(): Promise<void> {
    await this.nbd?.close();
    await new Promise<void>((resolve) => {
      this.#http.close(() => resolve());
      this.#http.closeAllConnections();
    });
    await this.#mount.unmount();
    removeRuntimeDir(this.#dir);
    this.#watcher.release();
  }

  #answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const done = (status: number, bytes: number, range?: string): void => {
      this.emit('request', { method: req.method ?? '', path: url.pathname, status, bytes, ...(range ? { range } : {}) });
    };
    const text = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
      done(status, Buffer.byteLength(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'only GET and HEAD\n');
    if (url.pathname === '/boot.ipxe') {
      const script = ipxeScript(this.#container);
      return script ? text(200, script) : text(404, 'this container has no kernel to boot\n');
    }
    if (url.pathname === '/metadata.json') return text(200, `${JSON.stringify(this.#container.metadata ?? {}, null, 2)}\n`, 'application/json');
    const name = url.pathname.startsWith('/files/') ? decodeURIComponent(url.pathname.slice('/files/'.length)) : undefined;
    const file = name === undefined ? undefined : this.#container.files.find((f) => f.name === name);
    if (!file) return text(404, `no such file: ${url.pathname} (the files: ${this.#container.files.map((f) => `/files/${f.name}`).join(', ')})\n`);
    const range = parseRange(req.headers.range, file.size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'content-range': `bytes */${file.size}` });
      res.end();
      return done(416, 0, req.headers.range);
    }
    const { start, end } = range ?? { start: 0, end: file.size - 1 };
    const length = file.size === 0 ? 0 : end - start + 1;
    res.writeHead(range ? 206 : 200, {
      'content-type': 'application/octet-stream',
      'content-length': length,
      'accept-ranges': 'bytes',
      ...(file.sha256 ? { etag: `"${file.sha256}"` } : {}),
      ...(range ? { 'content-range': `bytes ${start}-${end}/${file.size}` } : {}),
    });
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return done(range ? 206 : 200, 0, req.headers.range);
    }
    // Read from the mount: verified per block, a few pages at a time, whatever the file's size.
    const stream = fs.createReadStream(path.join(this.#mount.mountpoint, file.name), { start, end, highWaterMark: 1 << 20 });
    stream.on('error', (err) => {
      this.emit('warning', new PixelrtsError('ERR_PIXELRTS_FUSE_READ', `serving ${file.name} bytes ${start}-${end}: ${err.message}; the response was cut short`));
      res.destroy();
    });
    stream.on('end', () => done(range ? 206 : 200, length, req.headers.range));
    stream.pipe(res);
  }
}

/** Serves the container at `file` (see the module comment); resolves once it listens. */
export async function serveContainer(file: string, options: ServeOptions = {}): Promise<ContainerServer> {
  const image = path.resolve(file);
  if (!fs.existsSync(image)) throw new PixelrtsError('ERR_PIXELRTS_NOT_FOUND', `${image}: no such file. Check the path of the container to serve.`);
  const container = await open(image);
  const { dir, watcher } = await createRuntimeDir(runtimeRoot(), idBase(image));
  let mounted: Mount | undefined;
  let nbd: NbdServer | undefined;
  try {
    const mountpoint = path.join(dir, 'mnt');
    fs.mkdirSync(mountpoint, { mode: 0o700 });
    mounted = await mount(container, mountpoint);
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new PixelrtsError('ERR_PIXELRTS_SERVE',
        `cannot listen on ${options.host ?? '127.0.0.1'}:${options.port ?? 0}: ${err.code ?? err.message}; choose another address or port (--port 0 picks a free one).`)));
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    if (options.nbd) {
      try {
        nbd = await startNbd(container, dir, options.host ?? '127.0.0.1', options.nbd === true ? {} : options.nbd);
      } catch (err) {
        server.close();
        throw err;
      }
    }
    return new ContainerServer(server, mounted, dir, watcher, container, nbd);
  } catch (err) {
    await mounted?.unmount().catch(() => undefined);
    removeRuntimeDir(dir);
    watcher.release();
    throw err;
  }
}

// Typed on/once/off/emit.
export interface ContainerServer {
  on<E extends keyof ServeEvents>(event: E, listener: (...args: ServeEvents[E]) => void): this;
  once<E extends keyof ServeEvents>(event: E, listener: (...args: ServeEvents[E]) => void): this;
  off<E extends keyof ServeEvents>(event: E, listener: (...args: ServeEvents[E]) => void): this;
  emit<E extends keyof ServeEvents>(event: E, ...args: ServeEvents[E]): boolean;
}
