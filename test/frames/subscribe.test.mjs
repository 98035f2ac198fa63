// Subscribe mode: publish() encodes once and pushes to every subscriber of the scanout; new
// subscribers start with an IDR; a subscriber that does not read drops whole frames and never
// holds up the others.
import test from 'ava';
import { createRequire } from 'node:module';
import { needs, commandMissing } from '../helpers/prereq.mjs';
import { HxfrClient, T, solidFrame, noiseFrame, nalTypes, probeH264, MAGIC } from '../helpers/hxfr-client.mjs';

const require = createRequire(import.meta.url);
const { createFrameServer } = require('../../dist/frames/server.js');
const withFfmpeg = needs(test, commandMissing('ffprobe', 'ffmpeg'));

async function subscriber(t, server, scanout) {
  const c = await HxfrClient.connect({ port: server.address().port });
  t.teardown(() => c.close());
  c.subscribe(scanout);
  const resp = await c.next();
  t.like(resp, { type: T.SUBSCRIBE_RESP, scanout, success: 1 });
  return c;
}

// Publishes and waits until the frame was encoded (publish() refuses while two are queued).
async function publishWhenAccepted(server, scanout, frame) {
  for (let tries = 0; tries < 2000; tries++) {
    if (server.publish(scanout, frame)) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error('publish never accepted');
}

withFfmpeg('three subscribers receive the same published frames; a late subscriber starts with an IDR', async (t) => {
  const server = await createFrameServer({ tcp: 0 });
  t.teardown(() => server.close());
  const subs = [await subscriber(t, server, 0), await subscriber(t, server, 0), await subscriber(t, server, 0)];
  const other = await subscriber(t, server, 3);  // another scanout: gets nothing from scanout 0
  const received = subs.map(() => []);
  for (let i = 0; i < 8; i++) {
    t.true(server.publish(0, { ...solidFrame('AR24', 320, 192, [200, 100, 0], { t: i }), pts: BigInt(i) }));
    for (let s = 0; s < 3; s++) received[s].push(await subs[s].next());
  }
  for (const list of received) {
    t.true(list.every((m) => m.type === T.FRAME_RESPONSE && m.session === 0));
    t.deepEqual(list.map((m) => m.pts), [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n]);
    t.true(list[0].keyframe);
  }
  // Encoded once: byte-identical access units for everyone.
  for (let i = 0; i < 8; i++) {
    t.true(received[1][i].au.equals(received[0][i].au));
    t.true(received[2][i].au.equals(received[0][i].au));
  }
  const info = await probeH264(Buffer.concat(received[0].map((m) => m.au)));
  t.deepEqual([info.width, info.height, info.frames], [320, 192, 8]);

  const late = await subscriber(t, server, 0);
  t.true(server.publish(0, { ...solidFrame('AR24', 320, 192, [200, 100, 0], { t: 8 }), pts: 8n }));
  const first = await late.next();
  t.true(first.keyframe);
  t.deepEqual(nalTypes(first.au).slice(0, 2), [7, 8]);
  for (const s of subs) t.true((await s.next()).au.equals(first.au));
  // The late subscriber's stream decodes on its own.
  t.true(server.publish(0, { ...solidFrame('AR24', 320, 192, [200, 100, 0], { t: 9 }), pts: 9n }));
  const second = await late.next();
  t.false(second.keyframe);
  const lateInfo = await probeH264(Buffer.concat([first.au, second.au]));
  t.is(lateInfo.frames, 2);
  // Scanout 3's subscriber saw nothing; a publish to it with no... it has a subscriber: it gets that.
  t.is(other.queue.length, 0);
  t.false(server.publish(9, solidFrame('AR24', 32, 32, [0, 0, 0])), 'no subscriber: not encoded');
});

test('a subscriber that stops reading drops whole frames without blocking the others', async (t) => {
  const server = await createFrameServer({ tcp: 0 });
  t.teardown(() => server.close());
  const fast = await subscriber(t, server, 1);
  const slow = await subscriber(t, server, 1);
  // Big access units (noise: several hundred KB each) fill the slow client's socket buffers quickly.
  // An absurd bitrate is clamped to what H.264 allows rather than breaking the encoder.
  slow.config({ bitrate: 400_000_000, session: 1 });
  slow.sock.pause();
  await new Promise((r) => setTimeout(r, 50));
  const count = 60;
  const t0 = Date.now();
  for (let i = 0; i < count; i++) {
    await publishWhenAccepted(server, 1, { ...noiseFrame('AR24', 1280, 720, i + 1), pts: BigInt(i) });
    const m = await fast.next(10000);
    t.is(m.pts, BigInt(i), 'the fast subscriber gets every frame, in order');
  }
  const elapsed = Date.now() - t0;
  const stats = server.stats();
  t.true(stats.drops > 0, `drops: ${stats.drops}`);
  t.true(elapsed < 60000);
  // Resume the slow one: everything it gets is whole messages (magic checked by the client parser),
  // fewer than were published, in order.
  slow.sock.resume();
  const got = [];
  for (;;) {
    try {
      got.push(await slow.next(1500));
    } catch {
      break;
    }
  }
  t.true(got.length > 0 && got.length < count, `slow subscriber got ${got.length}`);
  t.true(got.every((m) => m.type === T.FRAME_RESPONSE));
  const pts = got.map((m) => Number(m.pts));
  t.deepEqual(pts, [...pts].sort((a, b) => a - b));
  t.is(MAGIC, 0x52465848);
});

test('KEYFRAME_REQ from a subscriber makes the next published frame an IDR', async (t) => {
  const server = await createFrameServer({ tcp: 0 });
  t.teardown(() => server.close());
  const sub = await subscriber(t, server, 2);
  const frame = (i) => ({ ...solidFrame('NV12', 128, 96, [10, 200, 10], { t: i }), pts: BigInt(i) });
  const keys = [];
  for (let i = 0; i < 3; i++) {
    server.publish(2, frame(i));
    keys.push((await sub.next()).keyframe);
  }
  sub.keyframeRequest(2);
  sub.ping(2);
  await sub.next();  // PONG: the KEYFRAME_REQ before it has been handled
  await new Promise((r) => setTimeout(r, 20));
  server.publish(2, frame(3));
  keys.push((await sub.next()).keyframe);
  t.deepEqual(keys, [true, false, false, true]);
});
