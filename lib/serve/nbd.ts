/**
 * A container's files over NBD: nbdkit (Debian's, found on PATH) with the pixelrts plugin
 * (native/nbd/, built beside the addon as build/Release/nbdkit-pixelrts-plugin.so). Each file
 * is an export of its own name (`nbd://HOST:PORT/disk`); the client that names none gets the
 * first disk. The plugin opens the container itself and decodes it as this library does: a
 * large payload band by band into the same decoded cache entry (so bands either process
 * decoded serve the other), every block checked against the hash tree; a small one in memory,
 * each file checked against its sha256 before it is served. Read-only; `cow` puts nbdkit's
 * copy-on-write filter in front, so clients can write to an overlay that lives as long as the
 * server (shared by its clients, in a deleted temporary file in the runtime directory) and never
 * touches the container. nbdkit goes when this process goes, even after a SIGKILL and with
 * clients connected: the plugin watches this process (parent=PID, native/nbd/parent_watch.h)
 * and ends nbdkit at once. (nbdkit's own --exit-with-parent sends a SIGTERM, after which nbdkit
 * 1.32 waits for its clients to leave.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PixelrtsError } from '../errors';
import type { Container } from '../codec/container';
import { onPath } from '../vm/qemu';

export interface NbdOptions {
  /** TCP port (default 0: a free one). */
  port?: number;
  /** Put nbdkit's cow filter in front: clients may write, to an overlay that is dropped when the server stops. */
  cow?: boolean;
}

/** One export: a file of the container. */
export interface NbdExport {
  name: string;
  size: number;
  type: string;
  /** nbd://HOST:PORT/NAME */
  uri: string;
}

export interface NbdEvents {
  /** nbdkit reported an error (a block that failed its check: the client got EIO), or exited on its own. */
  warning: [err: PixelrtsError];
}

/** How long nbdkit may take to listen. */
const START_TIMEOUT_MS = 15_000;
/**
 * How long nbdkit may take to exit after SIGTERM before it is killed: it waits for connected
 * clients to disconnect, which a server that is stopping need not. Nothing it holds needs a
 * clean exit (read-only; the cow overlay is a deleted file; the decoded cache survives SIGKILL).
 */
const STOP_TIMEOUT_MS = 1_000;
/** Free ports picked here may be taken by someone else before nbdkit binds them: tries. */
const PORT_TRIES = 3;

/** The plugin: PIXELRTS_NBDKIT_PLUGIN, else the one built beside the addon. */
export function nbdkitPluginPath(): string {
  return process.env.PIXELRTS_NBDKIT_PLUGIN ?? path.join(__dirname, '..', '..', 'build', 'Release', 'nbdkit-pixelrts-plugin.so');
}

/** NBD URI host part: IPv6 addresses in brackets. */
function uriHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** The export table the plugin reads (native/nbd/export_table.h has the format). */
export function exportTable(container: Container): { text: string; skipped: string[] } {
  const lines = ['pixelrts-nbd-exports 1'];
  const skipped: string[] = [];
  for (const f of container.files) {
    // NBD names: 1 to 4096 bytes, and the table is one line per export.
    if (f.name === '' || /[\0\n\r]/.test(f.name) || Buffer.byteLength(f.name) > 4096) {
      skipped.push(f.name);
      continue;
    }
    const extents = f.extents.filter(([, n]) => n > 0).map(([o, n]) => `${o}:${n}`).join(',') || '-';
    lines.push(`${(f.type || 'data').replace(/\s/g, '-')} ${f.sha256 ?? '-'} ${extents} ${f.name}`);
  }
  return { text: `${lines.join('\n')}\n`, skipped };
}

/** A free TCP port on `host` right now. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** nbdkit serving a container's files; made by startNbd(). */
export class NbdServer extends EventEmitter {
  readonly exports: NbdExport[];
  #child: ChildProcess;
  #exited: Promise<void>;
  #closing = false;

  /** @internal Use startNbd(). */
  constructor(readonly host: string, readonly port: number, child: ChildProcess, exited: Promise<void>, exports: NbdExport[]) {
    super();
    this.#child = child;
    this.#exited = exited;
    this.exports = exports;
    let pending = '';
    child.stderr?.on('data', (d: string) => {
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (/error:/.test(line)) this.emit('warning', new PixelrtsError('ERR_PIXELRTS_NBD', line.replace(/^nbdkit: /, 'nbdkit: ')));
      }
    });
    void exited.then(() => {
      if (!this.#closing) {
        this.emit('warning', new PixelrtsError('ERR_PIXELRTS_NBD',
          `nbdkit (pid ${child.pid}) exited on its own (${child.signalCode ?? `code ${child.exitCode}`}); the NBD exports are gone. Start pixelrts serve again.`));
      }
    });
  }

  /** nbdkit's process id. */
  get pid(): number {
    return this.#child.pid!;
  }

  /** Stops nbdkit (SIGTERM, then SIGKILL after a second: connected clients are cut off) and waits for it to exit. */
  async close(): Promise<void> {
    this.#closing = true;
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await this.#exited;
      clearTimeout(timer);
    }
  }
}

/** Starts nbdkit once on `port`: resolves when it listens, rejects with what it said when it exits first. */
function launch(args: string[], env: NodeJS.ProcessEnv, pidFile: string): Promise<{ child: ChildProcess; exited: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const child = spawn('nbdkit', args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    child.stderr!.setEncoding('utf8');
    let stderr = '';
    const collect = (d: string): void => { if (stderr.length < 8192) stderr += d; };
    child.stderr!.on('data', collect);
    const exited = new Promise<void>((done) => child.once('close', () => done()));
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearInterval(poll);
      clearTimeout(timer);
      child.stderr!.off('data', collect);
      if (err) reject(err);
      else resolve({ child, exited });
    };
    child.once('error', (err) => finish(new PixelrtsError('ERR_PIXELRTS_NBD', `cannot run nbdkit: ${err.message}.`)));
    child.once('exit', (code, signal) => finish(Object.assign(new PixelrtsError('ERR_PIXELRTS_NBD',
      `nbdkit exited before it listened (${signal ?? `code ${code}`}): ${stderr.trim().split('\n').slice(-3).join(' / ') || 'it said nothing'}`),
    { stderr })));
    // nbdkit writes its pid file once it accepts connections.
    const poll = setInterval(() => { if (fs.existsSync(pidFile)) finish(); }, 20);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new PixelrtsError('ERR_PIXELRTS_TIMEOUT', `nbdkit did not listen within ${START_TIMEOUT_MS / 1000} s: ${stderr.trim() || 'it said nothing'}`));
    }, START_TIMEOUT_MS);
  });
}

/**
 * Serves `container`'s files over NBD on `host` (see the module comment). `dir` is the
 * caller's private runtime directory: the export table, nbdkit's pid file and the cow
 * filter's overlay go there. Resolves once nbdkit listens.
 */
export async function startNbd(container: Container, dir: string, host: string, options: NbdOptions = {}): Promise<NbdServer> {
  if (!onPath('nbdkit')) {
    throw new PixelrtsError('ERR_PIXELRTS_DEPENDENCY',
      'serving disks over NBD needs nbdkit, which is not on PATH: install it (Debian/Ubuntu `apt-get install nbdkit`, Fedora `dnf install nbdkit`).');
  }
  const plugin = nbdkitPluginPath();
  if (!fs.existsSync(plugin)) {
    throw new PixelrtsError('ERR_PIXELRTS_DEPENDENCY',
      `the pixelrts nbdkit plugin is not at ${plugin}: it is not prebuilt. Build it from source with CMake: install cmake, g++ and ` +
      `nbdkit's plugin header (Debian \`apt-get install cmake g++ nbdkit-plugin-dev\`), then run \`npx cmake-js compile\` in ${path.resolve(__dirname, '..', '..')}; ` +
      'or set PIXELRTS_NBDKIT_PLUGIN to a plugin built elsewhere (docs/packaging.md).');
  }
  const source = await container.decodeSource();
  if (!source) {
    throw new PixelrtsError('ERR_PIXELRTS_NBD',
      `${container.path}: its files cannot be served over NBD: the payload is not stored in the pixels with a known length ` +
      '(a code-mode container, an Infinite Map or a file without original_size). Serve it over HTTP, or re-encode it with `pixelrts convert`.');
  }
  const table = exportTable(container);
  if (table.text.split('\n').length <= 2) {
    throw new PixelrtsError('ERR_PIXELRTS_NBD', `${container.path}: no file of the container can be an NBD export (a name must be 1 to 4096 bytes, without NUL or line breaks).`);
  }
  const tablePath = path.join(dir, 'nbd-exports');
  fs.writeFileSync(tablePath, table.text, { mode: 0o600 });
  const pidFile = path.join(dir, 'nbdkit.pid');
  const pluginArgs = [`container=${source.path}`, `exports=${tablePath}`, `payload-size=${source.payloadSize}`,
    `stored-size=${source.storedSize}`, `compression=${source.compressed ? 'auto' : 'none'}`, `transposed=${source.transposed}`,
    ...(source.cacheEntry ? [`cache-entry=${source.cacheEntry}`] : []), `parent=${process.pid}`];
  // The cow filter's overlay is a deleted file in TMPDIR: the private runtime directory.
  const env = { ...process.env, TMPDIR: dir };
  for (let attempt = 1; ; attempt++) {
    const port = options.port || await freePort(host);
    const args = ['--foreground', '--ipaddr', host, '--port', String(port), '--pidfile', pidFile,
      ...(options.cow ? ['--filter=cow'] : ['--readonly']), plugin, ...pluginArgs];
    try {
      const { child, exited } = await launch(args, env, pidFile);
      const exports = container.files.filter((f) => !table.skipped.includes(f.name)).map((f) => ({
        name: f.name, size: f.size, type: f.type,
        uri: `nbd://${uriHost(host)}:${port}/${encodeURIComponent(f.name).replace(/%2F/g, '/')}`,
      }));
      return new NbdServer(host, port, child, exited, exports);
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? '';
      if (/Address already in use/i.test(stderr)) {
        if (!options.port && attempt < PORT_TRIES) continue;
        throw new PixelrtsError('ERR_PIXELRTS_SERVE',
          `cannot serve NBD on ${host}:${port}: the port is taken; choose another (--nbd-port 0 picks a free one).`);
      }
      throw err;
    }
  }
}

// Typed on/once/off/emit.
export interface NbdServer {
  on<E extends keyof NbdEvents>(event: E, listener: (...args: NbdEvents[E]) => void): this;
  once<E extends keyof NbdEvents>(event: E, listener: (...args: NbdEvents[E]) => void): this;
  off<E extends keyof NbdEvents>(event: E, listener: (...args: NbdEvents[E]) => void): this;
  emit<E extends keyof NbdEvents>(event: E, ...args: NbdEvents[E]): boolean;
}
