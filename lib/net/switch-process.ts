/**
 * The switch process of one private network: `node net/switch-process.js <directory>`, started
 * detached (its own session, no terminal) by the first VM that joins the network, so VMs booted
 * by separate commands, detached or not, share it. It takes the network's lock (a second switch
 * started by a racing boot finds it held and exits with BUSY_EXIT; that boot then joins the
 * first), serves the control socket, and forwards frames on the native switch's thread.
 *
 * Each `join` connection is one port, held by the process that owns the VM (its CLI or detached
 * supervisor): when that process ends, however it ends (SIGKILL too), the kernel closes the
 * connection and the port goes. When the last port has gone, or none came within START_GRACE_MS,
 * the switch removes its sockets, its lock file and its directory, and exits.
 *
 * `node net/switch-process.js <directory> sweep` removes what a killed switch left, unless a
 * switch serves the network again.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { native } from '../native';
import { MAX_VMS } from './addressing';
import type { NativeEthernetSwitch } from './binding';
import { CONTROL_SOCKET, LOCK_FILE, guestSocket, switchSocket, type ControlReply, type ControlRequest } from './layout';

/** Exit status of a switch that found another one holding the network's lock. */
export const BUSY_EXIT = 3;

/** How long a new switch waits for its first port before it leaves. */
const START_GRACE_MS = 10_000;

/** A request line longer than this is not a request. */
const MAX_REQUEST = 1024;

/**
 * Removes what the network left in `dir` (with the lock held: nobody else serves it), the
 * directory too, and exits.
 */
function removeNetwork(dir: string, sw: NativeEthernetSwitch): never {
  sw.close();
  for (const name of fs.readdirSync(dir)) {
    if (/^[qs]\d+\.sock$|^control\.sock$/.test(name)) fs.rmSync(path.join(dir, name), { force: true });
  }
  try {
    fs.rmdirSync(dir);
  } catch {
    // A new switch's boot made its lock file here meanwhile: the directory is its now.
  }
  process.exit(0);
}

function serve(dir: string, sw: NativeEthernetSwitch): void {
  const ports = new Map<number, { pid: number; socket: net.Socket }>();
  let leaving = false;
  const server = net.createServer();

  const leave = (why: string): void => {
    if (leaving) return;
    leaving = true;
    process.stderr.write(`pixelrts switch ${path.basename(dir)}: ${why}; leaving\n`);
    // The control socket goes first: a boot that comes now finds no switch and starts one (it
    // waits for this one's lock).
    try { fs.unlinkSync(path.join(dir, CONTROL_SOCKET)); } catch { /* gone */ }
    server.close();
    for (const { socket } of ports.values()) socket.destroy();
    removeNetwork(dir, sw);
  };

  const reply = (socket: net.Socket, message: ControlReply): void => { socket.write(`${JSON.stringify(message)}\n`); };

  const join = (socket: net.Socket, pid: number): void => {
    let index = 1;
    while (ports.has(index)) index++;
    if (index > MAX_VMS) {
      reply(socket, { type: 'error', code: 'ERR_PIXELRTS_NET_FULL', message: `the network holds ${MAX_VMS} VMs already` });
      socket.end();
      return;
    }
    // QEMU binds its end: one left by a VM that was killed would make its bind fail.
    fs.rmSync(guestSocket(dir, index), { force: true });
    try {
      sw.addPort(index, switchSocket(dir, index), guestSocket(dir, index));
    } catch (err) {
      const e = err as Error & { code?: string };
      reply(socket, { type: 'error', code: e.code ?? 'ERR_PIXELRTS_NET_PORT', message: e.message });
      socket.end();
      return;
    }
    ports.set(index, { pid, socket });
    socket.once('close', () => {
      ports.delete(index);
      sw.removePort(index);
      fs.rmSync(guestSocket(dir, index), { force: true });
      if (ports.size === 0) leave('the last VM left');
    });
    reply(socket, { type: 'joined', index });
  };

  server.on('connection', (socket) => {
    socket.on('error', () => socket.destroy());
    let buffered = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const nl = buffered.indexOf('\n');
      if (nl < 0) {
        if (buffered.length > MAX_REQUEST) socket.destroy();
        return;
      }
      socket.off('data', onData);
      let request: ControlRequest | null;
      try {
        request = JSON.parse(buffered.slice(0, nl)) as ControlRequest | null;
      } catch {
        request = null;
      }
      if (leaving || typeof request !== 'object' || request === null) {
        socket.destroy();
      } else if (request.type === 'join' && Number.isInteger(request.pid)) {
        join(socket, request.pid);
      } else if (request.type === 'stats') {
        reply(socket, { type: 'stats', pid: process.pid, stats: sw.stats(), ports: [...ports].map(([index, p]) => ({ index, pid: p.pid })) });
        socket.end();
      } else {
        socket.destroy();
      }
    };
    socket.on('data', onData);
  });

  setTimeout(() => { if (ports.size === 0) leave(`no VM joined within ${START_GRACE_MS / 1000} s`); }, START_GRACE_MS);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => leave(sig));

  const control = path.join(dir, CONTROL_SOCKET);
  // Left by a switch that was killed: the lock is ours, so nobody serves it.
  fs.rmSync(control, { force: true });
  const umask = process.umask(0o077);
  server.listen(control, () => {
    process.umask(umask);
    process.stdout.write('ready\n');
  });
  server.on('error', (err) => {
    process.stderr.write(`pixelrts switch: ${err.message}\n`);
    leave('the control socket failed');
  });
}

/** `sweep`: only clean up after a switch that was killed (when no other switch serves). */
function main(dir: string, sweep: boolean): void {
  // Whoever started us may have closed our output pipes: messages are best effort.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  let sw: NativeEthernetSwitch;
  try {
    sw = new (native().EthernetSwitch)(path.join(dir, LOCK_FILE));
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'ERR_PIXELRTS_NET_BUSY') process.exit(BUSY_EXIT);
    process.stderr.write(`pixelrts switch: ${e.code ?? ''} ${e.message}\n`);
    process.exit(1);
  }
  if (sweep) removeNetwork(dir, sw);
  serve(dir, sw);
}

if (require.main === module) main(process.argv[2], process.argv[3] === 'sweep');
