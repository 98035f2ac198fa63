// Bad input from one client: a clear ERROR or a closed connection, never a crash, a hang or
// unbounded memory, and the server and every other client carry on.
import test from 'ava';
import net from 'node:net';
import { createRequire } from 'node:module';
import { HxfrClient, T, header, frameRequest, solidFrame } from '../helpers/hxfr-client.mjs';

const require = createRequire(import.meta.url);
const { createFrameServer } = require('../../dist/frames/server.js');

async function setup(t, options = {}) {
  const server = await createFrameServer({ tcp: 0, ...options });
  t.teardown(() => server.close());
  const errors = [];
  const disconnects = [];
  server.on('error', (e) => errors.push(e));
  server.on('disconnect', (d) => disconnects.push(d));
  const port = server.address().port;
  const connect = async () => {
    const c = await HxfrClient.connect({ port });
    t.teardown(() => c.close());
    return c;
  };
  // A well-behaved client connected throughout: it must keep getting answers.
  const healthy = await connect();
  const healthyWorks = async (i = 0) => {
    const r = await healthy.request({ ...solidFrame('NV12', 64, 64, [100, 100, 100], { t: i }), pts: BigInt(i) });
    t.is(r.type, T.FRAME_RESPONSE, 'the other client still gets its frames');
  };
  await healthyWorks();
  return { server, errors, disconnects, connect, healthyWorks };
}

test('bad magic: ERROR -1, then the connection is closed', async (t) => {
  const { connect, healthyWorks, errors } = await setup(t);
  const c = await connect();
  c.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  const e = await c.next();
  t.is(e.type, T.ERROR);
  t.is(e.code, -1);
  t.regex(e.message, /bad magic 0x20544547.*0x52465848/);
  await c.closed;
  t.true(c.ended);
  await healthyWorks(1);
  t.is(errors[0].code, 'ERR_PIXELRTS_FRAMES_PROTOCOL');
});

test('unknown message types are skipped by payload_size; the stream stays in sync', async (t) => {
  const { connect, healthyWorks } = await setup(t);
  const c = await connect();
  c.write(header(0x77, 0, 1, 5000), Buffer.alloc(5000, 0x48));  // payload full of 'H' bytes, not a header
  c.write(header(0x02, 0, 1, 3), Buffer.from([1, 2, 3]));  // a host→guest type from a guest: skipped too
  c.ping(9);
  const m = await c.next();
  t.is(m.type, T.PONG, 'no ERROR for unknown types');
  t.is(m.session, 9);
  await healthyWorks(1);
});

test('a lying payload_size over the limit: ERROR naming the limit, the bytes skipped unread, nothing allocated', async (t) => {
  const { connect, healthyWorks, server } = await setup(t);
  const before = process.memoryUsage().rss;
  const c = await connect();
  c.write(header(T.FRAME_REQUEST, 1, 1, 0xfffffff0), Buffer.alloc(44));
  const e = await c.next();
  t.is(e.code, -1);
  t.regex(e.message, /4294967236 pixel bytes, over this server's limit of 268435456 \(maxFrameBytes\); the pixels were skipped/);
  c.write(Buffer.alloc(1 << 20, 0x48));  // skipped as pixels: 'H' bytes that are not a header
  c.ping(3);
  await new Promise((r) => setTimeout(r, 100));
  t.false(c.ended, 'the connection stays open while the claimed pixels are skipped');
  t.is(c.queue.length, 0, 'the PING was skipped as part of the pixels');
  t.true(process.memoryUsage().rss - before < 64 << 20, 'no 4 GiB allocation');
  await healthyWorks(1);
  t.is(server.stats().clients, 2);
});

test('a frame over maxFrameBytes: ERROR -1, its pixels skipped, and the same connection answers the next frame', async (t) => {
  const { connect, healthyWorks, server } = await setup(t, { maxFrameBytes: 1 << 20 });
  const c = await connect();
  const big = solidFrame('AR24', 1024, 512, [1, 2, 3]);  // 2 MiB of pixels
  c.write(frameRequest({ ...big, pts: 5n }));
  c.write(frameRequest({ ...solidFrame('AR24', 64, 32, [9, 8, 7]), pts: 6n }));
  const e = await c.next();
  t.is(e.type, T.ERROR);
  t.is(e.code, -1);
  t.regex(e.message, /2097152 pixel bytes, over this server's limit of 1048576 \(maxFrameBytes\); the pixels were skipped\. Send smaller frames or raise maxFrameBytes/);
  const r = await c.next();
  t.is(r.type, T.FRAME_RESPONSE, 'the frame after the oversized one is answered on the same connection');
  t.is(r.pts, 6n);
  // Again, the way vsockenc waits: one frame, its answer, the next.
  t.is((await c.request({ ...big, pts: 7n })).code, -1);
  t.is((await c.request({ ...solidFrame('NV12', 64, 32, [9, 8, 7]), pts: 8n })).pts, 8n);
  t.false(c.ended);
  t.is(server.stats().frames, 3);  // the healthy client's and the two small ones
  await healthyWorks(1);
});

test('dimensions 0 or over 8192, unknown formats and wrong pixel byte counts: ERROR -1, connection kept', async (t) => {
  const { connect, healthyWorks } = await setup(t);
  const c = await connect();
  const bad = [
    [{ width: 8194, height: 2, format: 'AR24', data: Buffer.alloc(8194 * 2 * 4) }, /8194x2 are out of range.*1\.\.8192/],
    [{ width: 2, height: 9000, format: 'AB24', data: Buffer.alloc(2 * 9000 * 4) }, /out of range/],
    [{ width: 0, height: 16, format: 'AR24', data: Buffer.alloc(4) }, /out of range/],
    // Odd sizes are valid (frames/odd.test.mjs); their byte counts are checked like any other.
    [{ width: 15, height: 16, format: 'AR24', data: Buffer.alloc(15 * 16 * 4 - 1) }, /AR24 frame 15x16 with stride 60 carries 959 pixel bytes: expected 960/],
    [{ width: 16, height: 16, format: 0x34325258, data: Buffer.alloc(1024) }, /unknown pixel format 0x34325258/],
    [{ width: 16, height: 16, format: 'NV12', data: Buffer.alloc(100) }, /NV12 frame 16x16 carries 100 pixel bytes: expected 384/],
    [{ width: 16, height: 16, format: 'AR24', stride: 32, data: Buffer.alloc(1024) }, /stride 32 is smaller than width x 4 = 64/],
    [{ width: 16, height: 16, format: 'AR24', data: Buffer.alloc(1000) }, /carries 1000 pixel bytes: expected 1024/],
    [{ width: 16, height: 16, format: 'AR24' }, /neither pixels/],
  ];
  for (const [frame, re] of bad) {
    const e = await c.request(frame);
    t.is(e.type, T.ERROR);
    t.is(e.code, -1);
    t.regex(e.message, re);
  }
  // Short bodies of fixed-size messages.
  c.write(header(T.CONFIG_REQ, 0, 1, 3), Buffer.from([1, 2, 3]));
  const short = await c.next();
  t.is(short.code, -1);
  t.regex(short.message, /CONFIG_REQ body is 3 bytes \(payload_size\), expected 28/);
  c.write(header(T.FRAME_REQUEST, 1, 1, 10), Buffer.alloc(10));
  t.regex((await c.next()).message, /FRAME_REQUEST body is 10 bytes/);
  // Still in sync and working.
  const ok = await c.request({ ...solidFrame('AR24', 32, 32, [5, 5, 5]), pts: 77n });
  t.is(ok.type, T.FRAME_RESPONSE);
  t.is(ok.pts, 77n);
  await healthyWorks(1);
});

test('a client vanishing mid-message is dropped; nothing is answered to nobody and others carry on', async (t) => {
  const { connect, healthyWorks, disconnects, server } = await setup(t);
  const c = await connect();
  const [h, body, px] = frameRequest(solidFrame('AR24', 640, 480, [1, 2, 3]));
  c.write(h, body, px.subarray(0, 100000));
  await new Promise((r) => setTimeout(r, 50));
  c.sock.destroy();
  await c.closed;
  for (let i = 0; i < 100 && disconnects.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.regex(disconnects.at(-1).reason, /middle of a message/);
  // Vanishing after a complete frame, before its answer: the answer is discarded quietly.
  const d = await connect();
  d.sendFrame(solidFrame('NV12', 1280, 720, [1, 2, 3]));
  d.sock.destroy();
  await healthyWorks(1);
  await healthyWorks(2);
  for (let i = 0; i < 100 && server.stats().clients !== 1; i++) await new Promise((r) => setTimeout(r, 10));
  t.is(server.stats().clients, 1);
});

test('maxClients 1: "1 client", not "1 clients"', async (t) => {
  const { connect } = await setup(t, { maxClients: 1 });
  const e = await (await connect()).next();
  t.is(e.code, -99);
  t.regex(e.message, /^server full: 1 client connected, the most it takes \(maxClients\); try again later$/);
});

test('more clients than maxClients: the extra one gets ERROR -99 and is closed; a freed slot is reused', async (t) => {
  const { connect, healthyWorks, server } = await setup(t, { maxClients: 2 });
  const second = await connect();
  const third = await connect();
  const e = await third.next();
  t.is(e.type, T.ERROR);
  t.is(e.code, -99);
  t.regex(e.message, /server full: 2 clients connected, the most it takes \(maxClients\)/);
  await third.closed;
  second.ping(1);
  t.is((await second.next()).type, T.PONG);
  await second.close();
  for (let i = 0; i < 100 && server.stats().clients !== 1; i++) await new Promise((r) => setTimeout(r, 10));
  const fourth = await connect();
  fourth.ping(2);
  t.is((await fourth.next()).type, T.PONG);
  await healthyWorks(1);
});

test('a client that floods PINGs without reading is throttled, not buffered without bound', async (t) => {
  const { connect, healthyWorks, server } = await setup(t);
  const c = await connect();
  c.sock.pause();
  const ping = header(T.PING, 0, 1, 0);
  const burst = Buffer.concat(Array.from({ length: 100000 }, () => ping));  // 1.2 MB → 100k PONGs
  let written = 0;
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && written < 200) {
    if (!c.sock.write(burst)) await new Promise((r) => setTimeout(r, 5));
    written++;
  }
  await healthyWorks(1);
  // 20 M PINGs sent would be 240 MB of PONGs: the server stops reading well before that.
  t.true(server.stats().bytesOut < 64 << 20, `bytesOut ${server.stats().bytesOut}`);
  c.sock.destroy();
});

test('garbage bytes of every kind from raw sockets never take the server down', async (t) => {
  const { healthyWorks, server } = await setup(t);
  const port = server.address().port;
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed; };
  for (let i = 0; i < 30; i++) {
    const len = rnd() % 4000;
    const buf = Buffer.alloc(len);
    for (let j = 0; j < len; j++) buf[j] = rnd() & 0xff;
    if (i % 2 === 0 && len >= 12) header(rnd() & 0xff, rnd() & 1, 1, rnd() % 5000).copy(buf);
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    await new Promise((r) => s.once('connect', r));
    s.end(buf);
    s.resume();
    await new Promise((r) => s.once('close', r));
  }
  await healthyWorks(1);
});
