// Frames of odd width or height ("frames with PIXEL_DATA are always encodable"): H.264 4:2:0
// can only signal even sizes, so they come back as the picture one column and/or row larger,
// the extra column and row repeating the frame's last ones. Checked with ffmpeg (an
// independent decoder) pixel by pixel: every visible pixel has the colour sent, every padded
// pixel the colour of the edge it repeats. Request mode and subscribe mode, all three formats,
// every NV12 layout an odd frame may arrive in; and short pictures openh264 will not cut into
// two slices.
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

// One base colour, lighter or darker by k on every channel (which moves luma only: BT.601's
// chroma rows sum to zero): along an odd width the last three columns are 20 lighter and the
// very last 40 lighter; along an odd height the last three rows 20 darker and the very last 40
// darker. Regions differing in luma only by these steps keep the lossy round trip within the
// tolerance of the colour checks in frames/server.test.mjs even at one-pixel edges. (openh264 itself
// leaves errors up to ~13 luma levels along the right and bottom edges of pictures whose size
// is not a multiple of 16, even ones included: a flat 642x482 frame comes back so.) That a
// padding repeats exactly the last column and row, not a neighbour 20 off, is checked bit for
// bit by the reference streams below.
const BASE = [170, 90, 90];
function edgeColours(width, height) {
  const oddW = (width & 1) === 1, oddH = (height & 1) === 1;
  return (x, y) => {
    const kx = !oddW || x < width - 3 ? 0 : x === width - 1 ? 40 : 20;
    const ky = !oddH || y < height - 3 ? 0 : y === height - 1 ? -40 : -20;
    return BASE.map((c) => c + kx + ky);
  };
}

/**
 * A `width`x`height` frame coloured by `colourAt`. NV12 layouts: 'tight' (Y rows of width
 * bytes, CbCr rows of 2*ceil(width/2) bytes), 'padded' (both planes' rows `stride` bytes),
 * 'gstreamer' (rows of stride = width rounded up to 4, the Y plane padded to an even number
 * of rows, as GstVideoInfo lays out NV12). Every padding byte is junk (0x55).
 */
function makeFrame(format, width, height, colourAt, { layout = 'tight', stride } = {}) {
  if (format === 'NV12') {
    const cw = Math.ceil(width / 2), ch = Math.ceil(height / 2);
    let yStride, uvStride, uvOffset;
    if (layout === 'tight') {
      [yStride, uvStride, uvOffset] = [width, 2 * cw, width * height];
    } else if (layout === 'padded') {
      [yStride, uvStride, uvOffset] = [stride, stride, stride * height];
    } else {
      const s = Math.ceil(width / 4) * 4;
      [yStride, uvStride, uvOffset] = [s, s, s * even(height)];
    }
    const data = Buffer.alloc(uvOffset + uvStride * ch, 0x55);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) data[y * yStride + x] = rgbToYuv(...colourAt(x, y))[0];
    }
    for (let by = 0; by < ch; by++) {
      for (let bx = 0; bx < cw; bx++) {
        const [, u, v] = rgbToYuv(...colourAt(2 * bx, 2 * by));
        data[uvOffset + by * uvStride + 2 * bx] = u;
        data[uvOffset + by * uvStride + 2 * bx + 1] = v;
      }
    }
    return { width, height, format, stride: yStride, data };
  }
  const s = stride ?? width * 4;
  const data = Buffer.alloc(s * height, 0x55);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = colourAt(x, y);
      data.set(format === 'AR24' ? [b, g, r, 255] : [r, g, b, 255], y * s + x * 4);
    }
  }
  return { width, height, format, stride: s, data };
}

const edgeFrame = (format, width, height, opts) => makeFrame(format, width, height, edgeColours(width, height), opts);

// The even frame a client would have to send to get the same picture: the odd frame with its
// last column and row repeated.
function paddedReference(format, width, height) {
  const colourAt = edgeColours(width, height);
  return makeFrame(format, even(width), even(height), (x, y) => colourAt(Math.min(x, width - 1), Math.min(y, height - 1)));
}

// BT.601 limited range back to RGB, each pixel with the chroma sample of its own 2x2 block.
// (ffmpeg's own RGB output interpolates chroma between blocks, which would blur exactly the
// one-pixel edges checked here.)
function pictureToRgb(yuv, pw, ph) {
  const u0 = pw * ph, v0 = u0 + (pw / 2) * (ph / 2);
  return (x, y) => {
    const c = 1.164 * (yuv[y * pw + x] - 16);
    const i = (y >> 1) * (pw / 2) + (x >> 1);
    const u = yuv[u0 + i] - 128, v = yuv[v0 + i] - 128;
    const clamp = (n) => Math.max(0, Math.min(255, Math.round(n)));
    return [clamp(c + 1.596 * v), clamp(c - 0.392 * u - 0.813 * v), clamp(c + 2.017 * u)];
  };
}

/**
 * Checks one decoded yuv420p picture of even(width) x even(height) against edgeColours(): the
 * worst channel error over the visible pixels, and between each padded pixel and the decoded
 * edge pixel it repeats.
 */
function checkPicture(t, yuv, width, height, label) {
  const pw = even(width), ph = even(height);
  const colourAt = edgeColours(width, height);
  const at = pictureToRgb(yuv, pw, ph);
  const worst = { visible: [0], replica: [0] };
  const note = (kind, a, b, x, y) => {
    const d = Math.max(...[0, 1, 2].map((i) => Math.abs(a[i] - b[i])));
    if (d > worst[kind][0]) worst[kind] = [d, `(${x},${y}) decoded ${a} expected ${b}`];
  };
  for (let y = 0; y < ph; y++) {
    for (let x = 0; x < pw; x++) {
      const ex = Math.min(x, width - 1), ey = Math.min(y, height - 1);
      if (x === ex && y === ey) note('visible', at(x, y), colourAt(x, y), x, y);
      else note('replica', at(x, y), at(ex, ey), x, y);
    }
  }
  t.true(worst.visible[0] < TOLERANCE, `${label}: visible ${width}x${height} region off by ${worst.visible}`);
  if (pw > width || ph > height) {
    t.true(worst.replica[0] < TOLERANCE, `${label}: padded pixel differs from the decoded edge it repeats: ${worst.replica}`);
  }
}

// Decodes a stream of pictures and checks each one.
async function checkStream(t, aus, width, height, label) {
  const stream = Buffer.concat(aus);
  const info = await probeH264(stream);
  t.deepEqual([info.width, info.height, info.frames], [even(width), even(height), aus.length],
    `${label}: decoded size is the padded even size`);
  t.is(info.profile, 'Constrained Baseline');
  const yuv = await decodeH264ToYuv420(stream);
  const size = even(width) * even(height) * 3 / 2;
  t.is(yuv.length, size * aus.length);
  for (let i = 0; i < aus.length; i++) checkPicture(t, yuv.subarray(i * size, (i + 1) * size), width, height, `${label} picture ${i}`);
}

async function decodedSize(au) {
  const info = await probeH264(au);
  return [info.width, info.height];
}

async function setup(t) {
  const server = await createFrameServer({ tcp: 0 });
  t.teardown(() => server.close());
  const connect = async () => {
    const c = await HxfrClient.connect({ port: server.address().port });
    t.teardown(() => c.close());
    return c;
  };
  return { server, c: await connect(), connect };
}

// Sends `frame` three times on `c`; the three access units.
async function threeFrames(t, c, frame) {
  const aus = [];
  for (let i = 0; i < 3; i++) {
    const r = await c.request({ ...frame, pts: BigInt(i) });
    t.is(r.type, T.FRAME_RESPONSE, r.message);
    t.is(r.keyframe, i === 0);
    aus.push(r.au);
  }
  return aus;
}

const cases = [
  // 639x479 pads to 640x480, whole macroblocks: nothing of openh264's own edge handling.
  ['NV12', 639, 479, { layout: 'tight' }], ['AR24', 639, 479, {}], ['AB24', 639, 479, {}],
  ['NV12', 641, 481, { layout: 'tight' }],
  ['NV12', 641, 481, { layout: 'padded', stride: 648 }],
  ['NV12', 641, 481, { layout: 'gstreamer' }],
  ['AR24', 641, 481, {}],
  ['AB24', 641, 481, { stride: 641 * 4 + 12 }],
  ['NV12', 1, 1, {}], ['AR24', 1, 1, {}], ['AB24', 1, 1, {}],
  ['AR24', 3, 2, {}], ['NV12', 3, 2, {}],
  ['NV12', 2, 3, { layout: 'gstreamer' }], ['AB24', 2, 3, {}],
  // One side under openh264's 16-pixel minimum, the other not a multiple of 16: both croppings.
  ['NV12', 3, 481, {}], ['AR24', 301, 3, {}],
  ['NV12', 1367, 767, {}], ['AR24', 1367, 767, {}],
];

for (const [format, width, height, opts] of cases) {
  const label = `${format} ${width}x${height}${opts.layout ? ` ${opts.layout}` : ''}${opts.stride ? ` stride ${opts.stride}` : ''}`;
  withFfmpeg(`${label}: encoded, decodes to ${even(width)}x${even(height)} with the colours sent and the edge replicated`, async (t) => {
    const { c, connect } = await setup(t);
    const aus = await threeFrames(t, c, edgeFrame(format, width, height, opts));
    t.deepEqual(nalTypes(aus[0]).slice(0, 2), [7, 8]);
    await checkStream(t, aus, width, height, label);
    // The IDR is exactly that of the even frame with the edge repeated by the client (on a
    // fresh connection, so a fresh encoder): the padding is edge replication, bit for bit.
    // (Only the IDR: openh264's two slice threads make P-frames differ in a few bits from run
    // to run.)
    const reference = await threeFrames(t, await connect(), paddedReference(format, width, height));
    t.true(aus[0].equals(reference[0]), 'the IDR equals that of the client-padded even frame');
  });
}

// Short, wide pictures (fewer than 8 macroblock rows at most widths): openh264 refuses to cut
// them into the two slices the encoder asks for, so they are encoded as one slice (the server
// answered ERROR -5 before).
for (const [format, width, height] of [['NV12', 800, 16], ['AR24', 1368, 64], ['NV12', 640, 112], ['AB24', 8192, 16]]) {
  withFfmpeg(`${format} ${width}x${height}, too short for two slices: encoded as one, decodes with the colours sent`, async (t) => {
    const { c } = await setup(t);
    await checkStream(t, await threeFrames(t, c, edgeFrame(format, width, height)), width, height, `${format} ${width}x${height}`);
  });
}

withFfmpeg('changing between odd and even sizes restarts the stream: each change is an IDR with SPS and PPS', async (t) => {
  const { c } = await setup(t);
  const sizes = [[640, 480], [641, 481], [642, 482], [641, 481], [641, 481], [641, 480], [640, 480]];
  const got = [];
  for (const [i, [w, h]] of sizes.entries()) {
    const r = await c.request({ ...edgeFrame('AR24', w, h), pts: BigInt(i) });
    t.is(r.type, T.FRAME_RESPONSE, r.message);
    got.push(r);
  }
  t.deepEqual(got.map((r) => r.keyframe), [true, true, true, true, false, true, true]);
  for (const [i, r] of got.entries()) {
    if (r.keyframe) t.deepEqual(nalTypes(r.au).slice(0, 2), [7, 8], `frame ${i}`);
  }
  // Each run from one IDR to the next decodes on its own to its padded size; the odd ones with
  // their colours and edges.
  await checkStream(t, [got[1].au], 641, 481, '641x481 after 640x480');
  t.deepEqual(await decodedSize(got[2].au), [642, 482]);
  await checkStream(t, [got[3].au, got[4].au], 641, 481, '641x481 after 642x482');
  await checkStream(t, [got[5].au], 641, 480, '641x480');
  t.deepEqual(await decodedSize(got[6].au), [640, 480]);
  // The whole stream, size changes included, is one valid stream.
  t.is((await probeH264(Buffer.concat(got.map((r) => r.au)))).frames, sizes.length);
});

withFfmpeg('subscribe mode: an odd scanout size is accepted and its published odd frames decode padded with the edge replicated', async (t) => {
  const { server, c } = await setup(t);
  const events = [];
  server.on('scanout', (e) => events.push(e));
  c.enableScanout(0, 1367, 767, 60);
  t.like(await c.next(), { type: T.SCANOUT_RESP, scanout: 0, success: 1, name: 'Virtual-1' });
  c.subscribe(0);
  t.like(await c.next(), { type: T.SUBSCRIBE_RESP, scanout: 0, success: 1 });
  t.like(events[0], { scanout: 0, enabled: true, width: 1367, height: 767, refresh: 60 });
  const aus = [];
  for (const [i, format] of ['AR24', 'NV12', 'AB24'].entries()) {
    t.true(server.publish(0, { ...edgeFrame(format, 1367, 767), pts: BigInt(i) }));
    const m = await c.next();
    t.is(m.type, T.FRAME_RESPONSE, m.message);
    t.is(m.session, 0);
    aus.push(m.au);
  }
  await checkStream(t, aus, 1367, 767, 'published 1367x767');
});

test('odd sizes still get ERROR -1 for dimensions out of range and for byte counts no layout explains', async (t) => {
  const { c } = await setup(t);
  const bad = [
    [{ width: 0, height: 1, format: 'NV12', data: Buffer.alloc(2) }, /frame dimensions 0x1 are out of range: width and height must be 1\.\.8192/],
    [{ width: 8193, height: 3, format: 'AR24', data: Buffer.alloc(8193 * 3 * 4) }, /8193x3 are out of range/],
    // 641x481: 308321 luma + 241 rows of 642 CbCr bytes; or 722 rows (723 with GStreamer's even Y rows) of a stride >= 642.
    [{ width: 641, height: 481, format: 'NV12', data: Buffer.alloc(462481) },
      /NV12 frame 641x481 carries 462481 pixel bytes: expected 463043 \(tightly packed\), stride x 722 rows or stride x 723 rows \(Y plane padded to an even row count\) with stride >= 642 \(width rounded up to even\)/],
    // Odd width, even height: no GStreamer variant; a stride of 641 is one short of a CbCr row.
    [{ width: 641, height: 480, format: 'NV12', data: Buffer.alloc(641 * 720) },
      /NV12 frame 641x480 carries 461520 pixel bytes: expected 461760 \(tightly packed\) or stride x 720 rows with stride >= 642 \(width rounded up to even\)$/],
    [{ width: 1, height: 1, format: 'NV12', data: Buffer.alloc(1) }, /NV12 frame 1x1 carries 1 pixel bytes: expected 3 \(tightly packed\), stride x 2 rows or stride x 3 rows/],
    [{ width: 3, height: 3, format: 'AB24', data: Buffer.alloc(35) }, /AB24 frame 3x3 with stride 12 carries 35 pixel bytes: expected 36/],
  ];
  for (const [frame, re] of bad) {
    const e = await c.request(frame);
    t.is(e.type, T.ERROR);
    t.is(e.code, -1);
    t.regex(e.message, re);
  }
  const ok = await c.request({ ...edgeFrame('NV12', 3, 3), pts: 9n });
  t.is(ok.type, T.FRAME_RESPONSE, 'the connection stays usable');
});

test('publish() refuses an odd NV12 frame whose byte count matches no layout, naming the expected counts', async (t) => {
  const { server } = await setup(t);
  t.throws(() => server.publish(0, { width: 5, height: 5, format: 'NV12', data: Buffer.alloc(37) }),
    { code: 'ERR_PIXELRTS_FRAMES_FRAME', message: /NV12 frame 5x5 carries 37 pixel bytes: expected 43 \(tightly packed\)/ });
});
