/**
 * Where a private network lives: one 0700 directory per network in the per-user runtime root
 * (the caller passes the root: lib/boot/runtime-dir.ts owns it), named `.net-<name>` so it can
 * never be taken for a VM's directory (VM ids never start with a dot). It holds:
 *
 * - `lock`: flock(2)ed by the network's one switch process for its life;
 * - `control.sock`: the switch's control socket (a stream socket: one connection per VM port);
 * - `s<N>.sock` / `q<N>.sock`: port N's datagram sockets, the switch's end and QEMU's end.
 *
 * The switch removes all of it, the directory too, when the last VM has left.
 */
import path from 'node:path';

export function networkDir(root: string, name: string): string {
  return path.join(root, `.net-${name}`);
}

export const LOCK_FILE = 'lock';
export const CONTROL_SOCKET = 'control.sock';

/** The switch's end of port `index`. */
export function switchSocket(dir: string, index: number): string {
  return path.join(dir, `s${index}.sock`);
}

/** QEMU's end of port `index` (QEMU binds it: `-netdev dgram,local.path=…`). */
export function guestSocket(dir: string, index: number): string {
  return path.join(dir, `q${index}.sock`);
}

/** A request on the control socket (one JSON line). */
export type ControlRequest = { type: 'join'; pid: number } | { type: 'stats' };

/** The switch's answer (one JSON line). A `join` connection stays open: closing it leaves. */
export type ControlReply =
  | { type: 'joined'; index: number }
  | { type: 'stats'; pid: number; stats: unknown; ports: Array<{ index: number; pid: number }> }
  | { type: 'error'; code: string; message: string };
