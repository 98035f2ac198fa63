// Helpers for the screen tests: console lines, and screenshots until they show what is expected.
import { decodePng } from './png-js.mjs';

/** Resolves with the first console line of `vm` that `match` accepts (lines already seen count). */
export function consoleLine(vm, lines, match, timeoutMs = 60_000) {
  return new Promise((resolve, reject) => {
    const found = lines.find(match);
    if (found !== undefined) return resolve(found);
    const timer = setTimeout(() => {
      vm.console.off('line', onLine);
      reject(new Error(`no such console line within ${timeoutMs} ms; last lines:\n${lines.slice(-15).join('\n')}`));
    }, timeoutMs);
    const onLine = (l) => {
      if (!match(l)) return;
      clearTimeout(timer);
      vm.console.off('line', onLine);
      resolve(l);
    };
    vm.console.on('line', onLine);
  });
}

/** How many pixels of a screenshot are not the colour of its top-left pixel. */
export function inkedPixels(png) {
  const { width, height, pixels, channels } = decodePng(png);
  let n = 0;
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) {
      if (pixels[i * channels + c] !== pixels[c]) { n++; break; }
    }
  }
  return n;
}

/** Screenshots until `ok(png)` holds (the guest draws in its own time under TCG). */
export async function screenUntil(vm, ok, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const png = await vm.screen.screenshot();
    if (ok(png)) return png;
    if (Date.now() > deadline) throw new Error('the screen never showed what was expected');
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Boots the demo guest with its screen on the private VNC socket, a frame server on a free
 * loopback port, and the native display publishing the screen as scanout 0; all torn down
 * with the test. `px` is the package's exports.
 */
export async function bootWithDisplay(t, px, container) {
  const vm = await px.boot(container, { accel: 'tcg', vnc: true });
  t.teardown(async () => { if (vm.running) await vm.kill(); await vm.exited; });
  const server = await px.createFrameServer({ tcp: 0 });
  t.teardown(() => server.close());
  const display = px.startDisplay({ vncSocket: vm.vnc.socket, server, scanout: 0 });
  t.teardown(() => display.close());
  const lines = [];
  vm.console.on('line', (l) => lines.push(l));
  return { vm, server, display, lines };
}
