// The browser view (#14): the real page in Debian's chromium, driven by puppeteer-core, against
// the demo guest's screen (QEMU's VNC socket → the native display → the frame server → the
// view's WebSocket → WebCodecs in the page), with keys and clicks going back through QMP.
import test from 'ava';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import puppeteer from 'puppeteer-core';
import { needs, commandMissing } from '../helpers/prereq.mjs';
import { bootMissing, cli, demoContainer, leftovers, runtimeEnv } from '../helpers/boot.mjs';
import { bootWithDisplay, consoleLine, inkedPixels, screenUntil } from '../helpers/screen.mjs';
import { decodePng } from '../helpers/png-js.mjs';

const require = createRequire(import.meta.url);
const px = require('../../dist/index.js');
const { startView, codecString } = require('../../dist/view/server.js');
const CHROMIUM = '/usr/bin/chromium';
const btest = needs(test, bootMissing() ?? commandMissing('chromium', 'chromium'));
const ABS_MAX = 0x7fff;
const abs = (v, size) => Math.round((v * ABS_MAX) / (size - 1));

function launchBrowser() {
  // As root in CI: no sandbox. The rest keeps chromium off the network it has none of.
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/** GET `url`: resolves with the status code. */
function status(url, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => { res.resume(); resolve(res.statusCode); }).on('error', reject);
  });
}

/** The status line a WebSocket upgrade of `url` gets. */
function upgradeStatus(url, origin) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...(origin ? { origin } : {}) } });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve(res.statusCode); });
    req.on('response', (res) => { res.resume(); resolve(res.statusCode); });
    req.on('error', reject);
  });
}

/** Waits until the page's view state satisfies `ok` (polled). */
async function viewState(page, ok, ms = 60_000, what = 'the view') {
  const deadline = Date.now() + ms;
  for (;;) {
    const state = await page.evaluate(() => ({ ...window.pixelrtsView }));
    if (ok(state)) return state;
    if (Date.now() > deadline) throw new Error(`${what} never happened: ${JSON.stringify(state)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Mean absolute difference per channel between the page's canvas and a screendump PNG. */
async function canvasDifference(page, png) {
  const { width, height, pixels, channels } = decodePng(png);
  const rgba = Buffer.from(await page.evaluate(() => {
    const c = document.getElementById('screen');
    return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
  }));
  if (rgba.length !== width * height * 4) throw new Error(`canvas has ${rgba.length / 4} pixels, the screen ${width * height}`);
  let sum = 0;
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) sum += Math.abs(rgba[i * 4 + c] - pixels[i * channels + c]);
  }
  return sum / (width * height * 3);
}

test('browser key codes map to QEMU key codes, the numeric keypad\'s included', (t) => {
  const { qcodeForKeyCode } = require('../../dist/screen/keymap.js');
  t.deepEqual(['KeyQ', 'Digit7', 'Numpad7', 'F11', 'Enter', 'ShiftLeft', 'Period', 'NumpadSubtract', 'NumpadDivide'].map(qcodeForKeyCode),
    ['q', '7', 'kp_7', 'f11', 'ret', 'shift', 'dot', 'kp_subtract', 'kp_divide']);
  t.is(qcodeForKeyCode('Fn'), undefined);
  t.is(qcodeForKeyCode('constructor'), undefined);
});

test('the codec string comes from the SPS of a keyframe', (t) => {
  const sps = Buffer.from([0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda]);
  t.is(codecString(Buffer.concat([sps, Buffer.from([0, 0, 0, 1, 0x68, 0xce])])), 'avc1.42C01F');
  t.is(codecString(Buffer.from([0, 0, 1, 0x65, 1, 2, 3, 4])), undefined);
});

btest.serial('the page plays the screen, keys and clicks reach the guest, a second viewer gets a picture at once, closing stops encoding; no token, no view', async (t) => {
  const { vm, server, display, lines } = await bootWithDisplay(t, px, await demoContainer());
  const view = await startView({ frames: { port: server.address().port }, qmp: vm.qmp, onInput: () => display.nudge() });
  t.teardown(() => view.close());
  await vm.ready({ timeout: 120_000 });
  await screenUntil(vm, (p) => inkedPixels(p) > 4000);
  // The text-mode cursor blinks (two frames a second while it shows): hidden, the screen settles.
  await vm.input.type("printf '\\033[?25l'; echo Cursor:Hidden >/dev/ttyS0\n");
  await consoleLine(vm, lines, (l) => l.trim() === 'Cursor:Hidden');

  // Only with the token: the page, and the WebSocket (from the page's own origin).
  const url = new URL(view.url);
  t.is(url.hostname, '127.0.0.1');
  t.regex(url.searchParams.get('token'), /^[0-9a-f]{32}$/);
  t.is(await status(`${url.origin}/`), 403);
  t.is(await status(`${url.origin}/?token=${'0'.repeat(32)}`), 403);
  t.is(await status(view.url), 200);
  const ws = `${url.origin}/ws?token=${url.searchParams.get('token')}`;
  t.is(await upgradeStatus(`${url.origin}/ws`), 403);
  t.is(await upgradeStatus(ws, 'http://evil.example'), 403);
  t.is(await upgradeStatus(ws, url.origin), 101);

  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.setViewport({ width: 720, height: 400 });
  await page.goto(view.url);
  const state = await viewState(page, (s) => s.decoded > 0 && s.width === 720, 60_000, 'a first picture');
  t.is(state.height, 400);
  t.regex(state.codec, /^avc1\.42/);
  t.is(state.error, null);
  // The canvas is the screen (H.264 is lossy: a small mean difference), and not a blank one.
  await new Promise((r) => setTimeout(r, 1500));
  const png = await vm.screen.screenshot();
  const diff = await canvasDifference(page, png);
  t.true(diff < 8, `canvas vs screendump: mean difference ${diff.toFixed(2)} per channel`);

  // Keys typed into the page run on tty1; the command's output reaches the serial console. The
  // page sends physical keys (KeyboardEvent.code), so shifted characters are typed with Shift.
  const shifted = async (code) => {
    await page.keyboard.down('Shift');
    await page.keyboard.press(code);
    await page.keyboard.up('Shift');
  };
  await page.keyboard.type('echo page-typed ');
  await shifted('Period');  // '>'
  await page.keyboard.type('/dev/tty');
  await shifted('KeyS');
  await page.keyboard.type('0');
  await page.keyboard.press('Enter');
  t.is((await consoleLine(vm, lines, (l) => l.includes('page-typed'))).trim(), 'page-typed');

  // A click on the page lands on the same pixel of the guest's screen.
  await page.mouse.click(360, 200);
  t.is(await consoleLine(vm, lines, (l) => l.startsWith('pixelrts-demo: click left')),
    `pixelrts-demo: click left at ${abs(360, 720)},${abs(200, 400)}`);
  await page.mouse.click(100, 300, { button: 'right' });
  t.is(await consoleLine(vm, lines, (l) => l.startsWith('pixelrts-demo: click right')),
    `pixelrts-demo: click right at ${abs(100, 720)},${abs(300, 400)}`);

  // A second viewer joins while the screen is idle: a picture at once (its own IDR).
  const encodedBefore = server.stats().frames;
  const second = await browser.newPage();
  await second.setViewport({ width: 360, height: 200 });
  const joined = Date.now();
  await second.goto(view.url);
  await viewState(second, (s) => s.decoded > 0 && s.width === 720, 10_000, 'a picture for the second viewer');
  t.log(`second viewer: first picture ${Date.now() - joined} ms after opening the page`);
  t.is(view.viewers, 2);
  t.true(server.stats().frames > encodedBefore, 'an IDR was encoded for the new viewer');

  // Both pages closed: nobody subscribes, so a changing screen is not encoded.
  await second.close();
  await page.close();
  const deadline = Date.now() + 5000;
  while (view.viewers > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.is(view.viewers, 0);
  await new Promise((r) => setTimeout(r, 500));
  const idle = server.stats().frames;
  await vm.input.type('echo nobody-watches\n');
  await consoleLine(vm, lines, (l) => l.includes('click right'));  // the console is still live
  await new Promise((r) => setTimeout(r, 2000));
  t.true(display.stats().rects > 0);
  t.is(server.stats().frames, idle, 'frames were encoded with no viewer');
});

btest.serial('CLI: boot --view prints the view\'s address; pixelrts view <id> gives it again; the page shows the screen', async (t) => {
  const { root, env } = runtimeEnv(t);
  const child = spawn(process.execPath, [cli, 'boot', await demoContainer(), '--view', '--json', '--accel', 'tcg'],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  const events = [];
  let buf = '';
  const seen = (type) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} event; got ${events.map((e) => e.type).join(' ')}`)), 120_000);
    const check = () => {
      const e = events.find((x) => x.type === type);
      if (e) { clearTimeout(timer); resolve(e); } else setTimeout(check, 50);
    };
    check();
  });
  child.stdout.setEncoding('utf8').on('data', (d) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop();
    for (const l of parts) events.push(JSON.parse(l));
  });
  const ready = await seen('ready');
  const { url } = await seen('view');
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32}$/);
  t.false(events.some((e) => e.type === 'frame-export'), 'a frame server only for the view is not announced to the guest');

  const again = await new Promise((resolve) => {
    const c = spawn(process.execPath, [cli, 'view', ready.id, '--json'], { env: { ...process.env, ...env } });
    let out = '';
    c.stdout.on('data', (d) => { out += d; });
    c.on('close', (code) => resolve({ code, out }));
  });
  t.is(again.code, 0);
  t.like(JSON.parse(again.out), { type: 'view', id: ready.id, url });

  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  const page = await browser.newPage();
  await page.goto(url);
  await viewState(page, (s) => s.decoded > 0 && s.width === 720, 60_000, 'a first picture');
  await browser.close();

  const stop = spawn(process.execPath, [cli, 'stop', ready.id], { env: { ...process.env, ...env } });
  t.is(await new Promise((r) => stop.on('close', r)), 0);
  t.is(await new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.on('close', r))), 0);
  t.deepEqual(await leftovers(root, [], 5000), []);
});
