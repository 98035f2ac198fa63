// The frame server listens on TCP, so any local user can connect to it (#16, finding 6). Here a
// second, unprivileged user (test/helpers/other-user.mjs) tries to lock the guest out with idle
// connections and to make the server hold gigabytes with large frames it never reads answers to;
// the guest, a client of the test's own user, must still be served and the server's memory must
// stay within its budget. Plus the stall timeout's edges: a silent subscriber is never dropped.
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { needs, repoRoot } from '../helpers/prereq.mjs';
import { otherUserMissing, runAsOtherUser } from '../helpers/other-user.mjs';
import { HxfrClient, T, frameRequest, solidFrame } from '../helpers/hxfr-client.mjs';

const require = createRequire(import.meta.url);
const { createFrameServer } = require('../../dist/frames/server.js');
const asOtherUser = needs(test, otherUserMissing());
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The guest: connects until it is let in, then sends one small frame; resolves once answered. */
async function guestServed(port, deadline) {
  for (;;) {
    if (Date.now() > deadline) throw new Error('the guest was not served in time');
    const c = await HxfrClient.connect({ port });
    const r = await c.request({ ...solidFrame('NV12', 64, 48, [10, 200, 30]), pts: 1n }, deadline - Date.now())
      .catch((e) => ({ type: -1, message: e.message }));
    await c.close();
    if (r.type === T.FRAME_RESPONSE) return;
    await sleep(50);  // refused (server full) or dropped: try again, as vsockenc does
  }
}

// Opens `count` connections to `port` and sends nothing; reports, once the server has closed
// them all, the ERROR texts they got. Runs as the other user, so Node built-ins only.
const IDLE_CLIENTS = `
const net = require('net');
const [port, count] = process.argv.slice(1).map(Number);
const texts = [];
let closed = 0;
for (let i = 0; i < count; i++) {
  const s = net.connect(port, '127.0.0.1');
  let got = Buffer.alloc(0);
  s.on('data', (d) => { got = Buffer.concat([got, d]); });
  s.on('error', () => {});
  s.on('close', () => {
    texts.push(got.length >= 16 ? got.subarray(16, 272).toString().replace(/\\0[^]*$/, '') : '');
    if (++closed === count) console.log(JSON.stringify({ closed, texts }));
  });
}`;

asOtherUser('idle connections from another local user take every slot, and the stall timeout frees them for the guest', async (t) => {
  const server = await createFrameServer({ tcp: 0, maxClients: 16, stallTimeout: 500 });
  t.teardown(() => server.close());
  const port = server.address().port;
  const attack = runAsOtherUser(IDLE_CLIENTS, [String(port), '16'], { timeoutMs: 20000 });
  for (let i = 0; i < 200 && server.stats().clients < 16; i++) await sleep(5);
  t.is(server.stats().clients, 16, 'the other user holds every slot');
  // Locked out right now: the guest is refused.
  const refused = await HxfrClient.connect({ port });
  const full = await refused.next();
  t.is(full.code, -99);
  await refused.closed;
  // Within the timeout (plus the time to notice), the guest gets in and is answered.
  const start = Date.now();
  await guestServed(port, start + 3000);
  t.true(Date.now() - start < 3000, `served after ${Date.now() - start} ms`);
  const { stdout, code } = await attack;
  t.is(code, 0);
  const { closed, texts } = JSON.parse(stdout);
  t.is(closed, 16);
  for (const text of texts) t.is(text, 'closing: the client sent nothing for 500 ms (stallTimeout) before completing a first message');
});

// Each of `count` connections sends two frames of `bytes` pixel bytes (AR24 16x16, rows far
// apart: cheap to encode, large to receive), then a third without its last byte, and never reads.
const GREEDY_CLIENTS = `
const net = require('net');
const [port, count, stride] = process.argv.slice(1).map(Number);
function frame(bytes) {
  const h = Buffer.alloc(56);
  h.writeUInt32LE(0x52465848, 0); h[4] = 1; h[5] = 1; h.writeUInt16LE(1, 6); h.writeUInt32LE(44 + bytes, 8);
  h.writeUInt32LE(16, 16); h.writeUInt32LE(16, 20); h.writeUInt32LE(0x34325241, 24); h.writeUInt32LE(stride, 28);
  return h;
}
const bytes = stride * 16;
const pixels = Buffer.alloc(bytes, 0x7f);
let closed = 0;
for (let i = 0; i < count; i++) {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  s.on('close', () => { if (++closed === count) process.exit(0); });
  s.on('connect', () => {
    s.pause();  // never reads the answers
    for (let f = 0; f < 2; f++) { s.write(frame(bytes)); s.write(pixels); }
    s.write(frame(bytes));
    s.write(pixels.subarray(0, bytes - 1));
  });
}`;

/** Peak and current resident memory of process `pid`, bytes. */
function memoryOf(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)[1]) * 1024;
  return { peak: kib('VmHWM'), now: kib('VmRSS') };
}

asOtherUser('16 clients of another user sending 48 MiB frames and reading nothing: peak RSS stays within the memory budget, and the guest is served', async (t) => {
  const MiB = 1 << 20;
  const budget = 256 * MiB;
  const stride = 3 * MiB;  // 16 rows: 48 MiB a frame
  // The server in a process of its own, so its peak RSS is its own.
  const code = `import { createRequire } from 'node:module'; const require = createRequire(process.cwd() + '/x.js');
const { createFrameServer } = require('./dist/frames/server.js');
const server = await createFrameServer({ tcp: 0, maxClients: 17, maxFrameBytes: 64 << 20, memoryBudget: ${budget}, stallTimeout: 1000 });
console.log(JSON.stringify({ port: server.address().port }));
setInterval(() => console.log(JSON.stringify(server.stats())), 100);`;
  const p = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL'); });
  let stats = {};
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    p.once('exit', (c) => reject(new Error(`the server exited (${c})`)));
    p.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (line.port) resolve(line.port);
        else stats = line;
      }
    });
  });
  const baseline = memoryOf(p.pid).now;
  const attack = runAsOtherUser(GREEDY_CLIENTS, [String(port), '16', String(stride)], { timeoutMs: 30000 });
  for (let i = 0; i < 400 && (stats.clients ?? 0) < 16; i++) await sleep(10);
  t.is(stats.clients, 16, 'the other user is connected 16 times');
  // The guest (the 17th client) is answered while the others hold their frames.
  const start = Date.now();
  await guestServed(port, start + 15000);
  const servedMs = Date.now() - start;
  // Let every greedy client get its turn: two frames each encoded, the third stalled and dropped.
  for (let i = 0; i < 1500 && (stats.frames < 33 || stats.clients > 0); i++) await sleep(10);
  t.is(stats.frames, 33, 'both whole frames of each greedy client were encoded, and the guest\'s');
  t.is(stats.clients, 0, 'each greedy client was dropped once its third frame stalled');
  const { peak } = memoryOf(p.pid);
  const overhead = 96 * MiB;
  t.log(`baseline RSS ${(baseline / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB, guest served after ${servedMs} ms`);
  t.true(peak < baseline + budget + overhead,
    `peak RSS ${(peak / MiB).toFixed(0)} MiB exceeds the baseline ${(baseline / MiB).toFixed(0)} MiB + the budget ${budget / MiB} MiB + ${overhead / MiB} MiB`);
  t.true(servedMs < 15000);
  t.is((await attack).code, 0, 'the greedy clients were all closed');
});

test('the stall timeout drops a client silent in the middle of a message, never one silent between messages (a subscriber)', async (t) => {
  const server = await createFrameServer({ tcp: 0, stallTimeout: 300 });
  t.teardown(() => server.close());
  const errors = [];
  server.on('error', (e) => errors.push(e));
  const port = server.address().port;
  const subscriber = await HxfrClient.connect({ port });
  t.teardown(() => subscriber.close());
  subscriber.subscribe(0);
  t.is((await subscriber.next()).type, T.SUBSCRIBE_RESP);
  const staller = await HxfrClient.connect({ port });
  t.teardown(() => staller.close());
  staller.ping(1);
  t.is((await staller.next()).type, T.PONG);
  const [h, body, pixels] = frameRequest(solidFrame('AR24', 64, 16, [1, 2, 3]));
  staller.write(h, body, pixels.subarray(0, 100));
  const e = await staller.next(2000);
  t.is(e.code, -1);
  t.is(e.message, 'closing: the client sent nothing for 300 ms (stallTimeout) in the middle of a message');
  await staller.closed;
  t.regex(errors.map((x) => x.message).join('\n'), /dropped: it sent nothing for 300 ms \(stallTimeout\) in the middle of a message/);
  // Three stall timeouts of silence later, the subscriber is still there and gets frames.
  await sleep(900);
  t.false(subscriber.ended);
  t.true(server.publish(0, { ...solidFrame('AR24', 32, 32, [1, 2, 3]), pts: 5n }));
  t.is((await subscriber.next()).type, T.FRAME_RESPONSE);
});
