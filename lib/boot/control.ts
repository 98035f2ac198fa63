/**
 * The control socket of a VM owned by a pixelrts process (`pixelrts boot`, foreground or
 * detached). QEMU's QMP and channel sockets accept one client, which the owner already is, so
 * `pixelrts send`, `pixelrts qmp` and `pixelrts stop` from other processes go through here.
 *
 * Protocol: on `<runtime dir>/control.sock` (inside the 0700 directory, so only this user can
 * connect), the client writes one JSON line and reads one JSON line back:
 *   {"op":"send","message":{...}}                         → {"ok":true}
 *   {"op":"request","message":{...},"timeout":5000}       → {"ok":true,"result":{...reply}}
 *   {"op":"qmp","command":"query-status","args":{...}}    → {"ok":true,"result":{...return}}
 *   {"op":"stop","force":false}                           → {"ok":true}
 *   {"op":"status"}                                       → {"ok":true,"result":{...}}
 * Failures: {"ok":false,"error":{"code":"ERR_PIXELRTS_...","message":"..."}}.
 */
import net from 'node:net';
import { PixelrtsError, errorCode } from '../errors';

/** A request on the control socket. */
export type ControlRequest =
  | { op: 'send'; message: Record<string, unknown> }
  | { op: 'request'; message: Record<string, unknown>; timeout?: number }
  | { op: 'qmp'; command: string; args?: Record<string, unknown> }
  | { op: 'view' }
  | { op: 'stop'; force?: boolean }
  | { op: 'status' };

/** What the owner does for each request. */
export interface ControlHandlers {
  send(message: Record<string, unknown>): Promise<void> | void;
  request(message: Record<string, unknown>, timeoutMs: number): Promise<unknown>;
  qmp(command: string, args?: Record<string, unknown>): Promise<unknown>;
  stop(force: boolean): void;
  status(): unknown;
  /** The browser view's URL (started on the first call). */
  view(): Promise<{ url: string }>;
}

/** Longest request line accepted; a control request is small. */
const MAX_LINE = 1 << 20;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function dispatch(req: unknown, handlers: ControlHandlers): Promise<unknown> {
  if (!isObject(req) || typeof req.op !== 'string') {
    throw new PixelrtsError('ERR_PIXELRTS_CONTROL', 'control request must be a JSON object with an "op" field.');
  }
  switch (req.op) {
    case 'send':
      if (!isObject(req.message)) throw new PixelrtsError('ERR_PIXELRTS_CONTROL', '"send" needs a "message" object.');
      await handlers.send(req.message);
      return undefined;
    case 'request':
      if (!isObject(req.message)) throw new PixelrtsError('ERR_PIXELRTS_CONTROL', '"request" needs a "message" object.');
      return handlers.request(req.message, typeof req.timeout === 'number' ? req.timeout : 5000);
    case 'qmp':
      if (typeof req.command !== 'string') throw new PixelrtsError('ERR_PIXELRTS_CONTROL', '"qmp" needs a "command" string.');
      return handlers.qmp(req.command, isObject(req.args) ? req.args : undefined);
    case 'stop':
      handlers.stop(req.force === true);
      return undefined;
    case 'status':
      return handlers.status();
    case 'view':
      return handlers.view();
    default:
      throw new PixelrtsError('ERR_PIXELRTS_CONTROL', `unknown control op '${req.op}' (expected send, request, qmp, stop, status or view).`);
  }
}

/** Serves the control socket at `socketPath`; resolves once it listens. Close the server when the VM is gone. */
export function serveControl(socketPath: string, handlers: ControlHandlers): Promise<net.Server> {
  const server = net.createServer((conn) => {
    let buf = '';
    let handled = false;
    conn.setEncoding('utf8');
    conn.on('error', () => { /* the client went away; nothing to answer */ });
    conn.on('data', (chunk: string) => {
      if (handled) return;
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > MAX_LINE) {
          handled = true;
          conn.end(`${JSON.stringify({ ok: false, error: { code: 'ERR_PIXELRTS_CONTROL', message: `control request longer than ${MAX_LINE} bytes` } })}\n`);
        }
        return;
      }
      handled = true;
      let req: unknown;
      try {
        req = JSON.parse(buf.slice(0, nl));
      } catch (err) {
        conn.end(`${JSON.stringify({ ok: false, error: { code: 'ERR_PIXELRTS_CONTROL', message: `control request is not JSON: ${(err as Error).message}` } })}\n`);
        return;
      }
      dispatch(req, handlers).then(
        (result) => conn.end(`${JSON.stringify(result === undefined ? { ok: true } : { ok: true, result })}\n`),
        (err: Error & { code?: string }) => conn.end(`${JSON.stringify({ ok: false, error: { code: err.code ?? 'ERR_PIXELRTS_CONTROL', message: err.message } })}\n`),
      );
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      server.unref();
      resolve(server);
    });
  });
}

/**
 * Sends one request to the control socket and resolves with its result; throws the owner's
 * error (same code and message), or ERR_PIXELRTS_CONTROL when the owner does not answer in
 * `timeoutMs`.
 */
export function controlRequest(socketPath: string, request: ControlRequest, timeoutMs = 10_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new PixelrtsError('ERR_PIXELRTS_CONTROL', `the VM's owner did not answer on ${socketPath} within ${timeoutMs} ms. Check it with \`pixelrts ps\`; \`pixelrts stop --force <id>\` ends it.`));
    }, timeoutMs);
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(`${JSON.stringify(request)}\n`));
    conn.on('data', (chunk: string) => { buf += chunk; });
    conn.on('error', (err) => {
      clearTimeout(timer);
      reject(new PixelrtsError('ERR_PIXELRTS_CONTROL', `cannot reach the VM's control socket ${socketPath}: ${err.message}. The VM may just have stopped; check with \`pixelrts ps\`.`, { cause: err }));
    });
    conn.on('end', () => {
      clearTimeout(timer);
      let reply: { ok?: boolean; result?: unknown; error?: { code?: string; message?: string } };
      try {
        reply = JSON.parse(buf) as typeof reply;
      } catch {
        reject(new PixelrtsError('ERR_PIXELRTS_CONTROL', `the VM's owner closed ${socketPath} without a valid answer.`));
        return;
      }
      if (reply.ok) resolve(reply.result);
      else reject(new PixelrtsError(errorCode(reply.error?.code, 'ERR_PIXELRTS_CONTROL'), reply.error?.message ?? 'the control request failed'));
    });
  });
}

/** QMP commands through a VM owner's control socket, each bounded by `timeoutMs`. */
export function controlQmp(socketPath: string, timeoutMs: number): { execute(command: string, args?: Record<string, unknown>): Promise<unknown> } {
  return { execute: (command, args) => controlRequest(socketPath, { op: 'qmp', command, ...(args ? { args } : {}) }, timeoutMs) };
}
