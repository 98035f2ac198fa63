// Real containers through real mounts: every golden vector's files read back byte-exact
// (the Infinite Map one included), with /kernel, /initrd and /metadata.json; a payload that
// fails to decode in the background turns into EIO for readers and an 'error' event.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { needs, vectorsDir, vectorsMissing } from '../helpers/prereq.mjs';
import { fuseMissing, mountsUnder, nextEvent, pseudoRandom, tempDir } from '../helpers/fuse.mjs';

const require = createRequire(import.meta.url);
const { mount } = require('../../dist/fuse/mount.js');
const { open } = require('../../dist/codec/container.js');
const { encode } = require('../../dist/codec/codec.js');

const fuseTest = needs(test, fuseMissing());
const vectorTest = needs(fuseTest, vectorsMissing());
const vec = (...p) => path.join(vectorsDir, ...p);
const read = (...p) => fs.readFileSync(vec(...p));

// vector → the files its mount must show, with their exact bytes.
const expectations = {
  a_tiny: () => ({ '/a_tiny': read('a_tiny.bin') }),
  b_empty_codemode: () => ({ '/b_empty': read('b_empty_codemode.bin') }),
  c_exact_16x16: () => ({ '/c_exact_16x16': read('c_exact_16x16.bin') }),
  e_multiseg: () => ({ '/kernel': read('e_multiseg.kernel.bin'), '/initrd': read('e_multiseg.initrd.bin') }),
  f_compressed: () => ({ '/f_compressed': read('f_compressed.bin') }),
  g_codemode_wasm: () => ({ '/g_codemode_wasm': read('g_codemode_wasm.bin') }),
  e2_infinite_map_vat: () => {
    const kernel = read('e2_infinite_map_src', 'boot', 'vmlinuz');
    const initrd = read('e2_infinite_map_src', 'boot', 'initrd.img');
    return { '/boot/vmlinuz': kernel, '/boot/initrd.img': initrd, '/kernel': kernel, '/initrd': initrd };
  },
  'negative/n1_comp_level_none': () => ({ '/n1_comp_level_none': read('negative', 'n1_comp_level_none.bin') }),
  'negative/n2_code_plus_compression': () => ({ '/n2_code_plus_compression': read('negative', 'n2_code_plus_compression.bin') }),
};

for (const [name, expected] of Object.entries(expectations)) {
  vectorTest(`vector ${name}: every file reads back byte-exact through the mount`, async (t) => {
    const png = vec(`${name}.rts.png`);
    const dir = tempDir(t);
    const m = await mount(png, dir, { onWarning: () => {} });
    t.teardown(() => m.unmount());
    const want = expected();
    const container = await open(png, { onWarning: () => {} });
    const shown = m.files.map((f) => f.path);
    for (const f of container.files) t.true(shown.includes(`/${f.name}`), `${f.name} is shown under its own name`);
    for (const [p, bytes] of Object.entries(want)) {
      t.true(shown.includes(p), `${p} is shown (files: ${shown.join(', ')})`);
      const got = fs.readFileSync(path.join(dir, p));
      t.is(got.length, bytes.length, p);
      t.true(got.equals(bytes), `${p} differs from the vector's bytes`);
      const st = fs.statSync(path.join(dir, p));
      t.is(st.size, bytes.length, p);
      t.is(st.mode, fs.constants.S_IFREG | 0o444, p);
      t.is(st.mtimeMs, fs.statSync(png).mtimeMs, `${p} has the PNG's mtime`);
    }
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'metadata.json'), 'utf8'));
    t.deepEqual(meta, JSON.parse(JSON.stringify(container.metadata ?? {})));
    t.is(fs.readFileSync(path.join(dir, 'metadata.json'), 'utf8'), `${JSON.stringify(container.metadata ?? {}, null, 2)}\n`);
    if (name === 'e_multiseg') {
      const whole = Buffer.concat([fs.readFileSync(path.join(dir, 'kernel')), fs.readFileSync(path.join(dir, 'initrd'))]);
      t.true(whole.equals(read('e_multiseg.bin')), 'kernel followed by initrd is the whole payload');
    }
    await m.unmount();
    t.deepEqual(mountsUnder(dir), []);
  });
}

/** Sets the CRC of every chunk of a PNG, after its bytes were edited. */
function fixCrcs(png) {
  for (let at = 8; at < png.length;) {
    const len = png.readUInt32BE(at);
    png.writeUInt32BE(zlib.crc32(png.subarray(at + 4, at + 8 + len)), at + 8 + len);
    at += 12 + len;
  }
}

fuseTest('a payload that fails to decode: reads get EIO and the mount reports an error event', async (t) => {
  const dir = tempDir(t);
  const scratch = tempDir(t, 'pixelrts-fuse-png-');
  // A compressed payload cannot be read by random access, so the mount decodes it in the
  // background; garbage in the middle of the image data makes that decode fail.
  const payload = Buffer.concat([pseudoRandom(1 << 20, 9), Buffer.alloc(3 << 20, 0x41)]);
  const png = Buffer.from(encode(payload, { compress: true, name: 'broken' }));
  let idat = -1;
  for (let at = 8; at < png.length; at += 12 + png.readUInt32BE(at)) {
    if (png.toString('latin1', at + 4, at + 8) === 'IDAT') idat = at;
  }
  const len = png.readUInt32BE(idat);
  png.fill(0xff, idat + 8 + Math.floor(len / 2), idat + 8 + Math.floor(len / 2) + 64);
  fixCrcs(png);
  const file = path.join(scratch, 'broken.rts.png');
  fs.writeFileSync(file, png);

  const m = await mount(file, dir);
  t.teardown(() => m.unmount());
  const reported = nextEvent(m, 'error');
  t.throws(() => fs.readFileSync(path.join(dir, 'broken')), { code: 'EIO' });
  const err = await reported;
  t.is(err.code, 'ERR_PIXELRTS_FUSE_READ');
  t.regex(err.message, /fail with EIO: the container's payload could not be decoded: .+/);
  t.true(m.mounted, 'the mount itself stays up (metadata.json is still readable)');
  t.truthy(JSON.parse(fs.readFileSync(path.join(dir, 'metadata.json'), 'utf8')).data_size);
});
