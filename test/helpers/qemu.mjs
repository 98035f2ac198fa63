// Helpers for tests that run real QEMU: a QMP-only QEMU (`-machine none`), private temp
// directories removed after each test, and the prerequisite check.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { commandMissing } from './prereq.mjs';

const require = createRequire(import.meta.url);
export const lib = (name) => require(`../../dist/${name}.js`);

/** null when qemu-system-x86_64 is installed, else the reason. */
export const qemuMissing = () => commandMissing('qemu-system-x86_64', 'qemu-system-x86');

/** A fresh private temp dir, removed when the test ends. */
export function tempDir(t, prefix = 'pixelrts-test-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts a QEMU with no machine and QMP on a Unix socket; killed when the test ends. */
export function startBareQemu(t) {
  const { spawnWithParentDeath } = lib('vm/qemu');
  const dir = tempDir(t);
  const qmpSocket = path.join(dir, 'qmp.sock');
  const child = spawnWithParentDeath('qemu-system-x86_64', [
    '-machine', 'none', '-nodefaults', '-no-user-config', '-display', 'none',
    '-chardev', `socket,id=m,path=${qmpSocket},server=on,wait=off`, '-mon', 'chardev=m,mode=control',
  ], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  t.teardown(async () => { child.kill('SIGKILL'); await exited; });
  return { child, qmpSocket, exited, dir };
}

/** True when `pid` no longer runs (gone, or a zombie waiting for a reaper). */
export function processGone(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z';
  } catch {
    return true;
  }
}

/** Polls until `pid` is gone (true) or `ms` pass (false). */
export async function waitGone(pid, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (processGone(pid)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return processGone(pid);
}
