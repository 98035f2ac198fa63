// open(): file tables (single file, segments, Infinite Map VAT), random-access reads, verify,
// sidecars, legacy curves and the payload handle for mounts.
import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { needs, vectorsDir, vectorsMissing } from '../helpers/prereq.mjs';
import { encodePng } from '../helpers/png-js.mjs';
import { d2xy, encodeLikeOriginal, prng, scatterJs, xy2d as xy2dRef } from '../helpers/reference-codec.mjs';

const require = createRequire(import.meta.url);
const px = require('../../dist/index.js');
const { native } = require('../../dist/native.js');

/** Every byte a mount would serve from the container's payload handle. */
function handleBytes(handle) {
  return native().payloadRead(handle, 0, handle.size);
}
const vtest = needs(test, vectorsMissing());

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const vpath = (name) => path.join(vectorsDir, name);

let tmpRoot;
test.before(() => { tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-container-test-')); });
test.after.always(() => { fs.rmSync(tmpRoot, { recursive: true, force: true }); });
function tmpFile(name, bytes) {
  const dir = fs.mkdtempSync(path.join(tmpRoot, 'c-'));
  const p = path.join(dir, name);
  if (bytes) fs.writeFileSync(p, bytes);
  return p;
}

function segmentsOf(files) {
  let offset = 0;
  const table = {};
  for (const [name, data, type] of files) {
    table[name] = { type, start: offset, end: offset + data.length, offset, size: data.length, sha256: sha256(data) };
    offset += data.length;
  }
  return table;
}

vtest('single-file vectors: one file named by metadata name (or the stem), reads and verifies', async (t) => {
  for (const [vec, name, type] of [['a_tiny', 'a_tiny', 'text'], ['c_exact_16x16', 'c_exact_16x16', 'data'],
    ['f_compressed', 'f_compressed', 'data'], ['g_codemode_wasm', 'g_codemode_wasm', 'wasm'], ['b_empty_codemode', 'b_empty', 'data'],
    ['negative/n1_comp_level_none', 'n1_comp_level_none', 'data'], ['negative/n2_code_plus_compression', 'n2_code_plus_compression', 'data']]) {
    const c = await px.open(vpath(`${vec}.rts.png`));
    const expected = fs.readFileSync(vpath(`${vec}.bin`));
    t.is(c.kind, 'pixelrts');
    t.is(c.files.length, 1);
    t.like(c.files[0], { name, type, size: expected.length, offset: 0, sha256: sha256(expected) });
    t.true((await c.read(name)).equals(expected), vec);
    t.true((await c.readPayload()).equals(expected), vec);
    const report = await c.verify();
    t.true(report.ok, vec);
    t.deepEqual(report.files.map((f) => f.status), ['ok']);
    const handle = c.payload();
    t.is(handle.size, expected.length);
    t.is(handle.waitReady(0, expected.length), 0);
    t.is(handle.failure, '');
    t.true(handleBytes(handle).equals(expected), vec);
  }
});

vtest('e_multiseg: segments with types, random-access reads, verify, kernel/initrd', async (t) => {
  const c = await px.open(vpath('e_multiseg.rts.png'));
  const kernel = fs.readFileSync(vpath('e_multiseg.kernel.bin'));
  const initrd = fs.readFileSync(vpath('e_multiseg.initrd.bin'));
  t.deepEqual(c.files.map((f) => [f.name, f.type, f.size, f.offset, f.extents]),
    [['kernel', 'kernel', 4099, 0, [[0, 4099]]], ['initrd', 'initrd', 2501, 4099, [[4099, 2501]]]]);
  t.true((await c.read('kernel')).equals(kernel));
  t.true((await c.read('initrd')).equals(initrd));
  t.is(px.kernelFile(c).name, 'kernel');
  t.is(px.initrdFile(c).name, 'initrd');
  const report = await c.verify();
  t.true(report.ok);
  t.deepEqual(report.files.map((f) => [f.name, f.status]), [['kernel', 'ok'], ['initrd', 'ok']]);
  t.deepEqual(c.warnings, []);
  await t.throwsAsync(c.read('rootfs'), { code: 'ERR_PIXELRTS_NOT_FOUND', message: /no file named "rootfs".*"kernel", "initrd"/ });
  const handle = c.payload();
  t.is(handle.size, 6600);
  t.true(native().payloadRead(handle, 4099, 2501).equals(initrd));
});

vtest('Infinite Map vector: VAT files with extents match prng per MANIFEST and the source files', async (t) => {
  const c = await px.open(vpath('e2_infinite_map_vat.rts.png'));
  t.is(c.kind, 'infinite-map');
  t.deepEqual(c.warnings, [], 'the sidecar wraps the embedded metadata and agrees with it');
  t.is(c.infiniteMap.superblock.clusterSize, 4096);
  const kernel = prng('pixelrts-im-kernel', 9000);
  const initrd = prng('pixelrts-im-initrd', 5000);
  t.true(kernel.equals(fs.readFileSync(vpath('e2_infinite_map_src/boot/vmlinuz'))));
  const vmlinuz = c.file('boot/vmlinuz');
  t.like(vmlinuz, { type: 'kernel', size: 9000, offset: 131072 });
  // Clusters (128,128), (64,64), (96,64) sit at Hilbert indices 32768, 8192, 9216 (×4 bytes).
  t.deepEqual(vmlinuz.extents, [[131072, 4096], [32768, 4096], [36864, 808]]);
  t.deepEqual(c.file('boot/initrd.img').extents, [[126976, 4096], [40960, 904]]);
  t.true((await c.read('boot/vmlinuz')).equals(kernel));
  t.true((await c.read('boot/initrd.img')).equals(initrd));
  t.is(px.kernelFile(c).name, 'boot/vmlinuz');
  t.is(px.initrdFile(c).name, 'boot/initrd.img');
  const report = await c.verify();
  t.true(report.ok);
  t.deepEqual(report.files.map((f) => f.status), ['unchecked', 'unchecked']);
  const handle = c.payload();
  t.is(handle.size, 256 * 256 * 4);
  t.true(Buffer.concat(vmlinuz.extents.map(([o, n]) => native().payloadRead(handle, o, n))).equals(kernel));
});

test('segments given by start only, by offset only, or without a position (single segment)', async (t) => {
  const k = prng('sk', 3001);
  const i = prng('si', 777);
  const table = segmentsOf([['kernel', k, 'kernel'], ['initrd', i, 'initrd']]);
  const variants = {
    startOnly: Object.fromEntries(Object.entries(table).map(([n, s]) => [n, { type: s.type, start: s.start, size: s.size, sha256: s.sha256 }])),
    offsetOnly: Object.fromEntries(Object.entries(table).map(([n, s]) => [n, { type: s.type, offset: s.offset, end: s.end, sha256: s.sha256 }])),
  };
  for (const [label, segments] of Object.entries(variants)) {
    const p = tmpFile('seg.rts.png', encodeLikeOriginal(Buffer.concat([k, i]), { metadata: { segments } }));
    const c = await px.open(p);
    t.deepEqual(c.files.map((f) => [f.name, f.offset, f.size]), [['kernel', 0, 3001], ['initrd', 3001, 777]], label);
    t.true((await c.read('initrd')).equals(i), label);
    t.true((await c.verify()).ok, label);
  }
  // Only the offsets table (no segments key), as some writers do.
  const p2 = tmpFile('offsets.rts.png', encodeLikeOriginal(Buffer.concat([k, i]), {
    edit: (m) => ({ ...m, offsets: table, segments: undefined }) }));
  t.deepEqual((await px.open(p2)).files.map((f) => f.name), ['kernel', 'initrd']);
  // The original converter: one segment, no position, the whole payload.
  const p3 = tmpFile('conv.rts.png', encodeLikeOriginal(k, { metadata: { segments: { vmlinuz: { type: 'kernel', size: 3001, sha256: sha256(k) } } } }));
  const c3 = await px.open(p3);
  t.deepEqual(c3.files.map((f) => [f.name, f.offset, f.size]), [['vmlinuz', 0, 3001]]);
  t.is(px.kernelFile(c3).name, 'vmlinuz');
});

test('a segment outside the payload is a metadata error naming it', async (t) => {
  const data = prng('x', 100);
  const p = tmpFile('bad.rts.png', encodeLikeOriginal(data, { metadata: { segments: {
    kernel: { type: 'kernel', start: 0, size: 60, sha256: sha256(data.subarray(0, 60)) },
    initrd: { type: 'initrd', start: 60, size: 50, sha256: '0'.repeat(64) } } } }));
  const err = await t.throwsAsync(px.open(p), { code: 'ERR_PIXELRTS_METADATA' });
  t.regex(err.message, /bad\.rts\.png: metadata field "segments\.initrd": expected a byte range within the 100-byte payload, found "\[60, 110\)"/);
  const p2 = tmpFile('bad2.rts.png', encodeLikeOriginal(data, { metadata: { segments: {
    a: { start: 0, offset: 5, size: 10 }, b: { start: 10, size: 10 } } } }));
  await t.throwsAsync(px.open(p2), { code: 'ERR_PIXELRTS_METADATA', message: /"segments\.a\.offset": expected the same value as start \(0\), found 5/ });
});

test('a damaged segment: read() names the file, verify() reports it, other files still read', async (t) => {
  const k = prng('dk', 2000);
  const i = prng('di', 1500);
  const segments = segmentsOf([['kernel', k, 'kernel'], ['initrd', i, 'initrd']]);
  segments.initrd.sha256 = sha256(Buffer.from('not the initrd'));
  const p = tmpFile('damaged.rts.png', encodeLikeOriginal(Buffer.concat([k, i]), { metadata: { segments } }));
  const c = await px.open(p);
  t.true((await c.read('kernel')).equals(k));
  const err = await t.throwsAsync(c.read('initrd'), { code: 'ERR_PIXELRTS_HASH' });
  t.regex(err.message, new RegExp(`damaged\\.rts\\.png: file "initrd" sha256 does not match: expected ${segments.initrd.sha256}, found ${sha256(i)}`));
  const report = await c.verify();
  t.false(report.ok);
  t.true(report.dataHash.ok);
  t.deepEqual(report.files.map((f) => [f.name, f.status]), [['kernel', 'ok'], ['initrd', 'mismatch']]);
  t.is(report.files[1].found, sha256(i));
});

test('a payload that does not match data_hash: verify reports it instead of throwing', async (t) => {
  const data = prng('dh', 500);
  const p = tmpFile('dh.rts.png', encodeLikeOriginal(data, { edit: (m) => ({ ...m, data_hash: sha256(Buffer.from('x')) }) }));
  const c = await px.open(p);
  await t.throwsAsync(c.read(c.files[0].name), { code: 'ERR_PIXELRTS_HASH' });
  const report = await c.verify();
  t.false(report.ok);
  t.deepEqual(report.dataHash, { expected: sha256(Buffer.from('x')), found: sha256(data), ok: false });
});

test('legacy transposed containers: segments settle the curve at open, single files on read', async (t) => {
  const k = prng('tk', 5000);
  const i = prng('ti', 3000);
  const segments = segmentsOf([['kernel', k, 'kernel'], ['initrd', i, 'initrd']]);
  const p = tmpFile('legacy.rts.png', encodeLikeOriginal(Buffer.concat([k, i]), { transposed: true, metadata: { segments } }));
  const c = await px.open(p);
  t.deepEqual(c.warnings.map((w) => w.code), ['WARN_PIXELRTS_TRANSPOSED']);
  t.true((await c.read('kernel')).equals(k));
  t.true((await c.read('initrd')).equals(i));
  t.true((await c.verify()).ok);
  const handle = c.payload();
  t.true(handleBytes(handle).equals(Buffer.concat([k, i])));
  t.is(handle.failure, '');

  const single = tmpFile('legacy1.rts.png', encodeLikeOriginal(k, { transposed: true, metadata: { name: 'k' } }));
  const c1 = await px.open(single);
  t.true((await c1.read('k')).equals(k));
  t.deepEqual(c1.warnings.map((w) => w.code), ['WARN_PIXELRTS_TRANSPOSED']);
  t.true(handleBytes(c1.payload()).equals(k), 'the mount payload follows the curve the read found');
});

vtest('a sidecar that disagrees warns and the embedded metadata wins; X.rts.meta.json is found too', async (t) => {
  const p = tmpFile('a_tiny.rts.png', fs.readFileSync(vpath('a_tiny.rts.png')));
  const side = JSON.parse(fs.readFileSync(vpath('a_tiny.rts.png.meta.json'), 'utf8'));
  fs.writeFileSync(`${p}.meta.json`, JSON.stringify({ ...side, data_size: 5, name: 'other' }, null, 2));
  const seen = [];
  const c = await px.open(p, { onWarning: (w) => seen.push(w) });
  t.deepEqual(seen.map((w) => w.code), ['WARN_PIXELRTS_SIDECAR']);
  t.regex(seen[0].message, /a_tiny\.rts\.png\.meta\.json disagrees with the metadata embedded in .*a_tiny\.rts\.png on "data_size", "name"; using the embedded metadata/);
  t.is(c.files[0].name, 'a_tiny');
  t.is((await c.read('a_tiny')).toString(), 'Hello, World!');

  fs.renameSync(`${p}.meta.json`, p.replace(/\.png$/, '.meta.json'));
  const c2 = await px.open(p);
  t.regex(c2.warnings[0].message, /a_tiny\.rts\.meta\.json disagrees/);

  fs.writeFileSync(p.replace(/\.png$/, '.meta.json'), JSON.stringify(side));
  t.deepEqual((await px.open(p)).warnings, [], 'an agreeing sidecar is silent');
});

test('a PNG without metadata uses its sidecar, with a warning', async (t) => {
  const data = prng('side', 300);
  const full = encodeLikeOriginal(data, { metadata: { name: 'side' } });
  const p = tmpFile('side.rts.png', encodeLikeOriginal(data, { edit: () => null }));
  const meta = px.readMetadata(full);
  await px.writeSidecar(p, meta);
  const c = await px.open(p);
  t.deepEqual(c.warnings.map((w) => w.code), ['WARN_PIXELRTS_SIDECAR']);
  t.true((await c.read('side')).equals(data));
  fs.writeFileSync(`${p}.meta.json`, '{oops');
  const c2 = await px.open(p);
  t.regex(c2.warnings[0].message, /side\.rts\.png\.meta\.json: the sidecar is not valid JSON/);
  t.is(c2.payloadSize, 16 * 16 * 4);
});

test('writeContainer writes the PNG and its sidecar, and open() reads them back', async (t) => {
  const k = prng('wk', 10_000);
  const i = prng('wi', 7_000);
  const p = tmpFile('w.rts.png');
  const meta = await px.writeContainer(p, [{ name: 'vmlinuz', data: k }, { name: 'initrd.img', data: i }], { cmdline: 'console=ttyS0' });
  const sidecarText = fs.readFileSync(`${p}.meta.json`, 'utf8');
  t.deepEqual(JSON.parse(sidecarText), meta);
  t.true(sidecarText.startsWith('{\n  "format": "PixelRTS-2.0",\n'));
  const c = await px.open(p);
  t.deepEqual(c.warnings, []);
  t.deepEqual(c.files.map((f) => [f.name, f.type]), [['vmlinuz', 'kernel'], ['initrd.img', 'initrd']]);
  t.is(c.metadata.cmdline, 'console=ttyS0');
  t.true((await c.read(px.initrdFile(c).name)).equals(i));
  t.true((await c.verify()).ok);
});

test('compressed multi-segment containers read through the whole payload', async (t) => {
  const k = Buffer.alloc(40_000, 'kernel text ');
  const i = Buffer.alloc(30_000, 'initrd text ');
  const p = tmpFile('z.rts.png');
  await px.writeContainer(p, [{ name: 'kernel', data: k }, { name: 'initrd', data: i }], { compress: true });
  const c = await px.open(p);
  t.truthy(c.metadata.compression);
  t.true((await c.read('initrd')).equals(i));
  t.true((await c.read('kernel')).equals(k));
  t.true((await c.verify()).ok);
  const handle = c.payload();
  t.is(handle.size, 70_000);
  t.true(handleBytes(handle).equals(Buffer.concat([k, i])));
});

test('open() of a missing or non-PNG file is a clear error', async (t) => {
  await t.throwsAsync(px.open(path.join(tmpRoot, 'nope.rts.png')), { code: 'ERR_PIXELRTS_NOT_FOUND', message: /nope\.rts\.png: cannot read the container \(no such file\)/ });
  const p = tmpFile('junk.rts.png', Buffer.from('junk'));
  const err = await t.throwsAsync(px.open(p));
  t.regex(err.code, /^ERR_PIXELRTS_/);
  t.true(err.message.includes('junk.rts.png'));
});

test('a code-mode container whose payload does not match data_hash opens; read and verify say so', async (t) => {
  const data = Buffer.from('(module)');
  const meta = { format: 'PixelRTS-2.0', grid_size: 4, encoding: { type: 'RGBA-code', bytes_per_pixel: 4, mapping: 'Hilbert space-filling curve' },
    name: 'w', data_hash: sha256(Buffer.from('other')), data_size: data.length, original_data_b64: data.toString('base64') };
  const p = tmpFile('code.rts.png', encodeLikeOriginal(Buffer.alloc(16), { edit: () => meta }));
  const c = await px.open(p);
  await t.throwsAsync(c.read('w'), { code: 'ERR_PIXELRTS_HASH', message: /file "w" sha256 does not match/ });
  await t.throwsAsync(c.readPayload(), { code: 'ERR_PIXELRTS_HASH', message: /code-mode payload \(data_hash\) sha256 does not match/ });
  const report = await c.verify();
  t.false(report.ok);
  t.deepEqual(report.dataHash, { expected: meta.data_hash, found: sha256(data), ok: false });
  t.throws(() => px.decode(fs.readFileSync(p)), { code: 'ERR_PIXELRTS_HASH' });
});

/**
 * Builds an Infinite Map v2 PNG the way spec §9 and vector e2 lay it out: superblock at byte 0,
 * each 4 KiB cluster at byte 4·xy2d(G, x, y), the manifest at the start of the last 64 KiB.
 */
function buildInfiniteMap(files, { grid = 256, manifest = true, magic = 'INFIN2\0', vatEdit = (v) => v } = {}) {
  const stream = Buffer.alloc(grid * grid * 4);
  const sb = Buffer.alloc(31);
  sb.write(magic, 0, 'latin1');
  sb.writeUInt16LE(2, 7); sb.writeUInt16LE(grid, 9); sb.writeUInt32LE(4096, 11);
  sb.writeUInt32LE(4096, 15); sb.writeUInt32LE(0, 19); sb.writeUInt16LE(grid / 2, 23); sb.writeUInt16LE(grid / 2, 25);
  sb.copy(stream);
  const entries = {};
  let nextCluster = 2; // clusters 0-1 hold the superblock and the VAT copy
  for (const [name, data] of Object.entries(files)) {
    // Allocate 4 KiB-aligned clusters, then list them in reverse so the VAT order (not the
    // stream order) is what places the file's bytes.
    const coords = [];
    for (let o = 0; o < data.length; o += 4096) coords.push(d2xy(grid, nextCluster++ * 1024));
    coords.reverse();
    coords.forEach(([x, y], i) => data.copy(stream, xy2dRef(grid, x, y) * 4, i * 4096, Math.min((i + 1) * 4096, data.length)));
    entries[name] = coords;
  }
  if (manifest) {
    const m = JSON.stringify({ format: 'infinite-map-v2', files: Object.entries(files).map(([name, data]) => ({ name, size: data.length })) }, null, 2);
    stream.write(m, stream.length - 65536, 'utf8');
  }
  const vat = vatEdit({ format: 'visual-allocation-table-v2', grid_size: grid, entries });
  return encodePng(scatterJs(stream, grid), grid, grid, { texts: [
    { keyword: 'InfiniteMap-VAT', text: JSON.stringify(vat) },
    { keyword: 'PixelRTS', text: `PixelRTS${JSON.stringify({ type: 'infinite-map-v2', grid_size: grid })}` },
  ] });
}

test('a crafted Infinite Map: clusters in VAT order, nested names, manifest sizes', async (t) => {
  const files = { 'boot/vmlinuz': prng('imk', 10_000), 'boot/initrd.img': prng('imi', 4096), 'etc/motd': Buffer.from('hi\n') };
  const c = await px.open(tmpFile('im.rts.png', buildInfiniteMap(files)));
  t.is(c.kind, 'infinite-map');
  t.deepEqual(c.warnings, []);
  t.deepEqual(c.files.map((f) => [f.name, f.size, f.extents.length]), [['boot/vmlinuz', 10_000, 3], ['boot/initrd.img', 4096, 1], ['etc/motd', 3, 1]]);
  for (const [name, data] of Object.entries(files)) t.true((await c.read(name)).equals(data), name);
  t.is(px.kernelFile(c).name, 'boot/vmlinuz');
  t.is(px.initrdFile(c).name, 'boot/initrd.img');
});

test('a damaged Infinite Map is ERR_PIXELRTS_VAT naming what is wrong; a missing manifest is a warning', async (t) => {
  const files = { 'boot/vmlinuz': prng('imk', 5000) };
  const outside = buildInfiniteMap(files, { vatEdit: (v) => ({ ...v, entries: { 'boot/vmlinuz': [[300, 1]] } }) });
  await t.throwsAsync(px.open(tmpFile('o.rts.png', outside)), { code: 'ERR_PIXELRTS_VAT', message: /VAT entry "boot\/vmlinuz": expected a list of \[x, y\] cluster coordinates within 0\.\.255/ });
  const short = buildInfiniteMap(files, { vatEdit: (v) => ({ ...v, entries: { 'boot/vmlinuz': v.entries['boot/vmlinuz'].slice(0, 1) } }) });
  await t.throwsAsync(px.open(tmpFile('s.rts.png', short)), { code: 'ERR_PIXELRTS_VAT', message: /"boot\/vmlinuz" is 5000 bytes \(manifest\) but the VAT lists only 1 cluster/ });
  await t.throwsAsync(px.open(tmpFile('m.rts.png', buildInfiniteMap(files, { magic: 'NOTMAP\0' }))),
    { code: 'ERR_PIXELRTS_VAT', message: /expected the superblock magic "INFIN2\\0"/ });
  const c = await px.open(tmpFile('n.rts.png', buildInfiniteMap(files, { manifest: false })));
  t.deepEqual(c.warnings.map((w) => w.code), ['WARN_PIXELRTS_VAT']);
  t.is(c.files[0].size, 8192);
  t.true((await c.read('boot/vmlinuz')).subarray(0, 5000).equals(files['boot/vmlinuz']));
});

test('the Infinite Map xy2d inverts the native reference d2xy on every grid up to 64', (t) => {
  const { xy2d } = require('../../dist/codec/infinite-map.js');
  for (let n = 1; n <= 64; n *= 2) {
    for (let d = 0; d < n * n; d++) {
      const [x, y] = native().hilbertD2xy(n, d);
      if (xy2d(n, x, y) !== d) return t.fail(`n=${n} d=${d}: (${x}, ${y}) → ${xy2d(n, x, y)}`);
    }
  }
  t.pass();
});
