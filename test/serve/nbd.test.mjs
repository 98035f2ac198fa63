// pixelrts serve --nbd (#17): a container's files as NBD exports through nbdkit and the pixelrts
// plugin (native/nbd/), with real clients: nbdinfo, nbdcopy, qemu-img, a QEMU that boots an ISO
// from nbd://, and a small NBD client of the tests' own (helpers/nbd-client.mjs) for reads at
// any offset and the errno of each. A large container goes through the decoded cache (verified
// against the hash tree band by band), a small one through the in-memory decode (each file
// checked against its sha256 before it is served).
import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import { needs } from '../helpers/prereq.mjs';
import { cli, leftovers, runtimeEnv } from '../helpers/boot.mjs';
import { tempDir, waitGone } from '../helpers/qemu.mjs';
import { firmwareImagesMissing, isoContainer } from '../helpers/machine-images.mjs';
import { NbdClient, FLAG_READ_ONLY, FLAG_CAN_MULTI_CONN } from '../helpers/nbd-client.mjs';
import {
  LARGE_DISK_SIZE, childrenOf, commOf, diskContainer, fileSha256, nbdMissing, pluginPath, startNbdServe, tamperedCopy,
} from '../helpers/nbd.mjs';

const require = createRequire(import.meta.url);
const { DEMO_MARKER } = require('../../dist/demo/image.js');
const run = promisify(execFile);
const ntest = needs(test, nbdMissing());
const qtest = needs(test, nbdMissing() ?? firmwareImagesMissing());

const SMALL_DISK_SIZE = 3 * 1024 * 1024 + 3 * 512;

/** A private decoded cache and runtime directory for one test: { env, root, cacheDir }. */
function serveEnv(t) {
  const { root, env } = runtimeEnv(t);
  const cacheDir = tempDir(t, 'pixelrts-nbd-cache-');
  return { root, cacheDir, env: { ...env, PIXELRTS_CACHE_DIR: cacheDir } };
}

const hostPort = (uri) => { const u = new URL(uri); return [u.hostname, Number(u.port)]; };

/** sha256 of what `nbdcopy URI -` writes. */
function nbdcopyHash(uri) {
  return new Promise((resolve, reject) => {
    const c = spawn('nbdcopy', [uri, '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const h = crypto.createHash('sha256');
    let err = '';
    c.stdout.on('data', (d) => h.update(d));
    c.stderr.on('data', (d) => { err += d; });
    c.on('close', (code) => (code === 0 ? resolve(h.digest('hex')) : reject(Object.assign(new Error(`nbdcopy exited ${code}: ${err}`), { stderr: err }))));
  });
}

function fileBytes(file, offset, length) {
  const b = Buffer.alloc(length);
  const fd = fs.openSync(file, 'r');
  try { fs.readSync(fd, b, 0, length, offset); } finally { fs.closeSync(fd); }
  return b;
}

/** SIGTERM, exit 0, the closed event, and nothing left: no nbdkit, no mount, no runtime directory. */
async function stopCleanly(t, serve, root) {
  const nbdkit = childrenOf(serve.child.pid).filter((p) => commOf(p) === 'nbdkit');
  t.is(nbdkit.length, 1, 'serve runs one nbdkit');
  serve.child.kill('SIGTERM');
  const code = await new Promise((resolve) => serve.child.on('close', resolve));
  t.is(code, 0, serve.stderr());
  t.like(serve.events.at(-1), { type: 'closed', signal: 'SIGTERM' });
  t.deepEqual(await leftovers(root, nbdkit, 5000), []);
}

ntest.serial('a large container: nbdinfo lists every file, nbdcopy and qemu-img copy the disk byte for byte, four clients at once, through the shared decoded cache', async (t) => {
  t.timeout(300000);
  const { container, disk, kernel } = await diskContainer(LARGE_DISK_SIZE, 'large');
  const { root, env, cacheDir } = serveEnv(t);
  const serve = await startNbdServe(t, container, env);
  const exports = serve.listening.nbd;
  t.deepEqual(exports.map((e) => [e.name, e.type, e.size]), [['kernel', 'kernel', 300_001], ['disk', 'disk', LARGE_DISK_SIZE]]);
  const uri = exports.find((e) => e.name === 'disk').uri;
  t.regex(uri, /^nbd:\/\/127\.0\.0\.1:\d+\/disk$/);
  const [host, port] = hostPort(uri);

  const { stdout } = await run('nbdinfo', ['--json', '--list', `nbd://${host}:${port}`]);
  const listed = JSON.parse(stdout).exports;
  t.deepEqual(listed.map((e) => [e['export-name'], e['export-size'], e.is_read_only, e.can_multi_conn]),
    [['kernel', 300_001, true, true], ['disk', LARGE_DISK_SIZE, true, true]]);

  const want = await fileSha256(disk);
  const started = Date.now();
  t.is(await nbdcopyHash(uri), want, 'nbdcopy of the disk export equals the disk');
  t.log(`nbdcopy of ${LARGE_DISK_SIZE} bytes, cold: ${Date.now() - started} ms`);
  t.is(await nbdcopyHash(exports[0].uri), await fileSha256(kernel));

  // QEMU's own NBD client.
  const out = path.join(tempDir(t), 'disk.raw');
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri, out]);
  t.is(await fileSha256(out), want, 'qemu-img convert of nbd:// equals the disk');
  fs.rmSync(out);

  // Four clients at once: four nbdcopy runs, and four of ours reading odd ranges in parallel.
  const four = await Promise.all([0, 1, 2, 3].map(() => nbdcopyHash(uri)));
  t.deepEqual(four, [want, want, want, want]);
  const clients = await Promise.all([0, 1, 2, 3].map(() => NbdClient.connect(host, port, 'disk')));
  t.true((clients[0].flags & FLAG_READ_ONLY) !== 0 && (clients[0].flags & FLAG_CAN_MULTI_CONN) !== 0);
  await Promise.all(clients.map(async (c, i) => {
    let x = 12345 + i;
    for (let n = 0; n < 64; n++) {
      x = (x * 1103515245 + 12345) >>> 0;
      const length = 1 + (x % 200_000);
      const offset = (x * 7919) % (LARGE_DISK_SIZE - length);
      const got = await c.read(offset, length);
      if (!got.equals(fileBytes(disk, offset, length))) t.fail(`client ${i}: [${offset}, ${offset + length}) differs`);
    }
    const last = await c.read(LARGE_DISK_SIZE - 10, 10);
    t.true(last.equals(fileBytes(disk, LARGE_DISK_SIZE - 10, 10)));
  }));
  await Promise.all(clients.map((c) => c.close()));

  // The plugin decoded into the library's cache entry: the library finds every band there.
  const { open } = require('../../dist/codec/container.js');
  const { native } = require('../../dist/native.js');
  const c = await open(container, { cacheDir });
  t.true(c.verifiedReads);
  const h = c.payload();
  t.is(await h.waitReadyAsync(0, c.payloadSize), 0);
  t.is(native().payloadProgress(h).bandsDecoded, 0, 'the library decoded no band the plugin had decoded');
  native().payloadCancel(h);

  await stopCleanly(t, serve, root);
});

ntest.serial('a small container (decoded in memory, files checked against their sha256): exports, default export, odd reads, unknown export', async (t) => {
  t.timeout(120000);
  const { container, disk, kernel } = await diskContainer(SMALL_DISK_SIZE, 'small');
  const { root, env } = serveEnv(t);
  const serve = await startNbdServe(t, container, env);
  const [host, port] = hostPort(serve.listening.nbd[0].uri);
  t.is(await nbdcopyHash(serve.listening.nbd.find((e) => e.name === 'disk').uri), await fileSha256(disk));
  t.is(await nbdcopyHash(serve.listening.nbd.find((e) => e.name === 'kernel').uri), await fileSha256(kernel));
  const dflt = await NbdClient.connect(host, port, '');
  t.is(dflt.size, SMALL_DISK_SIZE, 'a client that names no export gets the disk');
  for (const [o, n] of [[0, 1], [4095, 3], [SMALL_DISK_SIZE - 1, 1], [1_000_003, 65_537]]) {
    t.true((await dflt.read(o, n)).equals(fileBytes(disk, o, n)), `[${o}, ${o + n})`);
  }
  // Past the end: EINVAL from nbdkit, the connection goes on.
  await t.throwsAsync(dflt.read(SMALL_DISK_SIZE - 1, 2), { message: /EINVAL/ });
  t.true((await dflt.read(0, 8)).equals(fileBytes(disk, 0, 8)));
  await dflt.close();

  const refused = await t.throwsAsync(NbdClient.connect(host, port, 'no-such-file'));
  t.regex(refused.message, /refused export "no-such-file"/);
  const nbdinfo = await t.throwsAsync(run('nbdinfo', [`nbd://${host}:${port}/no-such-file`]));
  t.regex(nbdinfo.stderr, /no-such-file/);
  await new Promise((r) => setTimeout(r, 200));
  const warning = serve.events.find((e) => e.type === 'warning' && /no export "no-such-file"/.test(e.message));
  t.truthy(warning, JSON.stringify(serve.events));
  t.regex(warning.message, /its exports are "kernel", "disk"/);
  t.is(warning.code, 'ERR_PIXELRTS_NBD');
  await stopCleanly(t, serve, root);
});

ntest.serial('a tampered container: the client gets EIO for the blocks that fail the hash tree, right bytes everywhere else, never wrong ones', async (t) => {
  t.timeout(120000);
  const { container, disk } = await diskContainer(LARGE_DISK_SIZE, 'large');
  // Inside a stored deflate block (not on a band's zlib header): a changed pixel that inflates
  // fine, which only the hash tree can tell.
  const file = tamperedCopy(container, path.join(tempDir(t), 'tampered.rts.png'), 0.5037);
  const { root, env } = serveEnv(t);
  const serve = await startNbdServe(t, file, env);
  const uri = serve.listening.nbd.find((e) => e.name === 'disk').uri;
  const [host, port] = hostPort(uri);
  const c = await NbdClient.connect(host, port, 'disk');
  let failed = 0;
  let served = 0;
  for (let o = 0; o < LARGE_DISK_SIZE; o += 1 << 20) {
    const n = Math.min(65536, LARGE_DISK_SIZE - o);
    try {
      const got = await c.read(o, n);
      if (!got.equals(fileBytes(disk, o, n))) t.fail(`[${o}, ${o + n}) was served wrong`);
      served++;
    } catch (err) {
      t.is(err.code, 'EIO');
      failed++;
    }
  }
  await c.close();
  t.log(`${failed} of ${failed + served} reads failed with EIO, the rest served right`);
  t.true(failed > 0 && served > failed);
  // nbdcopy stops at the bad block rather than copying it.
  const copy = await t.throwsAsync(nbdcopyHash(uri));
  t.regex(copy.stderr, /Input\/output error/);
  await new Promise((r) => setTimeout(r, 200));
  const warning = serve.events.find((e) => e.type === 'warning' && /do not match the hash tree/.test(e.message));
  t.truthy(warning, 'serve says which bytes failed');
  t.regex(warning.message, /"disk" bytes \[\d+, \d+\): .*tampered\.rts\.png: payload bytes \[\d+, \d+\) do not match the hash tree/);
  await stopCleanly(t, serve, root);
});

ntest.serial('a tampered small container: the damaged file is not served (its sha256 does not match, or the image data does not inflate)', async (t) => {
  t.timeout(120_000);
  const { container, kernel } = await diskContainer(SMALL_DISK_SIZE, 'small');
  // 0.7 of the way through the image data lies a byte of the disk (as verify() says of this
  // fixture). The in-memory decode then either inflates the band and the disk fails its
  // sha256, or (seen from run to run: the codec's decoders race to the first failure) stops at
  // the stream's checksum: either way the disk is refused, never served.
  const file = tamperedCopy(container, path.join(tempDir(t), 'tampered-small.rts.png'), 0.7);
  const { root, env } = serveEnv(t);
  const serve = await startNbdServe(t, file, env);
  const byName = Object.fromEntries(serve.listening.nbd.map((e) => [e.name, e.uri]));
  const refused = await t.throwsAsync(nbdcopyHash(byName.disk));
  t.regex(refused.stderr, /no export named 'disk'|Input\/output error/);
  const kernelCopy = await nbdcopyHash(byName.kernel).catch(() => null);
  if (kernelCopy !== null) t.is(kernelCopy, await fileSha256(kernel), 'the kernel, when served, is right');
  await new Promise((r) => setTimeout(r, 200));
  const warning = serve.events.find((e) => e.type === 'warning' && /"disk"/.test(e.message));
  t.truthy(warning, JSON.stringify(serve.events));
  t.regex(warning.message, /"disk" sha256 does not match|"disk" bytes \[0, \d+\): .*cannot be decoded/);
  await stopCleanly(t, serve, root);
});

ntest.serial('read-only: writes are refused; with --nbd-cow they land in an overlay the clients share and the container never changes', async (t) => {
  t.timeout(120000);
  const { container, disk } = await diskContainer(SMALL_DISK_SIZE, 'small');
  const before = { sha: await fileSha256(container), mtime: fs.statSync(container).mtimeMs };
  const { root, env } = serveEnv(t);
  const ro = await startNbdServe(t, container, env);
  const [host, port] = hostPort(ro.listening.nbd[0].uri);
  const c = await NbdClient.connect(host, port, 'disk');
  await t.throwsAsync(c.write(0, Buffer.alloc(4096, 1)), { message: /EPERM/ });
  await c.close();
  const qemuIo = await t.throwsAsync(run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x55 0 4096', `nbd://${host}:${port}/disk`]));
  t.regex(`${qemuIo.stdout}${qemuIo.stderr}`, /read.only|Permission denied|not permitted/i);
  await stopCleanly(t, ro, root);

  const cow = await startNbdServe(t, container, env, ['--nbd-cow']);
  const [h2, p2] = hostPort(cow.listening.nbd[0].uri);
  const w = await NbdClient.connect(h2, p2, 'disk');
  t.is(w.flags & FLAG_READ_ONLY, 0);
  const pattern = crypto.randomBytes(8192);
  await w.write(1_048_576 + 100, pattern);
  t.true((await w.read(1_048_576 + 100, 8192)).equals(pattern));
  const other = await NbdClient.connect(h2, p2, 'disk');
  t.true((await other.read(1_048_576 + 100, 8192)).equals(pattern), 'a second client sees the overlay');
  t.true((await other.read(0, 4096)).equals(fileBytes(disk, 0, 4096)), 'bytes not written come from the container');
  await Promise.all([w.close(), other.close()]);
  await stopCleanly(t, cow, root);
  t.deepEqual({ sha: await fileSha256(container), mtime: fs.statSync(container).mtimeMs }, before, 'the container was not written');
});

ntest.serial('SIGKILL of pixelrts serve takes nbdkit with it: the process, the port and the runtime directory are gone', async (t) => {
  t.timeout(120000);
  const { container } = await diskContainer(SMALL_DISK_SIZE, 'small');
  const { root, env } = serveEnv(t);
  const serve = await startNbdServe(t, container, env, ['--nbd-port', '0']);
  const [host, port] = hostPort(serve.listening.nbd[0].uri);
  const nbdkit = childrenOf(serve.child.pid).filter((p) => commOf(p) === 'nbdkit');
  t.is(nbdkit.length, 1);
  const c = await NbdClient.connect(host, port, 'disk');
  serve.child.kill('SIGKILL');
  t.true(await waitGone(nbdkit[0], 5000), 'nbdkit exits with its parent');
  await t.throwsAsync(c.read(0, 4096));
  const refused = await new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (err) => resolve(err.code === 'ECONNREFUSED'));
  });
  t.true(refused, `port ${port} is closed`);
  t.deepEqual(await leftovers(root, nbdkit, 10_000), []);
});

ntest.serial('clear errors: no nbdkit on PATH, a port taken, and the plugin given a bad configuration', async (t) => {
  t.timeout(120000);
  const { container } = await diskContainer(SMALL_DISK_SIZE, 'small');
  const { root, env } = serveEnv(t);
  const runServe = (args, extraEnv = {}) => new Promise((resolve) => {
    const c = spawn(process.execPath, [cli, 'serve', container, ...args], { env: { ...process.env, ...env, ...extraEnv } });
    let err = '';
    c.stderr.on('data', (d) => { err += d; });
    c.on('close', (code) => resolve({ code, err }));
  });
  // No nbdkit on PATH.
  const { open } = require('../../dist/codec/container.js');
  const { startNbd } = require('../../dist/serve/nbd.js');
  const savedPath = process.env.PATH;
  process.env.PATH = tempDir(t);
  const missing = await startNbd(await open(container), tempDir(t), '127.0.0.1').catch((err) => err).finally(() => { process.env.PATH = savedPath; });
  t.is(missing.code, 'ERR_PIXELRTS_DEPENDENCY');
  t.regex(missing.message, /needs nbdkit, which is not on PATH: install it \(Debian\/Ubuntu `apt-get install nbdkit`/);

  const busy = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => busy.once('listening', r));
  t.teardown(() => busy.close());
  const taken = await runServe(['--nbd-port', String(busy.address().port)]);
  t.is(taken.code, 1);
  t.regex(taken.err, /cannot serve NBD on 127\.0\.0\.1:\d+: the port is taken/);
  t.deepEqual(await leftovers(root, [], 5000), [], 'nothing left after a failed start');

  // The plugin itself: each bad configuration is refused before it listens, saying why.
  const dir = tempDir(t);
  const table = path.join(dir, 'exports');
  fs.writeFileSync(table, 'pixelrts-nbd-exports 1\ndisk - 0:100 disk\n');
  const plugin = (...args) => run('nbdkit', ['--foreground', '--port', '0', pluginPath, ...args]).then(() => '', (err) => err.stderr);
  t.regex(await plugin(), /container=, exports= and payload-size= are required/);
  t.regex(await plugin('container=/nonexistent.rts.png', `exports=${table}`, 'payload-size=100'), /container=\/nonexistent\.rts\.png: No such file/);
  t.regex(await plugin(`container=${container}`, `exports=${dir}/none`, 'payload-size=100'), /cannot read the export table/);
  fs.writeFileSync(table, 'pixelrts-nbd-exports 1\ndisk - 0:100 disk\ndisk - 100:100 disk\n');
  t.regex(await plugin(`container=${container}`, `exports=${table}`, 'payload-size=1000'), /line 3: the export "disk" is listed twice/);
  fs.writeFileSync(table, 'pixelrts-nbd-exports 1\ndisk - 0:100,x disk\n');
  t.regex(await plugin(`container=${container}`, `exports=${table}`, 'payload-size=1000'), /line 2: the extents "0:100,x" are not OFFSET:LENGTH/);
  fs.writeFileSync(table, 'pixelrts-nbd-exports 1\ndisk - 900:200 disk\n');
  t.regex(await plugin(`container=${container}`, `exports=${table}`, 'payload-size=1000'), /bytes \[900, 1100\) outside the 1000-byte payload/);
  t.regex(await plugin(`container=${container}`, `exports=${table}`, 'payload-size=x'), /payload-size/);
  t.regex(await plugin(`container=${container}`, `exports=${table}`, 'payload-size=2000', 'colour=blue'), /unknown parameter 'colour'/);
  // A payload size the image cannot hold: refused when the payload is opened.
  fs.writeFileSync(table, 'pixelrts-nbd-exports 1\ndisk - 0:100 disk\n');
  t.regex(await plugin(`container=${container}`, `exports=${table}`, `payload-size=${2 ** 40}`), /payload|exceeds|storedSize/);
});

qtest.serial('a QEMU boots the demo ISO from nbd:// (a CD-ROM drive on the export, read-only)', async (t) => {
  t.timeout(300000);
  const iso = await isoContainer();
  const { root, env } = serveEnv(t);
  const serve = await startNbdServe(t, iso, env);
  const cdrom = serve.listening.nbd.find((e) => e.name === 'cdrom');
  t.truthy(cdrom, JSON.stringify(serve.listening.nbd));
  const qemu = spawn('qemu-system-x86_64', ['-nodefaults', '-no-user-config', '-machine', 'pc', '-accel', 'tcg', '-m', '512M',
    '-drive', `file=${cdrom.uri},format=raw,if=ide,media=cdrom,readonly=on`, '-boot', 'd',
    '-serial', 'stdio', '-display', 'none', '-no-reboot'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => qemu.kill('SIGKILL'));
  const started = Date.now();
  let err = '';
  qemu.stderr.on('data', (d) => { err += d; });
  const marker = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no marker within 180 s; QEMU said ${err}; the guest printed:\n${out.slice(-2000)}`)), 180_000);
    qemu.on('close', (code) => { clearTimeout(timer); reject(new Error(`QEMU exited ${code} before the marker: ${err}\n${out.slice(-2000)}`)); });
    qemu.stdout.on('data', (d) => {
      out += d;
      if (out.includes(DEMO_MARKER)) { clearTimeout(timer); resolve(Date.now() - started); }
    });
  });
  t.log(`boot from nbd://: the demo's marker ${marker} ms after QEMU started (TCG)`);
  qemu.kill('SIGKILL');
  await stopCleanly(t, serve, root);
});

ntest.serial('containers the original encoder wrote: a zlib payload, and one on the legacy transposed curve, are served right', async (t) => {
  t.timeout(120_000);
  const { encodeLikeOriginal, prng } = await import('../helpers/reference-codec.mjs');
  const dir = tempDir(t);
  const payload = prng('nbd-original', 300_007);
  const { root, env } = serveEnv(t);
  for (const [label, options] of [['zlib', { compress: true }], ['transposed', { transposed: true }]]) {
    const file = path.join(dir, `${label}.rts.png`);
    fs.writeFileSync(file, encodeLikeOriginal(payload, { ...options, metadata: { name: 'blob' } }));
    const serve = await startNbdServe(t, file, env);
    t.deepEqual(serve.listening.nbd.map((e) => [e.name, e.size]), [['blob', payload.length]], label);
    t.is(await nbdcopyHash(serve.listening.nbd[0].uri), crypto.createHash('sha256').update(payload).digest('hex'), label);
    await stopCleanly(t, serve, root);
  }
});

test('the export table: every file, its type, sha256 and extents; names NBD cannot carry are left out', (t) => {
  const { exportTable } = require('../../dist/serve/nbd.js');
  const fake = { files: [
    { name: 'kernel', type: 'kernel', size: 10, offset: 0, sha256: 'a'.repeat(64), extents: [[0, 10]] },
    { name: 'my disk', type: 'disk image', size: 20, offset: 10, extents: [[10, 5], [40, 15]] },
    { name: 'empty', type: 'data', size: 0, offset: 0, extents: [] },
    { name: 'bad\nname', type: 'data', size: 1, offset: 0, extents: [[0, 1]] },
  ] };
  const { text, skipped } = exportTable(fake);
  t.is(text, `pixelrts-nbd-exports 1\nkernel ${'a'.repeat(64)} 0:10 kernel\ndisk-image - 10:5,40:15 my disk\ndata - - empty\n`);
  t.deepEqual(skipped, ['bad\nname']);
});
