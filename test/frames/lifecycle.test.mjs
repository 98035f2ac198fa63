// Transports, listen errors, and the server's end: close(), process exit with clients still
// connected, garbage collection without close(), and the `pixelrts frames serve` CLI.
import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { needs, commandMissing, repoRoot } from '../helpers/prereq.mjs';
import { HxfrClient, T, solidFrame, probeH264 } from '../helpers/hxfr-client.mjs';

const require = createRequire(import.meta.url);
const { createFrameServer, startFrameExport } = require('../../dist/frames/server.js');
const withFfmpeg = needs(test, commandMissing('ffprobe', 'ffmpeg'));

function tmpdir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-frames-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `code` (an ES module) in a child node; resolves with its exit code, signal and output. */
function child(t, code, { args = [], onLine } = {}) {
  const p = spawn(process.execPath, [...args, '--input-type=module', '-e', code], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => { if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL'); });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => {
    out += d;
    let i;
    while ((i = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, i);
      out = out.slice(i + 1);
      onLine?.(line, p);
    }
  });
  p.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve) => p.on('close', (code, signal) => resolve({ code, signal, err })));
}

const load = `import { createRequire } from 'node:module'; const require = createRequire(process.cwd() + '/x.js');
const { createFrameServer } = require('./dist/frames/server.js');`;

test('Unix socket and TCP at once; the socket file is removed on close', async (t) => {
  const sock = path.join(tmpdir(t), 'hxfr.sock');
  const server = await createFrameServer({ tcp: 0, unix: sock });
  t.deepEqual(server.addresses().map((a) => a.transport), ['tcp', 'unix']);
  const a = await HxfrClient.connect({ path: sock });
  const b = await HxfrClient.connect({ port: server.address().port });
  const ra = await a.request({ ...solidFrame('AR24', 64, 32, [1, 2, 3]), pts: 1n });
  const rb = await b.request({ ...solidFrame('AR24', 64, 32, [1, 2, 3]), pts: 2n });
  t.is(ra.type, T.FRAME_RESPONSE);
  t.is(rb.type, T.FRAME_RESPONSE);
  await server.close();
  await a.closed;
  await b.closed;
  t.false(fs.existsSync(sock));
  // A stale socket file (server killed) is replaced; a live one is refused.
  fs.writeFileSync(path.join(path.dirname(sock), 'plain'), 'x');
  await t.throwsAsync(createFrameServer({ unix: path.join(path.dirname(sock), 'plain') }),
    { code: 'ERR_PIXELRTS_FRAMES_LISTEN', message: /not a socket/ });
  const live = await createFrameServer({ unix: sock });
  await t.throwsAsync(createFrameServer({ unix: sock }), { code: 'ERR_PIXELRTS_FRAMES_LISTEN', message: /another server is listening/ });
  await live.close();
});

test('AF_VSOCK listens beside TCP, or fails with a clear error; TCP is unaffected either way', async (t) => {
  const port = 20000 + (process.pid % 20000);
  let server;
  try {
    server = await createFrameServer({ tcp: 0, vsock: port });
  } catch (err) {
    // Hosts without the vsock modules: the error says so and what to do.
    t.is(err.code, 'ERR_PIXELRTS_FRAMES_VSOCK');
    t.regex(err.message, /AF_VSOCK.*(modprobe vhost_vsock|--tcp)/);
    server = await createFrameServer({ tcp: 0 });
  }
  t.teardown(() => server.close());
  const vs = server.addresses().find((a) => a.transport === 'vsock');
  if (vs) t.is(vs.port, port);
  const c = await HxfrClient.connect({ port: server.address().port });
  c.ping(3);
  t.is((await c.next()).session, 3);
  await c.close();
  // An address that cannot exist on this host is always refused with ERR_PIXELRTS_FRAMES_VSOCK.
  await t.throwsAsync(createFrameServer({ vsock: { port: 5001, cid: 12345 } }), { code: 'ERR_PIXELRTS_FRAMES_VSOCK' });
});

test('a port in use and bad options are clear errors', async (t) => {
  const server = await createFrameServer({ tcp: 0 });
  t.teardown(() => server.close());
  const port = server.address().port;
  await t.throwsAsync(createFrameServer({ tcp: port }),
    { code: 'ERR_PIXELRTS_FRAMES_LISTEN', message: new RegExp(`TCP 127.0.0.1:${port}: cannot listen: .*in use.*choose another`) });
  await t.throwsAsync(createFrameServer({ tcp: 'localhost:99999' }), { code: 'ERR_PIXELRTS_FRAMES_OPTIONS' });
  await t.throwsAsync(createFrameServer({ tcp: 'no port' }), { code: 'ERR_PIXELRTS_FRAMES_OPTIONS' });
  await t.throwsAsync(createFrameServer({ tcp: 0, maxClients: 0 }), { code: 'ERR_PIXELRTS_FRAMES_OPTIONS' });
  t.throws(() => server.publish(0, { width: 16, height: 16, format: 'YUYV', data: Buffer.alloc(16) }), { code: 'ERR_PIXELRTS_FRAMES_FRAME' });
  t.throws(() => server.publish(0, { width: 16, height: 16, format: 'NV12', data: Buffer.alloc(16) }),
    { code: 'ERR_PIXELRTS_FRAMES_FRAME', message: /NV12 frame 16x16 carries 16 pixel bytes/ });
  await server.close();
  t.throws(() => server.stats(), { code: 'ERR_PIXELRTS_FRAMES_CLOSED' });
});

test('startFrameExport (for boot --frame-export) listens on 127.0.0.1 and reports the port', async (t) => {
  const probe = net.createServer();
  await new Promise((r) => probe.listen(0, '127.0.0.1', r));
  const free = probe.address().port;
  await new Promise((r) => probe.close(r));
  const { server, port } = await startFrameExport(free);
  t.teardown(() => server.close());
  t.is(port, free);
  t.deepEqual(server.address(), { transport: 'tcp', host: '127.0.0.1', port: free });
});

test('the process exits cleanly with a server running and clients connected (process.exit and unref)', async (t) => {
  for (const mode of ['exit', 'unref']) {
    const clients = [];
    const result = await child(t, `${load}
      const server = await createFrameServer({ tcp: 0 });
      console.log(server.address().port);
      process.stdin.once('data', () => {
        if ('${mode}' === 'exit') process.exit(0);
        server.unref();   // nothing else keeps the loop alive: the process ends by itself
        process.stdin.destroy();
      });`, {
      onLine: async (line, p) => {
        const port = Number(line);
        for (let i = 0; i < 3; i++) clients.push(await HxfrClient.connect({ port }));
        const r = await clients[0].request({ ...solidFrame('NV12', 640, 480, [1, 2, 3]), pts: 1n });
        t.is(r.type, T.FRAME_RESPONSE);
        clients[1].sendFrame(solidFrame('NV12', 1280, 720, [1, 2, 3]));  // possibly mid-encode at exit
        p.stdin.write('go\n');
      },
    });
    t.is(result.code, 0, `${mode}: ${result.err}`);
    t.is(result.signal, null);
    t.is(clients.length, 3);
    await Promise.all(clients.map((c) => c.closed));
  }
});

test('an unreferenced server is closed when garbage-collected, without close()', async (t) => {
  const result = await child(t, `${load}
    import net from 'node:net';
    let server = await createFrameServer({ tcp: 0 });
    const port = server.address().port;
    const c = net.connect(port, '127.0.0.1');
    await new Promise((r) => c.once('connect', r));
    const closed = new Promise((r) => c.once('close', r));
    c.on('error', () => {});
    server.unref();
    server = null;
    for (let i = 0; i < 20; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
    await closed;   // the server side closed our connection
    const refused = await new Promise((r) => {
      const d = net.connect(port, '127.0.0.1');
      d.once('connect', () => { d.destroy(); r(false); });
      d.once('error', (e) => r(e.code === 'ECONNREFUSED'));
    });
    console.log(JSON.stringify({ refused }));`, { args: ['--expose-gc'], onLine: (line) => { t.deepEqual(JSON.parse(line), { refused: true }); } });
  t.is(result.code, 0, result.err);
  t.is(result.signal, null);
});

withFfmpeg('`pixelrts frames serve --json --record DIR` serves, records and stops on SIGINT', async (t) => {
  const dir = tmpdir(t);
  const p = spawn(process.execPath, [path.join(repoRoot, 'dist', 'cli', 'main.js'), 'frames', 'serve', '--tcp', '127.0.0.1:0',
    '--record', path.join(dir, 'rec'), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (p.exitCode === null) p.kill('SIGKILL'); });
  const lines = [];
  let buf = '';
  let onListening;
  const listening = new Promise((r) => { onListening = r; });
  p.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const ev = JSON.parse(buf.slice(0, i));
      buf = buf.slice(i + 1);
      lines.push(ev);
      if (ev.type === 'listening') onListening(ev);
    }
  });
  const exited = new Promise((r) => p.on('close', (code) => r(code)));
  const ev = await listening;
  t.is(ev.addresses[0].transport, 'tcp');
  const c = await HxfrClient.connect({ port: ev.addresses[0].port });
  for (let i = 0; i < 3; i++) t.is((await c.request({ ...solidFrame('AB24', 96, 64, [5, 6, 7], { t: i }), pts: BigInt(i) })).type, T.FRAME_RESPONSE);
  await c.close();
  await new Promise((r) => setTimeout(r, 100));
  p.kill('SIGINT');
  t.is(await exited, 0);
  t.true(lines.every((l) => !Number.isNaN(Date.parse(l.time))));
  const kinds = lines.map((l) => l.type);
  t.deepEqual(kinds.filter((k) => k !== 'frame'), ['listening', 'connection', 'disconnect', 'close']);
  t.is(kinds.filter((k) => k === 'frame').length, 3);
  const info = await probeH264(fs.readFileSync(path.join(dir, 'rec', 'conn-1.h264')));
  t.deepEqual([info.width, info.height, info.frames], [96, 64, 3]);
});

test('`pixelrts frames` usage errors exit 2', async (t) => {
  for (const args of [['frames'], ['frames', 'bogus'], ['frames', 'serve', '--tcp', 'x'], ['frames', 'serve', '--vsock']]) {
    const p = spawn(process.execPath, [path.join(repoRoot, 'dist', 'cli', 'main.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    const code = await new Promise((r) => p.on('close', r));
    t.is(code, 2, args.join(' '));
    t.regex(err, /Usage: pixelrts frames serve/);
  }
});

test('messages from `pixelrts frames serve` name its flags (--max-frame-bytes), and count "1 client"', async (t) => {
  const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
  const p = spawn(process.execPath, [cli, 'frames', 'serve', '--tcp', '127.0.0.1:0', '--max-clients', '1',
    '--max-frame-bytes', '1048576', '--memory-budget', '4194304', '--stall-timeout', '5000'], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => { if (p.exitCode === null) p.kill('SIGKILL'); });
  let err = '';
  const port = await new Promise((resolve) => {
    p.stderr.on('data', (d) => {
      err += d;
      const m = /listening on tcp 127\.0\.0\.1:(\d+)/.exec(err);
      if (m) resolve(Number(m[1]));
    });
  });
  const exited = new Promise((r) => p.on('close', (code) => r(code)));
  const c = await HxfrClient.connect({ port });
  const e = await c.request(solidFrame('AR24', 1024, 512, [1, 2, 3]));  // 2 MiB of pixels
  t.is(e.message, "FRAME_REQUEST carries 2097152 pixel bytes, over this server's limit of 1048576 (--max-frame-bytes); " +
    'the pixels were skipped. Send smaller frames or raise --max-frame-bytes on the host');
  const second = await HxfrClient.connect({ port });
  t.is((await second.next()).message, 'server full: 1 client connected, the most it takes (--max-clients); try again later');
  await c.close();
  await new Promise((r) => setTimeout(r, 100));
  p.kill('SIGINT');
  t.is(await exited, 0);
  t.notRegex(err, /maxFrameBytes|maxClients|client\(s\)/);
  t.regex(err, /stopped after 1 client and 0 frames/);

  // Limits that cannot work together are refused before anything listens, naming the flags.
  const bad = spawn(process.execPath, [cli, 'frames', 'serve', '--tcp', '127.0.0.1:0', '--memory-budget', '1000'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let badErr = '';
  bad.stderr.on('data', (d) => { badErr += d; });
  t.is(await new Promise((r) => bad.on('close', r)), 1);
  t.regex(badErr, /--memory-budget 1000 is less than twice --max-frame-bytes 268435456: raise --memory-budget to at least 536870912/);
});

test('startFrameExport (pixelrts boot --frame-export) names the flags; createFrameServer the options', async (t) => {
  const { server } = await startFrameExport(0, { maxFrameBytes: 1 << 20, memoryBudget: 4 << 20 });
  t.teardown(() => server.close());
  const c = await HxfrClient.connect({ port: server.address().port });
  t.teardown(() => c.close());
  t.regex((await c.request(solidFrame('AR24', 1024, 512, [1, 2, 3]))).message, /\(--max-frame-bytes\).*raise --max-frame-bytes/);
  await t.throwsAsync(createFrameServer({ tcp: 0, memoryBudget: 1000 }),
    { code: 'ERR_PIXELRTS_FRAMES_OPTIONS', message: /^memoryBudget 1000 is less than twice maxFrameBytes 268435456/ });
});
