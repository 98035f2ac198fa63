/**
 * Connecting to a Unix socket that another process (QEMU) is about to create: retry while
 * the path does not exist yet or refuses connections, until a deadline.
 */
import net from 'node:net';
import { PixelrtsError } from '../errors';

export interface ConnectRetryOptions {
  /** Give up after this many milliseconds (default 5000). */
  timeout?: number;
  /** Pause between attempts in milliseconds (default 10). */
  interval?: number;
  /** Checked before every attempt: a reason string aborts (e.g. "QEMU exited"). */
  abort?: () => string | null;
  /** What the socket is, for error messages (e.g. "QMP socket"). */
  what?: string;
}

function connectOnce(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path });
    const onError = (err: Error) => { sock.destroy(); reject(err); };
    sock.once('error', onError);
    sock.once('connect', () => { sock.off('error', onError); resolve(sock); });
  });
}

/**
 * Connects to the Unix socket at `path`, retrying on ENOENT/ECONNREFUSED (the server has not
 * started listening yet) until `timeout`. Other errors (EACCES, ENOTSOCK, ...) fail at once.
 */
export async function connectUnixSocket(path: string, options: ConnectRetryOptions = {}): Promise<net.Socket> {
  const timeout = options.timeout ?? 5000;
  const interval = options.interval ?? 10;
  const what = options.what ?? 'socket';
  const deadline = Date.now() + timeout;
  for (;;) {
    const aborted = options.abort?.();
    if (aborted) throw new PixelrtsError('ERR_PIXELRTS_CONNECT', `cannot connect to ${what} ${path}: ${aborted}`);
    try {
      return await connectOnce(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const retryable = code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EAGAIN';
      if (!retryable) {
        throw new PixelrtsError('ERR_PIXELRTS_CONNECT', `cannot connect to ${what} ${path}: ${(err as Error).message}`, { cause: err });
      }
      if (Date.now() >= deadline) {
        throw new PixelrtsError('ERR_PIXELRTS_TIMEOUT',
          `cannot connect to ${what} ${path}: still ${code} after ${timeout} ms (is the process that serves it running?)`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, interval));
    }
  }
}
