// Containers read on demand from an http:// URL (#17), from Debian's nginx: only the blocks a
// command or a guest reads are fetched (range requests pinned to one version), each tile checked
// against the hash tree before it is served, kept for the next run; faults injected by a proxy
// between client and server cost retries, never a wrong byte; a file replaced on the server is an
// error, not a mix; containers that cannot be checked block by block are fetched whole and say why.
import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import { commandMissing, needs, vectorsDir, vectorsMissing } from '../helpers/prereq.mjs';
import { bootMissing, cli, demoContainer, leftovers, parseNdjson, runtimeDirs, runtimeEnv, startCli } from '../helpers/boot.mjs';
import { fuseMissing, mountsUnder } from '../helpers/fuse.mjs';
import { startFaultProxy, startNginx } from '../helpers/nginx.mjs';
import { DISK_BYTES, diskDemoContainer, remoteScratch } from '../helpers/remote.mjs';

const require = createRequire(import.meta.url);
const { openRemoteSource } = require('../../dist/boot/remote-source.js');
const { boot } = require('../../dist/boot/boot.js');
const { open } = require('../../dist/codec/container.js');
const { DEMO_MARKER } = require('../../dist/demo/image.js');

const ntest = needs(test, commandMissing('nginx', 'nginx') ?? fuseMissing() ?? bootMissing());
const vtest = needs(test, commandMissing('nginx', 'nginx') ?? fuseMissing() ?? vectorsMissing());

const sha = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

/** `pixelrts ARGS` with the test's own runtime and cache directories. */
function runner(t, dir) {
  const { root, env } = runtimeEnv(t);
  const run = (...args) => spawnSync(process.execPath, [cli, ...args], {
    encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env, XDG_CACHE_HOME: path.join(dir, 'xdg-cache') },
  });
  return { root, run };
}

/** `pixelrts ARGS` without blocking this process (for servers that run in it); rejects on a failure. */
const runAsync = (dir, ...args) => promisify(execFile)(process.execPath, [cli, ...args],
  { encoding: 'utf8', timeout: 60_000, env: { ...process.env, XDG_CACHE_HOME: path.join(dir, 'xdg-cache') } });

/** The disk demo served by nginx at `url`, with its local copy. */
async function servedDiskDemo(t) {
  const { dir, site } = remoteScratch(t);
  const local = path.join(site, 'disk.rts.png');
  fs.copyFileSync(await diskDemoContainer(), local);
  const nginx = await startNginx(t, site);
  return { dir, site, local, nginx, url: `${nginx.url}/disk.rts.png`, size: fs.statSync(local).size };
}

ntest.serial('info and extract of a URL fetch only what they read; the bytes are the local ones; a second run and a run without the server need no network', async (t) => {
  const { dir, local, nginx, url, size } = await servedDiskDemo(t);
  const { root, run } = runner(t, dir);

  const info = run('info', url, '--json');
  t.is(info.status, 0, info.stderr);
  const ev = parseNdjson(info.stdout);
  t.like(ev[0], { type: 'remote', url, mode: 'on-demand' });
  t.is(ev[1].type, 'container');
  t.deepEqual(ev[1].files.map((f) => f.name), ['kernel', 'initrd', 'disk']);
  const infoBytes = ev.at(-1).bytes;
  t.like(ev.at(-1), { type: 'fetched', url });
  // The head, the band index and the metadata: a few blocks of a 58 MB file.
  t.true(infoBytes > 0 && infoBytes < size / 20, `info fetched ${infoBytes} of ${size}`);

  const out = path.join(dir, 'initrd.out');
  const ex = run('extract', url, '--segment', 'initrd', '-o', out, '--json');
  t.is(ex.status, 0, ex.stderr);
  const want = await (await open(local, { cacheDir: false })).read('initrd');
  t.is(sha(fs.readFileSync(out)), sha(want), 'the extracted initrd is the local one, byte for byte');
  const exBytes = parseNdjson(ex.stdout).find((e) => e.type === 'fetched').bytes;
  t.true(exBytes < size / 2, `extract of the initrd fetched ${exBytes} of ${size}`);

  // Everything read so far is in the cache: the same commands again send only the version probe.
  const requests = () => nginx.accessLog().split('\n').filter(Boolean).length;
  const before = requests();
  const again = run('extract', url, '--segment', 'initrd', '-o', out, '--json');
  t.is(again.status, 0, again.stderr);
  t.like(parseNdjson(again.stdout).find((e) => e.type === 'fetched'), { bytes: 0, requests: 0 });
  t.is(requests() - before, 1, 'one request: the version probe');

  // The server gone: the cached copy alone, with a warning, for what was read before.
  await nginx.stop();
  const offline = run('extract', url, '--segment', 'initrd', '-o', out, '--json');
  t.is(offline.status, 0, offline.stderr);
  const oev = parseNdjson(offline.stdout);
  t.regex(oev.find((e) => e.type === 'warning').message, /cannot be reached.*cached earlier/);
  t.is(sha(fs.readFileSync(out)), sha(want));
  // What was never read cannot be read offline: a clear error, after the retries.
  const disk = run('extract', url, '--segment', 'disk', '-o', path.join(dir, 'disk.out'));
  t.is(disk.status, 1);
  t.regex(disk.stderr, /ERR_PIXELRTS_FETCH|Connection refused|couldn't connect|check the URL and the network/i);
  t.false(fs.existsSync(path.join(dir, 'disk.out')), 'no partial output');
  t.deepEqual(await leftovers(root, [], 3000), []);

  // `pixelrts cache` lists what is kept of the URL, and prune --all removes it.
  const list = run('cache', 'list', '--json');
  t.is(list.status, 0, list.stderr);
  const kept = parseNdjson(list.stdout).find((e) => e.type === 'remote');
  t.like(kept, { url, size });
  t.true(kept.diskBytes > 0);
  const prune = run('cache', 'prune', '--all', '--json');
  t.is(prune.status, 0, prune.stderr);
  t.like(parseNdjson(prune.stdout).find((e) => e.type === 'removed-remote'), { url });
  t.deepEqual(fs.readdirSync(path.join(dir, 'xdg-cache', 'pixelrts', 'remote')).filter((f) => /\.data|lazy/.test(f)), []);
});

ntest.serial('faults between client and server (cut, stalled, refused) cost retries and never a wrong byte; a server that never answers is a clear error', async (t) => {
  const { dir, local, nginx, size } = await servedDiskDemo(t);
  const upstream = Number(new URL(nginx.url).port);
  // Connection 0 is the version probe's. Connection 1 is cut after 300 KiB, 2 stalls after
  // 200 KiB, 3 is cut at once; the rest pass.
  const proxy = await startFaultProxy(t, upstream,
    (n) => (n === 1 ? { cutAfter: 300 << 10 } : n === 2 ? { stallAfter: 200 << 10 } : n === 3 ? { cutAfter: 0 } : null));
  const src = await openRemoteSource(`${proxy.url}/disk.rts.png`, { cacheDir: path.join(dir, 'remote'), stallTimeout: 2000 });
  t.teardown(() => src.close());
  t.is(src.mode, 'on-demand');
  const c = await open(src.path, { ...src.openOptions, cacheDir: path.join(dir, 'decoded') });
  const disk = await c.read('disk');
  const want = await (await open(local, { cacheDir: false })).read('disk');
  t.is(disk.length, DISK_BYTES);
  t.is(sha(disk), sha(want), 'the disk read through the faults is byte for byte the file\'s');
  const stats = src.stats();
  t.true(stats.retries >= 2, `retries: ${stats.retries}`);
  t.true(proxy.connections() >= 5, `connections: ${proxy.connections()}`);
  t.true(stats.bytesFetched < size + (2 << 20), `fetched ${stats.bytesFetched} of ${size}`);
  t.is(stats.failure, undefined);
  await src.close();

  // The version probe answered, then every connection cut before a byte: the retries run out,
  // and opening fails with what the network did, not an I/O error; nothing stays mounted.
  const { root } = runtimeEnv(t);
  const savedRuntime = process.env.XDG_RUNTIME_DIR;
  process.env.XDG_RUNTIME_DIR = path.dirname(root);
  t.teardown(() => { process.env.XDG_RUNTIME_DIR = savedRuntime; });
  const dead = await startFaultProxy(t, upstream, (n) => (n === 0 ? null : { cutAfter: 0 }));
  const err = await t.throwsAsync(() => openRemoteSource(`${dead.url}/disk.rts.png`, { cacheDir: path.join(dir, 'remote2'), stallTimeout: 2000, retries: 2 }));
  t.is(err.code, 'ERR_PIXELRTS_FETCH');
  t.regex(err.message, /Empty reply from server \(after 3 attempts\); check the URL and the network/);
  t.deepEqual(await leftovers(root, [], 3000), []);
});

ntest.serial('a file replaced on the server while it is read is an error naming both versions, never a mix', async (t) => {
  const { dir, site, url } = await servedDiskDemo(t);
  const src = await openRemoteSource(url, { cacheDir: path.join(dir, 'remote') });
  t.teardown(() => src.close());
  const c = await open(src.path, { ...src.openOptions, cacheDir: path.join(dir, 'decoded') });
  // A new version: other bytes under the same name (nginx's ETag is its mtime and size).
  fs.copyFileSync(await demoContainer(), path.join(site, 'disk.rts.png.new'));
  fs.chmodSync(path.join(site, 'disk.rts.png.new'), 0o644);
  fs.renameSync(path.join(site, 'disk.rts.png.new'), path.join(site, 'disk.rts.png'));
  await t.throwsAsync(() => c.read('disk'));
  const failure = src.stats().failure;
  t.is(failure.code, 'ERR_PIXELRTS_FETCH_CHANGED');
  t.regex(failure.message, /changed on the server.*run the command again/i);
});

vtest.serial('a container without a hash tree is fetched whole and says why; so is one from a server without ranges', async (t) => {
  const { dir, site } = remoteScratch(t);
  fs.copyFileSync(path.join(vectorsDir, 'e_multiseg.rts.png'), path.join(site, 'e.rts.png'));
  const nginx = await startNginx(t, site);
  const { run } = runner(t, dir);
  const r = run('info', `${nginx.url}/e.rts.png`, '--json');
  t.is(r.status, 0, r.stderr);
  const ev = parseNdjson(r.stdout);
  t.like(ev[0], { type: 'remote', mode: 'whole' });
  t.regex(ev[0].reason, /no hash tree.*verified whole/);
  const local = await open(path.join(site, 'e.rts.png'), { cacheDir: false });
  t.deepEqual(ev.find((e) => e.type === 'container').files.map((f) => f.name), local.files.map((f) => f.name));

  // A real HTTP server that ignores Range (answers 200 with the whole file).
  const body = fs.readFileSync(await demoContainer());
  const plain = http.createServer((req, res) => {
    res.writeHead(200, { 'content-length': body.length, 'content-type': 'image/png' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise((resolve) => plain.listen(0, '127.0.0.1', resolve));
  t.teardown(() => plain.close());
  const url = `http://127.0.0.1:${plain.address().port}/demo.rts.png`;
  // The server is in this process: the CLI runs without blocking it.
  const w = await runAsync(dir, 'info', url, '--json');
  t.like(parseNdjson(w.stdout)[0], { type: 'remote', mode: 'whole', reason: 'the server does not serve byte ranges' });
});

ntest.serial('pixelrts boot http://… boots the demo read on demand; the first console line says what was fetched; nothing is left', async (t) => {
  const { dir, site } = remoteScratch(t);
  fs.copyFileSync(await demoContainer(), path.join(site, 'demo.rts.png'));
  const nginx = await startNginx(t, site);
  const { root, run } = runner(t, dir);
  const url = `${nginx.url}/demo.rts.png`;
  const r = run('boot', url, '--json', '--accel', 'tcg', '--append', 'pixelrts.demo=oneshot');
  t.is(r.status, 0, r.stderr);
  const events = parseNdjson(r.stdout);
  t.like(events.find((e) => e.type === 'stage' && e.stage === 'remote' && e.status === 'done'), { detail: 'read on demand' });
  const first = events.find((e) => e.type === 'stage' && e.stage === 'first-console-line' && e.status === 'done');
  t.regex(first.detail, new RegExp(`^\\d+ bytes fetched from ${url.replace(/[.]/g, '\\.')}$`));
  t.true(events.some((e) => e.type === 'console' && e.line.includes(DEMO_MARKER)));
  t.like(events.at(-1), { type: 'exit', exitCode: 0 });
  t.deepEqual(await leftovers(root, [], 3000), []);
});

ntest.serial('a guest with a disk starts long before the container has arrived; the next boot needs no transfer', async (t) => {
  const { dir, size, url } = await servedDiskDemo(t);
  const { root, env } = runtimeEnv(t);
  const saved = { ...process.env };
  Object.assign(process.env, env, { XDG_CACHE_HOME: path.join(dir, 'xdg-cache') });
  t.teardown(() => { process.env = saved; });
  const firstLine = async () => {
    const vm = await boot(url, { accel: 'tcg', append: 'pixelrts.demo=oneshot' });
    t.teardown(async () => { if (vm.running) await vm.kill(); await vm.exited; });
    t.like(vm.remote, { url, mode: 'on-demand' });
    // The console's first line comes from the guest's kernel: the guest is running.
    const line = vm.console.waitFor(/./, { timeout: 60_000 }).then(() => vm.remote.stats().bytesFetched);
    await vm.console.waitFor(DEMO_MARKER, { timeout: 60_000 });
    const exit = await vm.exited;
    t.is(exit.exitCode, 0);
    return line;
  };
  const cold = await firstLine();
  t.log(`cold boot: ${cold} of ${size} bytes fetched at the guest's first console line`);
  // The kernel and initrd are a quarter of the payload; the Hilbert curve puts them in rows of
  // bands spanning half the image, and nothing is read ahead.
  t.true(cold > 0 && cold < size * 0.6, `fetched ${cold} of ${size} before the guest spoke`);
  const warm = await firstLine();
  t.is(warm, 0, 'the second boot reads everything from the cache');
  t.deepEqual(await leftovers(root, [], 3000), []);
});

ntest.serial('pixelrts mount URL killed with SIGKILL leaves no mount, no runtime directory and no process', async (t) => {
  const { dir, url } = await servedDiskDemo(t);
  const { root, env } = runtimeEnv(t);
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(mnt);
  const m = startCli(t, ['mount', url, mnt], { ...env, XDG_CACHE_HOME: path.join(dir, 'xdg-cache') });
  await m.waitLine(/Press Ctrl-C to unmount/);
  t.is(fs.readFileSync(path.join(mnt, 'initrd')).length, (await (await open(path.join(dir, 'site', 'disk.rts.png'), { cacheDir: false })).file('initrd')).size);
  t.true(runtimeDirs(root).some((d) => d.startsWith('remote-')), 'the remote file is mounted in a runtime directory');
  m.child.kill('SIGKILL');
  await m.done;
  t.deepEqual(await leftovers(root, [m.child.pid], 8000), []);
  t.deepEqual(mountsUnder(mnt), [], 'the container mount is gone too');
});
