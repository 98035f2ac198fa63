// The metadata model: JSON text byte-identical to what the original writes, parsing, validation,
// sidecar comparison, kernel/initrd names. Pure TypeScript, no native code involved.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { needs, vectorsDir, vectorsMissing } from '../helpers/prereq.mjs';
import { decodePng } from '../helpers/png-js.mjs';
import { prng } from '../helpers/reference-codec.mjs';

const require = createRequire(import.meta.url);
const m = require('../../dist/codec/metadata.js');
const vtest = needs(test, vectorsMissing());

function embeddedText(name) {
  return decodePng(fs.readFileSync(path.join(vectorsDir, `${name}.rts.png`))).texts.find((t) => t.keyword === 'PixelRTS').text;
}

vtest('metadata built for a payload is byte-identical to the original\'s embedded text', (t) => {
  const cases = [
    ['a_tiny', Buffer.from('Hello, World!'), 4, { type: 'text', name: 'a_tiny' }],
    ['c_exact_16x16', prng('pixelrts-c', 1024), 16, {}],
  ];
  for (const [name, payload, grid, user] of cases) {
    t.is(m.metadataText(m.buildMetadata({ payload, grid, user })), embeddedText(name), name);
  }
});

vtest('metadata built for segments is byte-identical to e_multiseg\'s (offsets, hashes, segments)', (t) => {
  const k = fs.readFileSync(path.join(vectorsDir, 'e_multiseg.kernel.bin'));
  const i = fs.readFileSync(path.join(vectorsDir, 'e_multiseg.initrd.bin'));
  const segments = [
    { name: 'kernel', type: 'kernel', offset: 0, size: k.length, sha256: m.sha256Hex(k) },
    { name: 'initrd', type: 'initrd', offset: k.length, size: i.length, sha256: m.sha256Hex(i) },
  ];
  const meta = m.buildMetadata({ payload: Buffer.concat([k, i]), grid: 64, segments, user: { type: 'boot-bundle', name: 'e_multiseg' } });
  t.is(m.metadataText(meta), embeddedText('e_multiseg'));
});

vtest('compressed metadata keeps the original key order and float ratio', (t) => {
  const meta = m.buildMetadata({ payload: fs.readFileSync(path.join(vectorsDir, 'f_compressed.bin')), grid: 32,
    user: { name: 'f_compressed' }, compression: { level: 6, compressedSize: 1061 } });
  const orig = JSON.parse(embeddedText('f_compressed').slice(8));
  t.deepEqual(Object.keys(meta), Object.keys(orig));
  t.deepEqual(Object.keys(meta.compression), Object.keys(orig.compression));
  t.is(meta.compression.type, 'zlib');
  t.regex(m.metadataText(meta), /"ratio":0\.04653508771929825\},"encoded_size":1061\}$/);
});

vtest('every vector\'s sidecar re-serialises byte-identically (2-space indent, ratio 1.0)', (t) => {
  const names = ['a_tiny', 'b_empty_codemode', 'c_exact_16x16', 'e_multiseg', 'f_compressed', 'g_codemode_wasm',
    'negative/n1_comp_level_none', 'negative/n2_code_plus_compression', 'e2_infinite_map_vat'];
  for (const name of names) {
    const text = fs.readFileSync(path.join(vectorsDir, `${name}.rts.png.meta.json`), 'utf8');
    t.is(m.toPythonJson(JSON.parse(text), 2), text, name);
  }
});

test('Python float repr and ASCII-only escapes', (t) => {
  t.is(m.pythonFloat(1), '1.0');
  t.is(m.pythonFloat(0.00925), '0.00925');
  t.is(m.pythonFloat(0.0001), '0.0001');
  t.is(m.pythonFloat(0.00001), '1e-05');
  t.is(m.pythonFloat(1.5e-7), '1.5e-07');
  t.is(m.pythonFloat(1e16), '1e+16');
  t.is(m.pythonFloat(123456789012345.6), '123456789012345.6');
  t.is(m.pythonFloat(0), '0.0');
  t.is(m.toPythonJson({ name: 'caf\u00e9 \u2603 \u{1f600}\u007f', n: [1, 2.5], e: {}, l: [], b: true, z: null }),
    '{"name":"caf\\u00e9 \\u2603 \\ud83d\\ude00\\u007f","n":[1,2.5],"e":{},"l":[],"b":true,"z":null}');
  t.is(m.toPythonJson({ a: [1, { b: 'x\n"' }] }, 2), '{\n  "a": [\n    1,\n    {\n      "b": "x\\n\\""\n    }\n  ]\n}');
});

test('findMetadata takes the first PixelRTS text that parses as a JSON object', (t) => {
  const texts = [
    { keyword: 'Blueprint', text: 'PixelRTS-Blueprint{"a":1}' },
    { keyword: 'PixelRTS', text: 'PixelRTS{not json' },
    { keyword: 'PixelRTS', text: 'PixelRTS[1,2]' },
    { keyword: 'Comment', text: 'hello' },
    { keyword: 'PixelRTS', text: 'PixelRTS{"data_size":3}' },
    { keyword: 'PixelRTS', text: 'PixelRTS{"data_size":4}' },
  ];
  t.deepEqual(m.findMetadata(texts), { data_size: 3 });
  t.is(m.findMetadata(texts.slice(0, 4)), null);
});

test('validateMetadata names the field, what was expected and what was found', (t) => {
  const cases = [
    [{ data_size: 'abc' }, /x\.png: metadata field "data_size": expected a non-negative integer, found "abc"/],
    [{ data_size: -1 }, /"data_size".*found -1/],
    [{ data_hash: 'zz' }, /"data_hash": expected 64 hexadecimal digits/],
    [{ compression: { original_size: 1.5 } }, /"compression\.original_size"/],
    [{ original_data_b64: '!!!' }, /"original_data_b64": expected a base64 string/],
    [{ segments: { kernel: { start: 'x' } } }, /"segments\.kernel\.start": expected a non-negative integer/],
    [{ offsets: { k: 5 } }, /"offsets\.k": expected an object/],
  ];
  for (const [meta, re] of cases) {
    const err = t.throws(() => m.validateMetadata(meta, 'x.png'));
    t.is(err.code, 'ERR_PIXELRTS_METADATA');
    t.regex(err.message, re);
  }
  t.notThrows(() => m.validateMetadata({ data_size: 3, data_hash: 'A'.repeat(64), segments: { k: { start: 0, size: 3 } } }, 'x.png'));
});

test('sidecar differences: equal objects agree, Infinite Map sidecars compare their pixelrts member', (t) => {
  t.deepEqual(m.sidecarDifferences({ a: 1, b: { c: [1] } }, { b: { c: [1] }, a: 1 }), []);
  t.deepEqual(m.sidecarDifferences({ a: 1, b: 2 }, { a: 1, b: 3, d: 0 }), ['b', 'd']);
  t.deepEqual(m.sidecarDifferences({ type: 'infinite-map-v2' }, { pixelrts: { type: 'infinite-map-v2' }, infinite_map: {} }), []);
  t.deepEqual(m.sidecarPaths('/d/x.rts.png'), ['/d/x.rts.png.meta.json', '/d/x.rts.meta.json']);
  t.is(m.containerStem('/d/boot.rts.png'), 'boot');
  t.is(m.containerStem('img.PNG'), 'img');
});

test('kernel and initrd names classify, other names do not', (t) => {
  for (const n of ['kernel', 'vmlinuz', 'boot/vmlinuz', 'vmlinux', 'bzImage', 'vmlinuz-6.1.0-amd64', 'kernel.bin']) t.is(m.classifyName(n), 'kernel', n);
  for (const n of ['initrd', 'initramfs', 'initrd.img', 'boot/initrd.img', 'initramfs.cpio.gz', 'initrd.img-6.1']) t.is(m.classifyName(n), 'initrd', n);
  for (const n of ['rootfs', 'kernels', 'my_kernel', 'readme.txt']) t.is(m.classifyName(n), null, n);
});
