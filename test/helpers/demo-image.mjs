// The demo kernel and initrd, built once and shared by every test (and every worktree using
// this node_modules) under node_modules/.cache/pixelrts-test; buildDemoImage takes a lock, so
// parallel test files wait for one build instead of racing.
import path from 'node:path';
import { commandMissing, repoRoot } from './prereq.mjs';
import { lib, qemuMissing } from './qemu.mjs';

export const demoCacheDir = process.env.PIXELRTS_TEST_CACHE ?? path.join(repoRoot, 'node_modules', '.cache', 'pixelrts-test');

/** null when the demo can be built and booted here, else the reason. */
export function demoMissing() {
  return qemuMissing() ?? commandMissing('apt-get', 'apt') ?? commandMissing('dpkg-deb', 'dpkg') ??
    commandMissing('busybox', 'busybox-static');
}

let building = null;
/** { kernelPath, initrdPath, cmdline, kernelRelease } of the demo guest. */
export function demoImage() {
  building ??= lib('demo').buildDemoImage({ cacheDir: demoCacheDir });
  return building;
}

/** Boots the demo (extra kernel arguments appended); the VM is killed when the test ends. */
export async function bootDemo(t, { append = '', ...options } = {}) {
  const demo = await demoImage();
  const vm = await lib('vm').launchVm({ kernel: demo.kernelPath, initrd: demo.initrdPath, cmdline: `${demo.cmdline} ${append}`.trim(), accel: 'auto', startTimeout: 60000, ...options });
  t.teardown(() => vm.kill());
  return vm;
}
