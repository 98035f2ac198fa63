// Containers from an http:// URL (#17, the fetch-whole path), from Debian's nginx, with faults
// injected by a proxy between client and server: dropped and stalled responses are resumed with
// byte ranges, never served wrong; a current cached copy costs no transfer; a changed file is
// fetched again. (Reading on demand, the commands' way with URLs, is test/remote/lazy.test.mjs.)
import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { needs, commandMissing } from '../helpers/prereq.mjs';
import { demoContainer } from '../helpers/boot.mjs';
import { startFaultProxy, startNginx } from '../helpers/nginx.mjs';
import { remoteScratch } from '../helpers/remote.mjs';

const require = createRequire(import.meta.url);
const { fetchContainer } = require('../../dist/remote/fetch.js');
const ntest = needs(test, commandMissing('nginx', 'nginx'));

const sha = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

ntest.serial('a dropped and a stalled response are resumed with ranges; the copy is byte for byte; a current copy costs nothing; a changed one is fetched again', async (t) => {
  const { site, cache } = remoteScratch(t);
  fs.copyFileSync(await demoContainer(), path.join(site, 'demo.rts.png'));
  const nginx = await startNginx(t, site);
  const size = fs.statSync(path.join(site, 'demo.rts.png')).size;
  // Connection 0 is cut after 3 MiB, connection 1 stalls after 1 MiB more, the rest pass.
  const proxy = await startFaultProxy(t, Number(new URL(nginx.url).port),
    (n) => (n === 0 ? { cutAfter: 3 << 20 } : n === 1 ? { stallAfter: 1 << 20 } : null));
  const url = `${proxy.url}/demo.rts.png`;
  const progress = [];
  const got = await fetchContainer(url, { cacheDir: cache, stallTimeout: 1000, onProgress: (p) => progress.push(p) });
  t.is(got.retries, 2);
  t.false(got.cached);
  t.is(got.size, size);
  t.is(sha(got.path), sha(path.join(site, 'demo.rts.png')));
  // Resumed, not restarted: less than twice the file crossed the proxy.
  t.true(got.fetched < size + (4 << 20) + 65536, `${got.fetched} bytes for a ${size}-byte file`);
  t.is(progress.at(-1).done, size);
  t.is(progress.at(-1).total, size);
  const log = nginx.accessLog();
  t.regex(log, /"GET \/demo\.rts\.png HTTP\/1\.1" 206 /, 'the resumed requests were ranges');
  t.false(fs.existsSync(`${got.path}.part`));

  const again = await fetchContainer(url, { cacheDir: cache });
  t.like(again, { cached: true, fetched: 0, path: got.path });
  t.regex(nginx.accessLog(), /" 304 /);

  // The file on the server changes (new ETag): fetched whole again, the new bytes kept.
  const changed = path.join(site, 'demo.rts.png');
  fs.appendFileSync(changed, Buffer.from('tail'));
  fs.utimesSync(changed, new Date(), new Date(Date.now() + 5000));
  const third = await fetchContainer(url, { cacheDir: cache });
  t.false(third.cached);
  t.is(sha(third.path), sha(changed));
});

ntest.serial('a server that always cuts the response: a clear error after the retries, what arrived kept for the next run; a 404 is not retried', async (t) => {
  const { site, cache } = remoteScratch(t);
  fs.copyFileSync(await demoContainer(), path.join(site, 'demo.rts.png'));
  const nginx = await startNginx(t, site);
  const proxy = await startFaultProxy(t, Number(new URL(nginx.url).port), () => ({ cutAfter: 1 << 20 }));
  const err = await t.throwsAsync(fetchContainer(`${proxy.url}/demo.rts.png`, { cacheDir: cache, retries: 2 }));
  t.is(err.code, 'ERR_PIXELRTS_FETCH');
  t.regex(err.message, /after 3 attempts.*resumed/);
  t.is(proxy.connections(), 3);
  const part = fs.readdirSync(cache).find((f) => f.endsWith('.part'));
  t.truthy(part, 'the partial file is kept');
  t.false(fs.readdirSync(cache).some((f) => f.endsWith('.rts.png')), 'no incomplete file under the final name');

  const missing = await t.throwsAsync(fetchContainer(`${nginx.url}/nope.rts.png`, { cacheDir: cache }));
  t.is(missing.code, 'ERR_PIXELRTS_FETCH');
  t.regex(missing.message, /404/);
  t.is((nginx.accessLog().match(/nope\.rts\.png/g) ?? []).length, 1, 'a 404 is final');
});
