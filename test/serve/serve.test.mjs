// pixelrts serve (#17, first part): the demo container over HTTP with byte ranges, served from
// its verified mount, and a second QEMU that has nothing net-boots it through QEMU's own iPXE
// ROM (bootfile=http://10.0.2.2:PORT/boot.ipxe over user-mode networking).
import test from 'ava';
import http from 'node:http';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { needs } from '../helpers/prereq.mjs';
import { bootMissing, cli, demoContainer, leftovers, runtimeEnv } from '../helpers/boot.mjs';
import { startServe } from '../helpers/nbd.mjs';

const require = createRequire(import.meta.url);
const { open } = require('../../dist/codec/container.js');
const { parseRange } = require('../../dist/serve/server.js');
const { DEMO_MARKER } = require('../../dist/demo/image.js');
const btest = needs(test, bootMissing());

/** GET (or HEAD) `url` with `headers`: { status, headers, body }. */
function get(url, headers = {}, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('byte ranges as RFC 9110 has them: first-last, open-ended, suffix, unsatisfiable', (t) => {
  t.deepEqual(parseRange('bytes=0-99', 1000), { start: 0, end: 99 });
  t.deepEqual(parseRange('bytes=900-', 1000), { start: 900, end: 999 });
  t.deepEqual(parseRange('bytes=990-5000', 1000), { start: 990, end: 999 });
  t.deepEqual(parseRange('bytes=-10', 1000), { start: 990, end: 999 });
  t.is(parseRange('bytes=1000-', 1000), 'unsatisfiable');
  t.is(parseRange('bytes=5-4', 1000), 'unsatisfiable');
  t.is(parseRange('bytes=0-1,5-6', 1000), null, 'several ranges: the whole file');
  t.is(parseRange('items=0-1', 1000), null);
  t.is(parseRange(undefined, 1000), null);
});

btest.serial('serve: files with ranges and ETags, the iPXE script, and a second QEMU net-boots the demo through it', async (t) => {
  const file = await demoContainer();
  const container = await open(file);
  const kernel = await container.read('kernel');
  const { root, env } = runtimeEnv(t);
  const { child, events, url } = await startServe(t, file, env);
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);

  const whole = await get(`${url}files/kernel`, {}, 'HEAD');
  t.is(whole.status, 200);
  t.is(Number(whole.headers['content-length']), kernel.length);
  t.is(whole.headers['accept-ranges'], 'bytes');
  t.is(whole.headers.etag, `"${crypto.createHash('sha256').update(kernel).digest('hex')}"`);
  const part = await get(`${url}files/kernel`, { range: 'bytes=1000000-1000999' });
  t.is(part.status, 206);
  t.is(part.headers['content-range'], `bytes 1000000-1000999/${kernel.length}`);
  t.true(part.body.equals(kernel.subarray(1000000, 1001000)));
  const tail = await get(`${url}files/kernel`, { range: 'bytes=-4096' });
  t.true(tail.body.equals(kernel.subarray(kernel.length - 4096)));
  const past = await get(`${url}files/kernel`, { range: `bytes=${kernel.length}-` });
  t.is(past.status, 416);
  t.is(past.headers['content-range'], `bytes */${kernel.length}`);
  const missing = await get(`${url}files/nope`);
  t.is(missing.status, 404);
  t.regex(missing.body.toString(), /\/files\/kernel/);
  t.is((await get(`${url}files/kernel`, {}, 'DELETE')).status, 405);
  t.like(JSON.parse((await get(`${url}metadata.json`)).body), { cmdline: container.metadata.cmdline });
  const script = (await get(`${url}boot.ipxe`)).body.toString();
  t.regex(script, /^#!ipxe\n/);
  t.true(script.includes(`kernel files/kernel initrd=initrd ${container.metadata.cmdline}\n`), script);
  t.regex(script, /\ninitrd files\/initrd\nboot\n/);

  // A machine with nothing: QEMU's iPXE ROM on a virtio NIC, told where the script is.
  const port = new URL(url).port;
  const qemu = spawn('qemu-system-x86_64', ['-nodefaults', '-no-user-config', '-machine', 'pc', '-accel', 'tcg', '-m', '512M',
    '-netdev', `user,id=n0,bootfile=http://10.0.2.2:${port}/boot.ipxe`, '-device', 'virtio-net-pci,netdev=n0',
    '-boot', 'n', '-serial', 'stdio', '-display', 'none', '-no-reboot'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => qemu.kill('SIGKILL'));
  const started = Date.now();
  const marker = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no marker within 120 s; the guest printed:\n${out.slice(-2000)}`)), 120_000);
    qemu.stdout.on('data', (d) => {
      out += d;
      if (out.includes(DEMO_MARKER)) { clearTimeout(timer); resolve(Date.now() - started); }
    });
  });
  t.log(`net boot: the demo's marker ${marker} ms after QEMU started`);
  qemu.kill('SIGKILL');
  const served = events.filter((e) => e.type === 'request' && e.status === 200).map((e) => `${e.path} ${e.bytes}`);
  t.true(served.includes('/boot.ipxe ' + Buffer.byteLength(script)), served.join(', '));
  t.true(served.includes(`/files/kernel ${kernel.length}`), served.join(', '));
  t.true(served.includes(`/files/initrd ${(await container.read('initrd')).length}`), served.join(', '));

  child.kill('SIGTERM');
  const code = await new Promise((resolve) => child.on('close', resolve));
  t.is(code, 0);
  t.like(events.at(-1), { type: 'closed', signal: 'SIGTERM' });
  t.deepEqual(await leftovers(root, [], 5000), []);
});

btest.serial('serve: a container that is not there, and a port already taken, are clear errors', async (t) => {
  const { root, env } = runtimeEnv(t);
  const run = (...args) => new Promise((resolve) => {
    const c = spawn(process.execPath, [cli, 'serve', ...args], { env: { ...process.env, ...env } });
    let err = '';
    c.stderr.on('data', (d) => { err += d; });
    c.on('close', (code) => resolve({ code, err }));
  });
  const gone = await run('/nonexistent/x.rts.png');
  t.is(gone.code, 1);
  t.regex(gone.err, /no such file/);
  const busy = http.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => busy.once('listening', r));
  t.teardown(() => busy.close());
  const taken = await run(await demoContainer(), '--port', String(busy.address().port));
  t.is(taken.code, 1);
  t.regex(taken.err, /EADDRINUSE.*--port 0 picks a free one/);
  // The mount made before the port was found taken is gone with its directory.
  t.deepEqual(await leftovers(root, [], 2000), []);
});
