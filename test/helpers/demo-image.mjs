// The demo kernel and initrd, built once and shared by every test (and every worktree using
// this node_modules) under node_modules/.cache/pixelrts-test; buildDemoImage takes a lock, so
// parallel test files wait for one build instead of racing.
import fs from 'node:fs';
import path from 'node:path';
import { commandMissing, repoRoot } from './prereq.mjs';
import { lib, qemuMissing, tempDir } from './qemu.mjs';

export const demoCacheDir = process.env.PIXELRTS_TEST_CACHE ?? path.join(repoRoot, 'node_modules', '.cache', 'pixelrts-test');

/** null when the demo can be built and booted here, else the reason. */
export function demoMissing() {
  return qemuMissing() ?? commandMissing('apt-get', 'apt') ?? commandMissing('dpkg-deb', 'dpkg') ??
    commandMissing('busybox', 'busybox-static');
}

let building = null;
/** { kernelPath, initrdPath, cmdline, kernelRelease } of the demo guest. */
export function demoImage() {
  building ??= lib('demo/image').buildDemoImage({ cacheDir: demoCacheDir });
  return building;
}

const serialLogs = new WeakMap();

/**
 * Boots the demo (extra kernel arguments appended); the VM is killed when the test ends. What
 * the guest prints also goes to a log file, so a failure can quote it (see beforeVmExit).
 */
export async function bootDemo(t, { append = '', ...options } = {}) {
  const demo = await demoImage();
  const serialLog = path.join(tempDir(t, 'pixelrts-vmtest-'), 'console.log');
  const vm = await lib('vm/vm').launchVm({ kernel: demo.kernelPath, initrd: demo.initrdPath, cmdline: `${demo.cmdline} ${append}`.trim(), accel: 'auto', startTimeout: 60000, serialLog, ...options });
  serialLogs.set(vm, serialLog);
  t.teardown(() => vm.kill());
  return vm;
}

/**
 * `promise`, or a rejection if the VM exits first. An event a dead VM will never send leaves
 * no live handle behind, so a bare wait for it ends as "Promise returned by test never
 * resolved"; this says instead how QEMU ended and what the guest printed last.
 */
export function beforeVmExit(vm, promise, what) {
  const died = vm.exited.then((exit) => {
    let tail = '';
    try { tail = fs.readFileSync(serialLogs.get(vm), 'utf8').split('\n').slice(-15).join('\n'); } catch { /* no log */ }
    throw new Error(`QEMU exited (${exit.signal ?? `code ${exit.code}`}, shutdown reason ${exit.shutdownReason}) while waiting for ${what}; ` +
      `QEMU stderr: ${exit.stderr.trim() || '(none)'}; the guest's last lines:\n${tail}`);
  });
  return Promise.race([promise, died]);
}
