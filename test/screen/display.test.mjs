// The guest's screen as live H.264 (#14): QEMU's VNC server on the VM's private Unix socket,
// read by the native RFB client and published as scanout 0 of a frame server. Against the demo
// guest: subscribers get its picture (checked against a screendump), typing makes new frames,
// a late subscriber of an idle screen gets an IDR at once, and a settled screen encodes
// nothing. And against hostile RFB servers: a clean error, never a crash.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { needs, commandMissing } from '../helpers/prereq.mjs';
import { bootMissing, cli, demoContainer, leftovers, runtimeEnv, startCli } from '../helpers/boot.mjs';
import { decodePng } from '../helpers/png-js.mjs';
import { bootWithDisplay, consoleLine, screenUntil, inkedPixels } from '../helpers/screen.mjs';
import { HxfrClient, T, nalTypes, probeH264, decodeH264ToRgb } from '../helpers/hxfr-client.mjs';
import { serveRfb, rawUpdate, updateHeader, rectHeader } from '../helpers/rfb-server.mjs';

const require = createRequire(import.meta.url);
const px = require('../../dist/index.js');
const withFfmpeg = needs(test, commandMissing('ffprobe', 'ffmpeg'));
const btest = needs(test, bootMissing() ?? commandMissing('ffprobe', 'ffmpeg'));

async function subscriber(t, server, scanout = 0) {
  const c = await HxfrClient.connect({ port: server.address().port });
  t.teardown(() => c.close());
  c.subscribe(scanout);
  t.like(await c.next(), { type: T.SUBSCRIBE_RESP, scanout, success: 1 });
  return c;
}

/** Every frame `c` has received so far, waiting up to `ms` for at least `min`. */
async function drain(c, min = 1, ms = 30_000) {
  const frames = [];
  for (;;) {
    try {
      frames.push(await c.next(frames.length < min ? ms : 300));
    } catch {
      if (frames.length >= min) return frames;
      throw new Error(`only ${frames.length} frames within ${ms} ms`);
    }
  }
}

/** Mean absolute difference per channel between an RGB24 picture and a PNG screenshot. */
function meanDifference(rgb, png) {
  const { width, height, pixels, channels } = decodePng(png);
  let sum = 0;
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) sum += Math.abs(rgb[i * 3 + c] - pixels[i * channels + c]);
  }
  return sum / (width * height * 3);
}

/** Waits until `ok()` holds, polling every 100 ms. */
async function until(ok, ms, what) {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until `server` has encoded nothing for a second; what `c` received meanwhile goes to `into`. */
async function settled(server, c, into = []) {
  let count = -1;
  await until(async () => {
    into.push(...await drain(c, 0, 0));
    const now = server.stats().frames;
    const quiet = now === count && now > 0;
    count = now;
    if (!quiet) await new Promise((r) => setTimeout(r, 900));
    return quiet;
  }, 120_000, 'the screen settling');
}

btest.serial('the demo\'s screen reaches subscribers as H.264 matching a screendump; typing gives frames; a late subscriber gets an IDR at once; a settled screen encodes nothing', async (t) => {
  const { vm, server, display, lines } = await bootWithDisplay(t, px, await demoContainer());
  const errors = [];
  display.on('error', (e) => errors.push(e));
  await vm.ready({ timeout: 120_000 });
  await screenUntil(vm, (p) => inkedPixels(p) > 4000);  // the banner and the shell's prompt

  const first = await subscriber(t, server);
  // VGA text mode blinks its cursor: two small updates a second for as long as it shows. Hidden
  // (on tty1, whose keyboard is the VM's), the screen settles once the banner is drawn.
  await vm.input.type("printf '\\033[?25l'; echo Cursor:Hidden >/dev/ttyS0\n");
  await consoleLine(vm, lines, (l) => l.trim() === 'Cursor:Hidden');
  const frames = [];
  await settled(server, first, frames);
  t.true(frames[0].keyframe);
  t.deepEqual(nalTypes(frames[0].au).slice(0, 2), [7, 8]);
  const stream = Buffer.concat(frames.map((f) => f.au));
  const info = await probeH264(stream);
  t.deepEqual([info.width, info.height], [720, 400]);
  t.is(info.frames, frames.length);
  // The last decoded picture is the screen now (H.264 is lossy: a small mean difference).
  const rgb = await decodeH264ToRgb(stream);
  const last = rgb.subarray(rgb.length - 720 * 400 * 3);
  const png = await vm.screen.screenshot();
  const diff = meanDifference(last, png);
  t.true(diff < 6, `mean difference ${diff.toFixed(2)} per channel`);
  t.true(meanDifference(Buffer.alloc(720 * 400 * 3), png) > diff + 2, 'the screen is not blank');

  // Typing changes the screen: new frames arrive, none of them IDRs (damage-driven P-frames).
  const before = display.stats();
  await vm.input.type('echo hello from the display');
  const typed = await drain(first, 1);
  t.true(typed.length >= 1);
  t.true(display.stats().rects > before.rects);
  t.true(display.stats().published > before.published);

  // Idle again: QEMU sends nothing, nothing is encoded for 2 s.
  await settled(server, first);
  const idle = { server: server.stats().frames, display: display.stats().published };
  await new Promise((r) => setTimeout(r, 2000));
  t.is(server.stats().frames, idle.server, 'no encode while the screen is idle');
  t.is(display.stats().published, idle.display);

  // A second subscriber of the idle screen gets an IDR of it at once.
  const joined = Date.now();
  const second = await subscriber(t, server);
  const idr = await second.next(5000);
  t.true(Date.now() - joined < 2000);
  t.true(idr.keyframe);
  t.deepEqual(nalTypes(idr.au).slice(0, 2), [7, 8]);
  const still = await decodeH264ToRgb(idr.au);
  t.true(meanDifference(still, await vm.screen.screenshot()) < 6);

  // After the quiet spell QEMU looks at the screen only every second or so; nudge() makes it
  // look at once, so a key's echo arrives promptly (measured: tens of ms, docs/screen.md).
  const sent = Date.now();
  await vm.input.type('z');
  t.true(display.nudge());
  await second.next(5000);
  t.true(Date.now() - sent < 1000, `${Date.now() - sent} ms from the key to its frame`);

  t.deepEqual(errors, []);
  await vm.kill();
  t.is(await display.closed, 'the VNC server closed the connection');
});

/** A hostile RFB server on a socket in a fresh directory; the display's events once it closes. */
async function againstServer(t, options, session) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-rfb-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'vnc.sock');
  const rfb = await serveRfb(socket, options, session);
  t.teardown(() => rfb.close());
  const server = await px.createFrameServer({ tcp: 0 });
  t.teardown(() => server.close());
  const display = px.startDisplay({ vncSocket: socket, server });
  const errors = [];
  display.on('error', (e) => errors.push(e));
  const reason = await display.closed;
  return { reason, errors, stats: display.stats(), display };
}

const hostile = [
  ['a rectangle past the right edge', { width: 64, height: 32 },
    (s) => s.write(Buffer.concat([updateHeader(1), rectHeader(60, 0, 8, 1, 0), Buffer.alloc(32)])),
    /rectangle 8x1 at 60,0 does not fit the 64x32 screen/],
  ['a rectangle at 65535,65535', { width: 64, height: 32 },
    (s) => s.write(Buffer.concat([updateHeader(1), rectHeader(65535, 65535, 65535, 65535, 0)])),
    /does not fit the 64x32 screen/],
  ['a CopyRect from outside the screen', { width: 64, height: 32 },
    (s) => s.write(Buffer.concat([updateHeader(1), rectHeader(0, 0, 16, 16, 1), Buffer.from([0, 60, 0, 0])])),
    /CopyRect source 16x16 at 60,0 does not fit/],
  ['a 65535x65535 desktop', { width: 64, height: 32 },
    (s) => s.write(Buffer.concat([updateHeader(1), rectHeader(0, 0, 65535, 65535, -223)])),
    /screen size 65535x65535 \(each side must be 1..8192\)/],
  ['a 0x0 desktop', { width: 64, height: 32 },
    (s) => s.write(Buffer.concat([updateHeader(1), rectHeader(0, 0, 0, 0, -223)])),
    /screen size 0x0/],
  ['a 9000x10 ServerInit', { width: 9000, height: 10 }, () => {}, /screen size 9000x10/],
  ['an encoding not asked for (Tight)', { width: 64, height: 32 },
    (s) => s.write(Buffer.concat([updateHeader(1), rectHeader(0, 0, 1, 1, 7)])),
    /encoding 7, which was not asked for/],
  ['4 GiB of clipboard text', { width: 64, height: 32 },
    (s) => s.write(Buffer.from([3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff])),
    /clipboard text of 4294967295 bytes/],
  ['an unknown message type', { width: 64, height: 32 }, (s) => s.write(Buffer.from([200])), /message type 200/],
  ['half a rectangle, then the end', { width: 64, height: 32 },
    (s) => s.end(Buffer.concat([updateHeader(1), rectHeader(0, 0, 64, 32, 0), Buffer.alloc(100)])),
    /ended in the middle of a message/],
  ['a password', { width: 64, height: 32, security: [2] }, () => {}, /asks for authentication/],
  ['RFB 3.3', { width: 64, height: 32, version: 'RFB 003.003\n' }, () => {}, /speaks RFB 3.3; pixelrts needs 3.8/],
  ['an HTTP server', { width: 64, height: 32, version: 'HTTP/1.1 400' }, () => {}, /not an RFB \(VNC\) server/],
];

for (const [what, options, session, message] of hostile) {
  test(`a VNC server sending ${what}: ERR_PIXELRTS_DISPLAY_PROTOCOL and a close, no crash`, async (t) => {
    const { reason, errors } = await againstServer(t, options, session);
    t.is(errors.length, 1);
    t.is(errors[0].code, 'ERR_PIXELRTS_DISPLAY_PROTOCOL');
    t.regex(errors[0].message, message);
    t.is(reason, errors[0].message);
  });
}

test('a good picture before a bad rectangle was published; a resize reallocates; Bell, colour maps and clipboard text are skipped', async (t) => {
  const w = 64, h = 32;
  const { errors, stats } = await againstServer(t, { width: w, height: h }, async (s, client) => {
    await client.nextRequest();
    s.write(Buffer.from([2]));  // Bell
    s.write(Buffer.from([1, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6]));  // one colour map entry
    s.write(Buffer.from([3, 0, 0, 0, 0, 0, 0, 2, 104, 105]));  // "hi"
    s.write(rawUpdate(w, h, Buffer.alloc(w * h * 4, 0x40)));
    await client.nextRequest();
    s.write(Buffer.concat([updateHeader(2), rectHeader(0, 0, 32, 16, -223), rectHeader(0, 0, 32, 16, 0), Buffer.alloc(32 * 16 * 4, 0x80)]));
    await client.nextRequest();
    s.write(Buffer.concat([updateHeader(1), rectHeader(0, 0, 64, 1, 0)]));  // 64 wide on a 32-wide screen
  });
  t.regex(errors[0].message, /rectangle 64x1 at 0,0 does not fit the 32x16 screen/);
  t.like(stats, { updates: 2, rects: 2, published: 2, resizes: 1, width: 32, height: 16 });
});

test('a socket nobody listens on: ERR_PIXELRTS_DISPLAY_CONNECT at once; bad options are refused', async (t) => {
  const server = await px.createFrameServer({ tcp: 0 });
  t.teardown(() => server.close());
  const err = t.throws(() => px.startDisplay({ vncSocket: path.join(os.tmpdir(), 'pixelrts-no-such.sock'), server }));
  t.is(err.code, 'ERR_PIXELRTS_DISPLAY_CONNECT');
  t.regex(err.message, /cannot connect to the VNC socket .*pixelrts-no-such\.sock: No such file or directory/);
  t.is(t.throws(() => px.startDisplay({ vncSocket: '/x', server, scanout: 70000 })).code, 'ERR_PIXELRTS_DISPLAY_OPTIONS');
  t.is(t.throws(() => px.startDisplay({ vncSocket: '', server })).code, 'ERR_PIXELRTS_DISPLAY_OPTIONS');
});

test('nudge() connects and leaves; close() while the server says nothing ends the thread at once; a closed display keeps its last stats', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-rfb-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'vnc.sock');
  const rfb = await serveRfb(socket, { width: 16, height: 16 }, () => {});
  t.teardown(() => rfb.close());
  const server = await px.createFrameServer({ tcp: 0 });
  t.teardown(() => server.close());
  const display = px.startDisplay({ vncSocket: socket, server });
  await new Promise((r) => display.once('ready', r));
  // nudge() is a connection that comes and goes, and another one 20 ms later.
  t.true(display.nudge());
  await until(() => rfb.accepted() === 3, 5000, 'the nudge connecting, now and 20 ms later');
  await until(() => rfb.connections() === 1, 5000, 'the nudge leaving');
  const started = Date.now();
  display.close();
  t.true(Date.now() - started < 500);
  t.is(await display.closed, 'closed');
  t.like(display.stats(), { width: 16, height: 16, updates: 0 });
  t.false(display.nudge());
  await until(() => rfb.connections() === 0, 5000, 'the connection closing');
});

needs(btest, commandMissing('socat', 'socat')).serial('pixelrts boot --screen --frame-export: the screen is scanout 0 of the frame server, on the private VNC socket', async (t) => {
  const { root, env } = runtimeEnv(t);
  const run = startCli(t, ['boot', await demoContainer(), '--json', '--accel', 'tcg', '--screen', '--frame-export', '0'], env);
  const fe = JSON.parse(await run.waitLine(/"type":"frame-export"/));
  const ready = JSON.parse(await run.waitLine(/"type":"ready"/));
  t.is(ready.vnc.socket, path.join(ready.runtimeDir, 'vnc.sock'));
  t.is(fs.statSync(ready.runtimeDir).mode & 0o777, 0o700);
  const qemuArgv = fs.readFileSync(`/proc/${ready.pid}/cmdline`, 'utf8').split('\0');
  // QEMU's VNC on the private socket only: no TCP port.
  t.deepEqual(qemuArgv.flatMap((a, i) => (qemuArgv[i - 1] === '-vnc' ? [a] : [])), [`unix:${ready.vnc.socket}`]);
  await run.waitLine(/the screen is scanout 0/);

  const c = await HxfrClient.connect({ port: fe.port });
  t.teardown(() => c.close());
  c.subscribe(0);
  t.like(await c.next(), { type: T.SUBSCRIBE_RESP, scanout: 0, success: 1 });
  // The first picture may be QEMU's 640x480 one from before the guest set its text mode: the
  // mode change comes as an IDR of the new size.
  const first = await c.next(60_000);
  t.true(first.keyframe);
  for (let m = first; ; m = await c.next(60_000)) {
    if (!m.keyframe) continue;
    const info = await probeH264(m.au);
    if (info.width === 720 && info.height === 400) break;
    t.deepEqual([info.width, info.height], [640, 480]);
  }

  // `pixelrts type` through the VM's control socket: its echo reaches the subscriber (the
  // session nudges QEMU after input).
  await drain(c, 0);
  const typed = spawnSync(process.execPath, [cli, 'type', ready.id, 'q'], { encoding: 'utf8', env: { ...process.env, ...env } });
  t.is(typed.status, 0, typed.stderr);
  t.is((await c.next(10_000)).type, T.FRAME_RESPONSE);

  run.child.kill('SIGTERM');
  const r = await run.done;
  t.is(r.code, 143, r.stderr);
  t.deepEqual(await leftovers(root, [ready.pid], 2000), []);
});

withFfmpeg('a picture published while nobody subscribes is kept, not encoded, and reaches the first subscriber as an IDR; the last of a burst always arrives', async (t) => {
  const w = 64, h = 32;
  const colour = (i) => [20 * i, 255 - 20 * i, 128];  // R, G, B
  const picture = (i) => {
    const [r, g, b] = colour(i);
    const px = Buffer.alloc(w * h * 4);
    for (let p = 0; p < w * h; p++) px.set([b, g, r, 0], p * 4);
    return rawUpdate(w, h, px);
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-rfb-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 'vnc.sock');
  let burst;
  const rfb = await serveRfb(socket, { width: w, height: h }, async (s, client) => {
    await client.nextRequest();
    s.write(picture(1));
    await new Promise((resolve) => { burst = resolve; });
    for (let i = 2; i <= 10; i++) s.write(picture(i));  // faster than the encoder takes them
  });
  t.teardown(() => rfb.close());
  const server = await px.createFrameServer({ tcp: 0 });
  t.teardown(() => server.close());
  const display = px.startDisplay({ vncSocket: socket, server });
  t.teardown(() => display.close());
  await until(() => display.stats().published === 1, 5000, 'the first picture');
  await new Promise((r) => setTimeout(r, 300));
  t.is(server.stats().frames, 0, 'nobody subscribes: nothing encoded');

  const c = await subscriber(t, server);
  const first = await c.next(5000);
  t.true(first.keyframe);
  const rgb = await decodeH264ToRgb(first.au);
  const near = (px, [r, g, b]) => Math.abs(px[0] - r) + Math.abs(px[1] - g) + Math.abs(px[2] - b) < 12;
  t.true(near(rgb.subarray(0, 3), colour(1)), `first picture ${[...rgb.subarray(0, 3)]}`);

  burst();
  await until(() => display.stats().published === 10, 5000, 'the burst');
  const frames = [first, ...await drain(c, 1, 5000)];
  const all = await decodeH264ToRgb(Buffer.concat(frames.map((f) => f.au)));
  const last = all.subarray(all.length - w * h * 3);
  t.true(near(last, colour(10)), `last picture ${[...last.subarray(0, 3)]}`);
  t.true(server.stats().frames <= 11);
});
