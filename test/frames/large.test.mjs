// Frames larger than openh264 can encode ("frames with PIXEL_DATA are always encodable"):
// openh264 2.3.1 stops at H.264 level 5.2, 36864 macroblocks (4096x2304, 3840x2160), and
// answered a 5K/6K/8K frame with ERROR -5. Such a frame is halved (2x2 box average) until it
// fits, and the guest gets H.264 of the downscaled picture (docs/frames.md "Large frames").
// Checked with ffmpeg (an independent decoder): the decoded size is the documented one, four
// quadrants come back in their colours, and one quadrant, a one-pixel checkerboard of two
// colours, comes back as their mean, which only an average gives (a point sample would give
// one of the two).
import test from 'ava';
import { createRequire } from 'node:module';
import { needs, commandMissing } from '../helpers/prereq.mjs';
import { HxfrClient, T, nalTypes, probeH264, decodeH264ToYuv420, rgbToYuv } from '../helpers/hxfr-client.mjs';

const require = createRequire(import.meta.url);
const { createFrameServer } = require('../../dist/frames/server.js');
const withFfmpeg = needs(test, commandMissing('ffprobe', 'ffmpeg') ?? commandMissing('ffmpeg', 'ffmpeg'));

// The tolerance of the colour checks in frames/server.test.mjs (per channel, after a lossy round trip).
const TOLERANCE = 24;
const even = (n) => n + (n & 1);

// Top-left: a checkerboard of CHECK_A and CHECK_B (one pixel each), far apart in luma (which
// 4:2:0 keeps per pixel); the other quadrants flat.
const CHECK_A = [210, 190, 170];
const CHECK_B = [50, 70, 90];
const CHECK_MEAN = CHECK_A.map((c, i) => (c + CHECK_B[i]) / 2);
const TOP_RIGHT = [200, 40, 40];
const BOTTOM_LEFT = [40, 180, 60];
const BOTTOM_RIGHT = [60, 60, 200];

// Where the quadrants meet: even, so no 2x2 block (chroma, or a halving) straddles two of them.
const split = (n) => Math.floor(n / 4) * 2;

/**
 * A width x height frame of the four quadrants, built a row at a time (a 8192x8192 frame pixel
 * by pixel would take the test far longer than the server does). NV12 tightly packed; RGB rows
 * of width*4 bytes.
 */
function quadrantFrame(format, width, height) {
  const sx = split(width), sy = split(height);
  if (format === 'NV12') {
    const cw = Math.ceil(width / 2), ch = Math.ceil(height / 2);
    const [ya, ua, va] = rgbToYuv(...CHECK_A);
    const [yb, ub, vb] = rgbToYuv(...CHECK_B);
    const lumaRow = (left, right, phase) => {
      const row = Buffer.alloc(width);
      for (let x = 0; x < width; x++) row[x] = x < sx ? (((x + phase) & 1) === 0 ? ya : yb) : right;
      if (left !== null) row.fill(left, 0, sx);
      return row;
    };
    const chromaRow = (left, right) => {
      const row = Buffer.alloc(2 * cw);
      for (let x = 0; x < cw; x++) row.set(2 * x < sx ? left : right, 2 * x);
      return row;
    };
    const yTR = rgbToYuv(...TOP_RIGHT), yBL = rgbToYuv(...BOTTOM_LEFT), yBR = rgbToYuv(...BOTTOM_RIGHT);
    const top = [lumaRow(null, yTR[0], 0), lumaRow(null, yTR[0], 1)];
    const bottom = lumaRow(yBL[0], yBR[0], 0);
    // A checkerboard's 2x2 block holds two of each colour: its chroma sample is their mean.
    const topUv = chromaRow([Math.round((ua + ub) / 2), Math.round((va + vb) / 2)], yTR.slice(1));
    const bottomUv = chromaRow(yBL.slice(1), yBR.slice(1));
    const data = Buffer.alloc(width * height + 2 * cw * ch);
    for (let y = 0; y < height; y++) (y < sy ? top[y & 1] : bottom).copy(data, y * width);
    for (let y = 0; y < ch; y++) (2 * y < sy ? topUv : bottomUv).copy(data, width * height + y * 2 * cw);
    return { width, height, format, stride: width, data };
  }
  const px = ([r, g, b]) => (format === 'AR24' ? [b, g, r, 255] : [r, g, b, 255]);
  const rgbRow = (left, right, phase) => {
    const row = Buffer.alloc(width * 4);
    for (let x = 0; x < width; x++) {
      row.set(px(x >= sx ? right : left ?? (((x + phase) & 1) === 0 ? CHECK_A : CHECK_B)), 4 * x);
    }
    return row;
  };
  const top = [rgbRow(null, TOP_RIGHT, 0), rgbRow(null, TOP_RIGHT, 1)];
  const bottom = rgbRow(BOTTOM_LEFT, BOTTOM_RIGHT, 0);
  const data = Buffer.alloc(width * 4 * height);
  for (let y = 0; y < height; y++) (y < sy ? top[y & 1] : bottom).copy(data, y * width * 4);
  return { width, height, format, stride: width * 4, data };
}

/** The size docs/frames.md promises: padded to even, then halved (each side to even) until it fits. */
function encodedSize(width, height) {
  let [w, h] = [even(width), even(height)];
  let halvings = 0;
  while (Math.ceil(w / 16) * Math.ceil(h / 16) > 36864) {
    [w, h] = [even(w / 2), even(h / 2)];
    halvings++;
  }
  return { w, h, halvings };
}

/**
 * Checks one decoded yuv420p picture pw x ph of a quadrant frame width x height: every second
 * pixel of each quadrant, except 4 pixels either side of where they meet (a 2x2 chroma block
 * and the encoder's loop filter blur the boundary), converted back with its own chroma sample.
 * The checkerboard only in a downscaled picture: those pixels (even x and y) are all CHECK_A in
 * the frame, so a downscale that sampled instead of averaging would fail here.
 */
function checkQuadrants(t, yuv, width, height, pw, ph, label) {
  const { halvings } = encodedSize(width, height);
  const sx = split(width) / 2 ** halvings, sy = split(height) / 2 ** halvings;
  const u0 = pw * ph, v0 = u0 + (pw / 2) * (ph / 2);
  const worst = {};
  for (let y = 0; y < ph; y += 2) {
    if (Math.abs(y - sy) < 4) continue;
    for (let x = 0; x < pw; x += 2) {
      if (Math.abs(x - sx) < 4) continue;
      if (halvings === 0 && x < sx && y < sy) continue;  // a checkerboard only the encoder blurs
      const [name, want] = y < sy ? (x < sx ? ['checkerboard', CHECK_MEAN] : ['top right', TOP_RIGHT])
        : (x < sx ? ['bottom left', BOTTOM_LEFT] : ['bottom right', BOTTOM_RIGHT]);
      const c = 1.164 * (yuv[y * pw + x] - 16);
      const i = (y >> 1) * (pw / 2) + (x >> 1);
      const u = yuv[u0 + i] - 128, v = yuv[v0 + i] - 128;
      const got = [c + 1.596 * v, c - 0.392 * u - 0.813 * v, c + 2.017 * u].map((n) => Math.max(0, Math.min(255, Math.round(n))));
      const d = Math.max(...got.map((g, k) => Math.abs(g - want[k])));
      if (d > (worst[name]?.[0] ?? -1)) worst[name] = [d, `(${x},${y}) decoded ${got} expected ${want}`];
    }
  }
  const quadrants = ['bottom left', 'bottom right', ...(halvings > 0 ? ['checkerboard'] : []), 'top right'];
  t.deepEqual(Object.keys(worst).sort(), quadrants, `${label}: all quadrants seen`);
  for (const [name, [d, where]] of Object.entries(worst)) t.true(d < TOLERANCE, `${label}: ${name} off by ${d} at ${where}`);
}

async function setup(t) {
  // The defaults: they admit every frame the spec allows (8192x8192 NV12 is 96 MiB).
  const server = await createFrameServer({ tcp: 0 });
  t.teardown(() => server.close());
  const c = await HxfrClient.connect({ port: server.address().port });
  t.teardown(() => c.close());
  return { server, c };
}

// Decodes `aus` (one stream) and checks each picture is the quadrant frame at the promised size.
async function checkStream(t, aus, width, height, label) {
  const { w, h } = encodedSize(width, height);
  const stream = Buffer.concat(aus);
  const info = await probeH264(stream);
  t.deepEqual([info.width, info.height, info.frames], [w, h, aus.length], `${label}: decodes to ${w}x${h}`);
  t.is(info.profile, 'Constrained Baseline');
  const yuv = await decodeH264ToYuv420(stream);
  const size = (w * h * 3) / 2;
  t.is(yuv.length, size * aus.length);
  for (let i = 0; i < aus.length; i++) checkQuadrants(t, yuv.subarray(i * size, (i + 1) * size), width, height, w, h, `${label} picture ${i}`);
}

const cases = [
  ['NV12', 5120, 2880, '2560x1440'],
  ['NV12', 7680, 4320, '3840x2160'],
  ['NV12', 8192, 4320, '4096x2160'],
  ['NV12', 8192, 8192, '2048x2048'],  // 4096x4096 is 65536 macroblocks: halved twice
  ['AB24', 4096, 4096, '2048x2048'],
  ['AR24', 5121, 2881, '2562x1442'],  // padded to 5122x2882, halved to 2561x1441, padded again
  // The limit itself: 4096x2304 is exactly 36864 macroblocks; one macroblock column more is not.
  ['NV12', 4096, 2304, '4096x2304'],
  ['NV12', 4112, 2304, '2056x1152'],
];

for (const [format, width, height, expected] of cases) {
  const label = `${format} ${width}x${height}`;
  const what = expected === `${width}x${height}` ? 'not downscaled' : 'the checkerboard averaged';
  withFfmpeg(`${label}: encoded as ${expected}, the quadrants' colours kept, ${what}`, async (t) => {
    const { w, h } = encodedSize(width, height);
    t.is(`${w}x${h}`, expected, 'the rule computed here agrees with the table in docs/frames.md');
    const { server, c } = await setup(t);
    const events = [];
    server.on('frame', (e) => events.push(e));
    const frame = quadrantFrame(format, width, height);
    const aus = [];
    for (let i = 0; i < 2; i++) {
      const r = await c.request({ ...frame, pts: BigInt(i) });
      t.is(r.type, T.FRAME_RESPONSE, r.message);
      t.is(r.keyframe, i === 0);
      aus.push(r.au);
    }
    t.deepEqual(nalTypes(aus[0]).slice(0, 2), [7, 8]);
    await checkStream(t, aus, width, height, label);
    const downscaled = w < width;
    t.is(server.stats().downscaled, downscaled ? 2 : 0);
    t.is(events.length, 2);
    for (const e of events) t.like(e, { width, height, encodedWidth: w, encodedHeight: h });
  });
}

withFfmpeg('changing to and from a downscaled size restarts the stream: each change is an IDR with SPS and PPS', async (t) => {
  const { c } = await setup(t);
  // 2560x1440 and 5120x2880 encode at the same size, but the guest's frame changed: an IDR too.
  const sizes = [[3840, 2160], [5120, 2880], [5120, 2880], [3840, 2160], [2560, 1440], [5120, 2880]];
  const frames = new Map();
  const got = [];
  for (const [i, [w, h]] of sizes.entries()) {
    if (!frames.has(`${w}x${h}`)) frames.set(`${w}x${h}`, quadrantFrame('NV12', w, h));
    const r = await c.request({ ...frames.get(`${w}x${h}`), pts: BigInt(i) });
    t.is(r.type, T.FRAME_RESPONSE, r.message);
    got.push(r);
  }
  t.deepEqual(got.map((r) => r.keyframe), [true, true, false, true, true, true]);
  for (const [i, r] of got.entries()) {
    if (r.keyframe) t.deepEqual(nalTypes(r.au).slice(0, 2), [7, 8], `frame ${i}`);
  }
  // Each run from one IDR to the next decodes on its own, at its own size and with its colours.
  await checkStream(t, [got[0].au], 3840, 2160, '3840x2160');
  await checkStream(t, [got[1].au, got[2].au], 5120, 2880, '5120x2880 after 3840x2160');
  await checkStream(t, [got[3].au], 3840, 2160, '3840x2160 after 5120x2880');
  await checkStream(t, [got[4].au], 2560, 1440, '2560x1440');
  await checkStream(t, [got[5].au], 5120, 2880, '5120x2880 after 2560x1440');
  // The whole stream, size changes included, is one valid stream.
  t.is((await probeH264(Buffer.concat(got.map((r) => r.au)))).frames, sizes.length);
});

withFfmpeg('subscribe mode: a published 6016x3384 frame is pushed downscaled to 3008x1692', async (t) => {
  const { server, c } = await setup(t);
  c.subscribe(0);
  t.like(await c.next(), { type: T.SUBSCRIBE_RESP, scanout: 0, success: 1 });
  const frame = quadrantFrame('AR24', 6016, 3384);
  const aus = [];
  for (let i = 0; i < 2; i++) {
    t.true(server.publish(0, { ...frame, pts: BigInt(i) }));
    const m = await c.next();
    t.is(m.type, T.FRAME_RESPONSE, m.message);
    aus.push(m.au);
  }
  await checkStream(t, aus, 6016, 3384, 'published 6016x3384');
});

test('the default limits admit 8192x8192 NV12 and 8192x4320 and 8192x8192 BGRx (AR24), the largest frames there are', async (t) => {
  const { server, c } = await setup(t);
  const events = [];
  server.on('frame', (e) => events.push(e));
  // Flat frames: only whether they are accepted matters here (the pictures are checked above).
  const frames = [
    { width: 8192, height: 8192, format: 'NV12', data: Buffer.alloc(8192 * 8192 * 3 / 2, 0x80) },
    { width: 8192, height: 4320, format: 'AR24', data: Buffer.alloc(8192 * 4320 * 4, 0x40) },
    { width: 8192, height: 8192, format: 'AR24', data: Buffer.alloc(8192 * 8192 * 4, 0x40) },  // 256 MiB
  ];
  for (const [i, frame] of frames.entries()) {
    const r = await c.request({ ...frame, pts: BigInt(i) }, 60000);
    t.is(r.type, T.FRAME_RESPONSE, `${frame.format} ${frame.width}x${frame.height}: ${r.message}`);
  }
  t.deepEqual(events.map((e) => `${e.width}x${e.height} -> ${e.encodedWidth}x${e.encodedHeight}`),
    ['8192x8192 -> 2048x2048', '8192x4320 -> 4096x2160', '8192x8192 -> 2048x2048']);
});
