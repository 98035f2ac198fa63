// Request mode (vsockenc's): frames in NV12, AR24 and AB24 come back as H.264 that ffmpeg
// (an independent decoder) decodes to the right size, count and colour.
import test from 'ava';
import { createRequire } from 'node:module';
import { needs, commandMissing } from '../helpers/prereq.mjs';
import { HxfrClient, T, solidFrame, nalTypes, probeH264, decodeH264ToRgb, frameRequest } from '../helpers/hxfr-client.mjs';

const require = createRequire(import.meta.url);
const { createFrameServer } = require('../../dist/frames/server.js');
const withFfmpeg = needs(test, commandMissing('ffprobe', 'ffmpeg') ?? commandMissing('ffmpeg', 'ffmpeg'));

async function withServer(t, options = {}) {
  const server = await createFrameServer({ tcp: 0, ...options });
  t.teardown(() => server.close());
  return server;
}

async function client(t, server) {
  const c = await HxfrClient.connect({ port: server.address().port });
  t.teardown(() => c.close());
  return c;
}

const cases = [
  { name: 'NV12 tightly packed', format: 'NV12', width: 320, height: 240 },
  // GStreamer pads NV12 rows to a multiple of 4: 318 → 320, both planes.
  { name: 'NV12 with rows padded to the stride', format: 'NV12', width: 318, height: 240, stride: 320 },
  { name: 'AR24 (B,G,R,A) with stride > width*4', format: 'AR24', width: 320, height: 240, stride: 320 * 4 + 64 },
  { name: 'AB24 (R,G,B,A) tightly packed', format: 'AB24', width: 320, height: 240 },
];

for (const c of cases) {
  withFfmpeg(`${c.name}: five frames decode to ${c.width}x${c.height}, five pictures, red`, async (t) => {
    const server = await withServer(t);
    const cl = await client(t, server);
    const aus = [];
    for (let i = 0; i < 5; i++) {
      const f = solidFrame(c.format, c.width, c.height, [220, 20, 30], { stride: c.stride, t: i });
      const r = await cl.request({ ...f, pts: BigInt(i) * 16_666_667n, session: 1 });
      t.is(r.type, T.FRAME_RESPONSE, r.message);
      t.is(r.nalCount, 1);
      t.is(r.pts, BigInt(i) * 16_666_667n);
      t.is(r.dts, r.pts);
      t.is(r.session, 1);
      t.is(r.keyframe, i === 0, `frame ${i}`);
      t.deepEqual(r.au.subarray(0, 4), Buffer.from([0, 0, 0, 1]), 'Annex B start code');
      aus.push(r.au);
    }
    const types = nalTypes(aus[0]);
    t.deepEqual(types.slice(0, 2), [7, 8], 'SPS and PPS lead the IDR');
    t.true(types.includes(5));
    const stream = Buffer.concat(aus);
    const info = await probeH264(stream);
    t.is(info.width, c.width);
    t.is(info.height, c.height);
    t.is(info.frames, 5);
    t.is(info.profile, 'Constrained Baseline');
    // Colour: a pixel far from the moving bar in the last frame is the red we sent.
    const rgb = await decodeH264ToRgb(stream);
    const frameBytes = c.width * c.height * 3;
    t.is(rgb.length, frameBytes * 5);
    const x = c.width - 8, y = c.height / 2;
    const off = frameBytes * 4 + (y * c.width + x) * 3;
    const [r, g, b] = rgb.subarray(off, off + 3);
    t.true(Math.abs(r - 220) < 24 && Math.abs(g - 20) < 24 && Math.abs(b - 30) < 24, `decoded ${r},${g},${b}`);
  });
}

withFfmpeg('force_keyframe and KEYFRAME_REQ give an IDR with SPS and PPS in front; frames between are P', async (t) => {
  const server = await withServer(t);
  const cl = await client(t, server);
  const frame = (i, extra = {}) => ({ ...solidFrame('NV12', 256, 128, [0, 0, 200], { t: i }), pts: BigInt(i), ...extra });
  const got = [];
  for (let i = 0; i < 3; i++) got.push(await cl.request(frame(i)));
  got.push(await cl.request(frame(3, { forceKeyframe: true })));
  got.push(await cl.request(frame(4)));
  cl.keyframeRequest();
  got.push(await cl.request(frame(5)));
  got.push(await cl.request(frame(6)));
  t.deepEqual(got.map((r) => r.keyframe), [true, false, false, true, false, true, false]);
  for (const i of [0, 3, 5]) {
    const types = nalTypes(got[i].au);
    t.deepEqual(types.slice(0, 2), [7, 8], `frame ${i}: ${types}`);
    t.true(types.includes(5), `frame ${i}: ${types}`);
  }
  for (const i of [1, 2, 4, 6]) t.false(nalTypes(got[i].au).some((n) => n === 5 || n === 7), `frame ${i}`);
  const info = await probeH264(Buffer.concat(got.map((r) => r.au)));
  t.is(info.frames, 7);
});

withFfmpeg('CONFIG_REQ restarts the encoder: the next frame is an IDR at the new size', async (t) => {
  const server = await withServer(t);
  const cl = await client(t, server);
  const before = [];
  for (let i = 0; i < 3; i++) before.push(await cl.request({ ...solidFrame('AR24', 320, 240, [0, 200, 0], { t: i }), pts: BigInt(i) }));
  cl.config({ width: 640, height: 480, bitrate: 2_000_000, fpsNum: 30, fpsDen: 1 });
  const after = [];
  for (let i = 0; i < 3; i++) after.push(await cl.request({ ...solidFrame('AR24', 640, 480, [0, 200, 0], { t: i }), pts: BigInt(10 + i) }));
  t.deepEqual(before.map((r) => r.keyframe), [true, false, false]);
  t.deepEqual(after.map((r) => r.keyframe), [true, false, false]);
  t.deepEqual(nalTypes(after[0].au).slice(0, 2), [7, 8]);
  const info = await probeH264(Buffer.concat(after.map((r) => r.au)));
  t.deepEqual([info.width, info.height, info.frames], [640, 480, 3]);
  // A CONFIG_REQ at the same size also restarts: next frame IDR.
  cl.config({ bitrate: 1_000_000 });
  const again = await cl.request({ ...solidFrame('AR24', 640, 480, [0, 200, 0], { t: 5 }), pts: 20n });
  t.true(again.keyframe);
});

test('PING gets a PONG echoing session_id; ENABLE/DISABLE_SCANOUT get SCANOUT_RESP and a scanout event', async (t) => {
  const server = await withServer(t);
  const events = [];
  server.on('scanout', (e) => events.push(e));
  const cl = await client(t, server);
  cl.ping(4242);
  const pong = await cl.next();
  t.is(pong.type, T.PONG);
  t.is(pong.session, 4242);
  t.is(pong.payload.length, 0);
  cl.enableScanout(1, 1920, 1080, 60);
  const on = await cl.next();
  t.like(on, { type: T.SCANOUT_RESP, scanout: 1, success: 1, name: 'Virtual-2' });
  cl.disableScanout(1);
  const off = await cl.next();
  t.like(off, { type: T.SCANOUT_RESP, scanout: 1, success: 1, name: 'Virtual-2' });
  await new Promise((r) => setTimeout(r, 50));
  t.like(events[0], { scanout: 1, enabled: true, width: 1920, height: 1080, refresh: 60 });
  t.like(events[1], { scanout: 1, enabled: false });
});

test('a resource id without pixels gets ERROR -2 without a resolver, pixels from a registered resolver', async (t) => {
  const server = await withServer(t);
  const cl = await client(t, server);
  const req = { width: 64, height: 64, format: 'AR24', stride: 256, resourceId: 7, pts: 5n };
  const e = await cl.request(req);
  t.is(e.type, T.ERROR);
  t.is(e.code, -2);
  t.regex(e.message, /resource 7/);

  const asked = [];
  server.setResolver(async (r) => {
    asked.push(r);
    await new Promise((res) => setTimeout(res, 5));
    return r.resourceId === 7 ? solidFrame('AR24', 64, 64, [10, 10, 250]) : null;
  });
  const ok = await cl.request(req);
  t.is(ok.type, T.FRAME_RESPONSE);
  t.is(ok.pts, 5n);
  t.true(ok.keyframe);
  t.like(asked[0], { resourceId: 7, width: 64, height: 64, stride: 256 });
  const missing = await cl.request({ ...req, resourceId: 8 });
  t.is(missing.code, -2);
  // Answers stay in order behind a slow resolver: pipelined requests answered one by one.
  cl.sendFrame(req);
  cl.sendFrame({ ...solidFrame('AR24', 64, 64, [1, 2, 3]), pts: 6n });
  cl.sendFrame({ ...req, resourceId: 9, pts: 7n });
  const three = [await cl.next(), await cl.next(), await cl.next()];
  t.deepEqual(three.map((m) => m.type), [T.FRAME_RESPONSE, T.FRAME_RESPONSE, T.ERROR]);
  t.deepEqual(three.slice(0, 2).map((m) => m.pts), [5n, 6n]);
  // A throwing resolver still answers the guest.
  server.setResolver(() => { throw new Error('boom'); });
  const thrown = await cl.request(req);
  t.is(thrown.code, -2);
  t.regex(thrown.message, /boom/);
});

test('every FRAME_REQUEST gets exactly one answer, in order, when requests are pipelined', async (t) => {
  const server = await withServer(t);
  const cl = await client(t, server);
  const good = (i) => frameRequest({ ...solidFrame('AB24', 128, 64, [9, 9, 9], { t: i }), pts: BigInt(i) });
  const bad = (i) => frameRequest({ width: 128, height: 64, format: 0x11111111, data: Buffer.alloc(128 * 64 * 4), pts: BigInt(i) });
  for (let i = 0; i < 12; i++) cl.write(i % 3 === 1 ? bad(i) : good(i));
  const answers = [];
  for (let i = 0; i < 12; i++) answers.push(await cl.next());
  t.deepEqual(answers.map((m) => m.type), Array.from({ length: 12 }, (_, i) => (i % 3 === 1 ? T.ERROR : T.FRAME_RESPONSE)));
  t.deepEqual(answers.filter((m) => m.type === T.FRAME_RESPONSE).map((m) => m.pts),
    [0n, 2n, 3n, 5n, 6n, 8n, 9n, 11n]);
  cl.ping(1);
  t.is((await cl.next()).type, T.PONG, 'nothing extra was sent');
});

withFfmpeg('--record style recording writes each connection\'s stream to DIR/conn-N.h264', async (t) => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-frames-rec-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const server = await withServer(t, { record: dir });
  const cl = await client(t, server);
  for (let i = 0; i < 4; i++) await cl.request({ ...solidFrame('NV12', 160, 96, [50, 60, 70], { t: i }), pts: BigInt(i) });
  await server.close();
  const files = fs.readdirSync(dir);
  t.deepEqual(files, ['conn-1.h264']);
  const info = await probeH264(fs.readFileSync(path.join(dir, files[0])));
  t.deepEqual([info.width, info.height, info.frames], [160, 96, 4]);
});
