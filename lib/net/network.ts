/**
 * Joining a private network: `joinNetwork(root, name)` finds the network's switch (or starts
 * it, see switch-process.ts), asks it for a port and returns the VM's address on the network
 * and the two sockets QEMU joins (`-netdev dgram`). The caller holds the port for as long as the
 * VM runs: the port is a connection to the switch, closed by `leave()` or by the kernel when
 * the caller's process ends, however it ends. The switch leaves with its last port.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PixelrtsError, errorCode } from '../errors';
import { checkNetworkName, networkAddress, type NetworkAddress } from './addressing';
import { CONTROL_SOCKET, guestSocket, networkDir, switchSocket, type ControlReply, type ControlRequest } from './layout';
import { BUSY_EXIT } from './switch-process';
import type { NativeSwitchStats } from './binding';

/** A VM's place on a private network, held until `leave()` (or until this process ends). */
export interface NetworkPort extends NetworkAddress {
  /** The network's directory. */
  dir: string;
  /** The switch's end of the port: QEMU's `-netdev dgram` remote. */
  switchSocket: string;
  /** QEMU's end of the port: its `-netdev dgram` local (QEMU binds it). */
  guestSocket: string;
  /** Gives the port back; the switch exits when it was the last one. Idempotent. */
  leave(): void;
}

export interface JoinOptions {
  /** How long to keep trying (ms, default 15000): a switch that is leaving is waited out. */
  timeoutMs?: number;
  /**
   * Called if the switch goes away while the port is held (it was killed): the VM is then cut
   * off from the network. Not called after `leave()`.
   */
  onLost?: () => void;
}

/** What `networkStats` reports: the switch's counters and who holds which port. */
export interface NetworkStats {
  /** The switch process's pid. */
  switchPid: number;
  stats: NativeSwitchStats;
  ports: Array<{ index: number; pid: number }>;
}

/** The longest path a Unix socket address holds on Linux (sun_path without its NUL). */
const MAX_SOCKET_PATH = 107;

/** How long one request to the control socket may take. */
const REQUEST_TIMEOUT_MS = 5000;

/** Sends `request` on the network's control socket; resolves with the reply and the open socket. */
export function controlRequest(dir: string, request: ControlRequest): Promise<{ reply: ControlReply; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path.join(dir, CONTROL_SOCKET));
    let buffered = '';
    const fail = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => fail(Object.assign(new Error('the switch did not answer'), { code: 'ETIMEDOUT' })));
    socket.once('error', fail);
    socket.once('close', () => reject(Object.assign(new Error('the switch closed the connection'), { code: 'ECONNRESET' })));
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', function onData(chunk: Buffer) {
      buffered += chunk.toString('utf8');
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      socket.off('data', onData);
      socket.setTimeout(0);
      socket.removeAllListeners('close');
      socket.removeListener('error', fail);
      try {
        resolve({ reply: JSON.parse(buffered.slice(0, nl)) as ControlReply, socket });
      } catch (err) {
        fail(err as Error);
      }
    });
  });
}

/**
 * Starts a switch for the network in `dir`, detached so that it outlives this process while
 * other VMs use the network. Resolves once it serves, or once it found another switch holding
 * the lock (then that one serves); otherwise with what it said.
 */
function startSwitch(dir: string, sweep = false): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'switch-process.js'), dir, ...(sweep ? ['sweep'] : [])], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: '/',
    });
    let said = '';
    const done = (problem: string | null): void => {
      child.stdout?.destroy();
      child.stderr?.destroy();
      child.unref();
      resolve(problem);
    };
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { said += d; });
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { if (d.includes('ready')) done(null); });
    child.once('error', (err) => done(`cannot start the switch: ${err.message}`));
    child.once('exit', (code) => done(code === BUSY_EXIT || (sweep && code === 0) ? null : `the switch exited (status ${code}): ${said.trim()}`));
  });
}

/**
 * Joins network `name` (checked: checkNetworkName) whose directory lives in the private
 * runtime root `root`, starting its switch when none runs. Errors: ERR_PIXELRTS_USAGE (a bad
 * name), ERR_PIXELRTS_NET_FULL (MAX_VMS VMs on it), ERR_PIXELRTS_NET (no switch could be
 * reached or started; the message says why).
 */
export async function joinNetwork(root: string, name: string, options: JoinOptions = {}): Promise<NetworkPort> {
  checkNetworkName(name);
  const dir = networkDir(root, name);
  const control = path.join(dir, CONTROL_SOCKET);
  if (Buffer.byteLength(control) > MAX_SOCKET_PATH) {
    throw new PixelrtsError('ERR_PIXELRTS_NET_PORT', `the network's socket ${control} is longer than a Unix socket address holds ` +
      `(${MAX_SOCKET_PATH} bytes): set XDG_RUNTIME_DIR to a shorter directory, or give the network a shorter name.`);
  }
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let problem = 'no switch answered';
  for (;;) {
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new PixelrtsError('ERR_PIXELRTS_NET', `cannot create the network's directory ${dir}: ${(err as Error).message}.`, { cause: err });
      }
    }
    let noSwitch = false;
    try {
      const { reply, socket } = await controlRequest(dir, { type: 'join', pid: process.pid });
      if (reply.type === 'joined') return holdPort(dir, name, reply.index, socket, options.onLost);
      socket.destroy();
      // The switch answered and refused: asking again would get the same answer.
      throw reply.type === 'error' && reply.code === 'ERR_PIXELRTS_NET_FULL'
        ? new PixelrtsError('ERR_PIXELRTS_NET_FULL', `network ${name}: ${reply.message}; put further VMs on another network.`)
        : new PixelrtsError(reply.type === 'error' ? errorCode(reply.code, 'ERR_PIXELRTS_NET') : 'ERR_PIXELRTS_NET',
          `network ${name}: the switch refused a port: ${reply.type === 'error' ? reply.message : `unexpected reply ${JSON.stringify(reply)}`}`);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (err instanceof PixelrtsError) throw err;
      noSwitch = code === 'ENOENT' || code === 'ECONNREFUSED';
      problem = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new PixelrtsError('ERR_PIXELRTS_NET', `cannot join the private network ${name} (${dir}): ${problem}.`);
    }
    if (noSwitch) {
      problem = (await startSwitch(dir)) ?? problem;
    } else {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function holdPort(dir: string, name: string, index: number, socket: net.Socket, onLost?: () => void): NetworkPort {
  // The connection is the port: it must not keep this process alive on its own, and it is
  // closed by the kernel when this process ends.
  socket.unref();
  socket.on('error', () => undefined);
  let left = false;
  socket.once('close', () => { if (!left) onLost?.(); });
  return {
    ...networkAddress(name, index),
    dir,
    switchSocket: switchSocket(dir, index),
    guestSocket: guestSocket(dir, index),
    leave: () => {
      left = true;
      socket.destroy();
    },
  };
}

/**
 * Removes what a killed switch left of network `name` (its directory and sockets), unless a
 * switch serves it again. Resolves once that is done; a problem is reported, not thrown.
 */
export async function sweepNetwork(root: string, name: string): Promise<string | null> {
  const dir = networkDir(root, checkNetworkName(name));
  return fs.existsSync(dir) ? startSwitch(dir, true) : null;
}

/**
 * The counters of network `name`'s switch (frames forwarded, flooded, dropped by reason; per
 * port), its pid and which process holds each port. ERR_PIXELRTS_NET when no switch serves it.
 */
export async function networkStats(root: string, name: string): Promise<NetworkStats> {
  checkNetworkName(name);
  try {
    const { reply, socket } = await controlRequest(networkDir(root, name), { type: 'stats' });
    socket.destroy();
    if (reply.type === 'stats') return { switchPid: reply.pid, stats: reply.stats as NativeSwitchStats, ports: reply.ports };
    throw new Error(reply.type === 'error' ? reply.message : `unexpected reply ${JSON.stringify(reply)}`);
  } catch (err) {
    throw new PixelrtsError('ERR_PIXELRTS_NET', `network ${name}: no switch answered (${(err as Error).message}); is a VM on it running?`, { cause: err });
  }
}
