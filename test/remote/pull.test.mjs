// `pixelrts pull URL -o FILE` (#17): a local copy becomes the URL's newer version with only the
// bands that changed fetched from Debian's nginx; the result is the remote file byte for byte;
// a current copy costs only its head; no local copy means the whole file; faults cost retries;
// a pull cut short leaves the old version and no temporary file.
import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { commandMissing, needs } from '../helpers/prereq.mjs';
import { bootMissing, cli, parseNdjson } from '../helpers/boot.mjs';
import { startFaultProxy, startNginx } from '../helpers/nginx.mjs';
import { diskDemoContainer, remoteScratch } from '../helpers/remote.mjs';
import { demoImage } from '../helpers/demo-image.mjs';

const require = createRequire(import.meta.url);
const { open } = require('../../dist/codec/container.js');
const { writeContainer } = require('../../dist/codec/writer.js');
const { pull } = require('../../dist/remote/pull.js');

const ptest = needs(test, commandMissing('nginx', 'nginx') ?? bootMissing());
const sha = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** Version 2 of the disk demo: 1 MiB of its disk rewritten (the same size, so nothing moves). */
async function secondVersion(dir) {
  const v1 = await diskDemoContainer();
  const disk = await (await open(v1, { cacheDir: false })).read('disk');
  crypto.randomFillSync(disk, 20 << 20, 1 << 20);
  const diskFile = path.join(dir, 'disk-v2.img');
  fs.writeFileSync(diskFile, disk);
  const demo = await demoImage();
  const v2 = path.join(dir, 'v2.rts.png');
  await writeContainer(v2, [
    { name: 'kernel', type: 'kernel', path: demo.kernelPath },
    { name: 'initrd', type: 'initrd', path: demo.initrdPath },
    { name: 'disk', type: 'disk', path: diskFile },
  ], { name: 'demo-disk', type: 'boot-bundle', cmdline: demo.cmdline });
  fs.rmSync(diskFile);
  return { v1, v2 };
}

function run(dir, ...args) {
  return spawnSync(process.execPath, [cli, ...args], {
    encoding: 'utf8', timeout: 120_000, env: { ...process.env, XDG_CACHE_HOME: path.join(dir, 'xdg-cache') },
  });
}

ptest.serial('pull fetches only the changed bands, and the result is the new version byte for byte; a current copy costs its head; no copy means the whole file', async (t) => {
  const { dir, site } = remoteScratch(t);
  const { v1, v2 } = await secondVersion(dir);
  fs.copyFileSync(v2, path.join(site, 'os.rts.png'));
  const nginx = await startNginx(t, site);
  const url = `${nginx.url}/os.rts.png`;
  const local = path.join(dir, 'os.rts.png');
  fs.copyFileSync(v1, local);
  const size = fs.statSync(v2).size;

  const r = run(dir, 'pull', url, '-o', local, '--json');
  t.is(r.status, 0, r.stderr);
  const ev = parseNdjson(r.stdout)[0];
  t.like(ev, { type: 'pulled', url, path: local, size, unchanged: false });
  t.is(ev.whole, undefined);
  t.true(ev.bandsReused > 0 && ev.bandsFetched > 0, `${ev.bandsFetched} fetched, ${ev.bandsReused} kept`);
  t.true(ev.fetched < size / 3, `pull fetched ${ev.fetched} of ${size} for 1 MiB changed`);
  t.log(`1 MiB of a 40 MiB disk changed: ${ev.fetched} of ${size} bytes fetched, ${ev.bandsFetched} bands fetched, ${ev.bandsReused} kept`);
  t.is(sha(local), sha(v2), 'the local copy is now the remote file, byte for byte');
  const report = await (await open(local)).verify();
  t.true(report.ok);

  const again = run(dir, 'pull', url, '-o', local, '--json');
  t.is(again.status, 0, again.stderr);
  const ev2 = parseNdjson(again.stdout)[0];
  t.like(ev2, { unchanged: true, bandsFetched: 0 });

  const fresh = path.join(dir, 'fresh.rts.png');
  const whole = run(dir, 'pull', url, '-o', fresh);
  t.is(whole.status, 0, whole.stderr);
  t.regex(whole.stdout, /fetched whole \(there is no local copy at .*fresh\.rts\.png\); .* fetched of .* \(\d+\.\d%\)/);
  t.is(sha(fresh), sha(v2));

  const usage = run(dir, 'pull', local);
  t.is(usage.status, 2);
  t.regex(usage.stderr, /pull takes the http\(s\) URL of a container/);
});

ptest.serial('a pull through faults is right; a pull cut short keeps the old version and leaves no temporary file', async (t) => {
  const { dir, site } = remoteScratch(t);
  const { v1, v2 } = await secondVersion(dir);
  fs.copyFileSync(v2, path.join(site, 'os.rts.png'));
  const nginx = await startNginx(t, site);
  const upstream = Number(new URL(nginx.url).port);
  const flaky = await startFaultProxy(t, upstream, (n) => (n === 1 ? { cutAfter: 100 << 10 } : n === 2 ? { cutAfter: 0 } : null));
  const local = path.join(dir, 'os.rts.png');
  fs.copyFileSync(v1, local);
  const got = await pull(`${flaky.url}/os.rts.png`, { output: local, cacheDir: path.join(dir, 'c1'), stallTimeout: 2000 });
  t.false(got.unchanged);
  t.is(sha(local), sha(v2));

  fs.copyFileSync(v1, local);
  const dead = await startFaultProxy(t, upstream, (n) => (n === 0 ? null : { cutAfter: 0 }));
  const err = await t.throwsAsync(() => pull(`${dead.url}/os.rts.png`, { output: local, cacheDir: path.join(dir, 'c2'), retries: 1, stallTimeout: 2000 }));
  t.is(err.code, 'ERR_PIXELRTS_FETCH');
  t.is(sha(local), sha(v1), 'the old version is untouched');
  t.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.pull-')), []);
});
