// writeContainer: packing files band by band in bounded memory, the same bytes as encode(),
// read back by the independent reference decoder; atomic replacement under SIGKILL, changed
// inputs, a full disk, bad arguments.
import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { inCI, needs, repoRoot } from '../helpers/prereq.mjs';
import { PEAK_KIB } from '../helpers/child.mjs';
import { decodePixelRTS, prng, writePatterned as writePatternedAs } from '../helpers/reference-codec.mjs';

const require = createRequire(import.meta.url);
const px = require('../../dist/index.js');
const { native } = require('../../dist/native.js');

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

let tmpRoot;
test.before(() => { tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-writer-test-')); });
test.after.always(() => { fs.rmSync(tmpRoot, { recursive: true, force: true }); });
function tmpDir() {
  return fs.mkdtempSync(path.join(tmpRoot, 'w-'));
}

const writePatterned = (file, size, seed = 'writer') => writePatternedAs(file, size, seed);

test('files packed by writeContainer are the same bytes encode() writes for them, and the reference decoder reads them', async (t) => {
  const dir = tmpDir();
  const kernel = prng('k', 70001);
  const initrd = prng('i', 300007);
  fs.writeFileSync(path.join(dir, 'vmlinuz'), kernel);
  fs.writeFileSync(path.join(dir, 'empty'), Buffer.alloc(0));
  const segments = [
    { name: 'kernel', path: path.join(dir, 'vmlinuz') },
    { name: 'empty', path: path.join(dir, 'empty') },
    { name: 'initrd', data: initrd },
  ];
  const out = path.join(dir, 'boot.rts.png');
  const meta = await px.writeContainer(out, segments, { cmdline: 'console=ttyS0', name: 'boot' });
  const png = fs.readFileSync(out);
  const inMemory = px.encode([{ name: 'kernel', data: kernel }, { name: 'empty', data: Buffer.alloc(0) }, { name: 'initrd', data: initrd }],
    { cmdline: 'console=ttyS0', name: 'boot' });
  t.true(png.equals(inMemory), 'the file differs from encode() of the same segments');
  const ref = decodePixelRTS(png);
  t.true(ref.payload.equals(Buffer.concat([kernel, initrd])));
  t.is(ref.metadata.offsets.kernel.sha256, sha256(kernel));
  t.is(ref.metadata.offsets.empty.size, 0);
  t.is(meta.data_hash, sha256(Buffer.concat([kernel, initrd])));
  t.deepEqual(JSON.parse(fs.readFileSync(`${out}.meta.json`, 'utf8')), meta);
  t.true(native().readPngInfo(png).hasBandIndex);
});

test('a single file by path, an explicit grid, odd sizes and level 0 match encode()', async (t) => {
  const dir = tmpDir();
  for (const [size, grid, level] of [[1, undefined, 6], [4095, undefined, 0], [4097, 256, 1], [1 << 20, undefined, 6], [(1 << 20) + 3, 1024, 9]]) {
    const data = prng(`s${size}`, size);
    const input = path.join(dir, `in-${size}`);
    fs.writeFileSync(input, data);
    const out = path.join(dir, `out-${size}.rts.png`);
    await px.writeContainer(out, { path: input }, { grid, level, name: 'x' });
    t.true(fs.readFileSync(out).equals(px.encode(data, { grid, level, name: 'x' })), `size ${size} grid ${grid} level ${level}`);
  }
});

test('compress with file inputs: a zlib payload the reference decoder inflates, no temporary file left', async (t) => {
  const dir = tmpDir();
  const text = Buffer.from('pixelrts compresses text well. '.repeat(40000));
  fs.writeFileSync(path.join(dir, 'a.txt'), text);
  const out = path.join(dir, 'c.rts.png');
  const phases = new Set();
  const meta = await px.writeContainer(out, [{ name: 'a.txt', path: path.join(dir, 'a.txt') }, { name: 'b', data: Buffer.from('tail') }],
    { compress: true, onProgress: (p) => { phases.add(p.phase); t.true(p.done <= p.total); } });
  t.truthy(meta.compression);
  t.true(meta.encoded_size < text.length / 10);
  t.true(decodePixelRTS(fs.readFileSync(out)).payload.equals(Buffer.concat([text, Buffer.from('tail')])));
  t.deepEqual([...phases].sort(), ['compress', 'encode', 'hash']);
  t.deepEqual(fs.readdirSync(dir).sort(), ['a.txt', 'c.rts.png', 'c.rts.png.meta.json']);
  const c = await px.open(out);
  t.true((await c.read('a.txt')).equals(text));
});

test('convert packs a payload larger than its memory: peak RSS stays far below the payload', async (t) => {
  const dir = tmpDir();
  const size = 256 << 20;
  const input = path.join(dir, 'disk.img');
  writePatterned(input, size);
  const out = path.join(dir, 'disk.rts.png');
  // A V8 heap capped at 32 MiB: holding the payload in JS would fail outright.
  const script = `require(${JSON.stringify(path.join(repoRoot, 'dist', 'index.js'))})
    .writeContainer(${JSON.stringify(out)}, { path: ${JSON.stringify(input)} }, { level: 1 })
    .then(() => console.log(JSON.stringify({ maxRssKiB: ${PEAK_KIB} })))`;
  const r = spawnSync(process.execPath, ['--max-old-space-size=32', '-e', script], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const { maxRssKiB } = JSON.parse(r.stdout);
  t.log(`peak RSS ${(maxRssKiB / 1024).toFixed(0)} MiB packing ${size >> 20} MiB`);
  t.true(maxRssKiB * 1024 < 160 << 20, `peak RSS ${maxRssKiB} KiB`);
  const c = await px.open(out);
  const report = await c.verify();
  t.true(report.ok);
  const fd = fs.openSync(input, 'r');
  const tail = Buffer.alloc(4096);
  fs.readSync(fd, tail, 0, 4096, size - 4096);
  fs.closeSync(fd);
  t.true((await c.read(c.files[0].name)).subarray(size - 4096).equals(tail));
});

test('SIGKILL while convert replaces a container leaves the old one or the whole new one, and nothing else', async (t) => {
  const dir = tmpDir();
  const input = path.join(dir, 'disk.img');
  writePatterned(input, 64 << 20, 'kill');
  const out = path.join(dir, 'disk.rts.png');
  await px.writeContainer(out, Buffer.from('the old container'), { name: 'old' });
  const old = fs.readFileSync(out);
  const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
  let killedMidway = 0;
  for (const delay of [150, 400, 700, 1000, 1500]) {
    const child = spawn(process.execPath, [cli, 'convert', input, out, '--level', '1'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    await new Promise((resolve) => setTimeout(resolve, delay));
    child.kill('SIGKILL');
    const [code, signal] = await exited;
    const now = fs.readFileSync(out);
    if (now.equals(old)) {
      if (signal === 'SIGKILL') killedMidway++;
    } else {
      // Replaced (the kill may land after the rename, while the sidecar is written or the
      // command prints): then the new container is whole.
      t.true(code === 0 || signal === 'SIGKILL', `delay ${delay}: exit ${code} ${signal}`);
      t.true((await (await px.open(out)).verify()).ok);
    }
    t.deepEqual(fs.readdirSync(dir).sort(), ['disk.img', 'disk.rts.png', 'disk.rts.png.meta.json'], `delay ${delay}`);
    if (!now.equals(old)) break;
  }
  t.log(`${killedMidway} kills landed before the new container was complete`);
  t.true(killedMidway > 0, 'no kill landed while convert was running');
});

test('a file that changed after it was hashed is refused and nothing is written', async (t) => {
  const dir = tmpDir();
  const input = path.join(dir, 'in.bin');
  fs.writeFileSync(input, prng('c', 10000));
  const st = fs.statSync(input, { bigint: true });
  const out = path.join(dir, 'x.rts.png');
  const texts = [{ keyword: 'PixelRTS', text: 'PixelRTS{}' }];
  const err = await t.throwsAsync(native().writePngFile(out, [{ path: input, size: Number(st.size), mtimeNs: st.mtimeNs - 1n }], { texts }));
  t.is(err.code, 'ERR_PIXELRTS_INPUT_CHANGED');
  t.regex(err.message, /in\.bin changed/);
  const err2 = await t.throwsAsync(native().writePngFile(out, [{ path: input, size: 9999, mtimeNs: st.mtimeNs }], { texts }));
  t.is(err2.code, 'ERR_PIXELRTS_INPUT_CHANGED');
  t.deepEqual(fs.readdirSync(dir), ['in.bin']);
});

test('bad inputs and outputs: clear errors with codes, nothing left behind', async (t) => {
  const dir = tmpDir();
  const missing = await t.throwsAsync(px.writeContainer(path.join(dir, 'a.rts.png'), { path: path.join(dir, 'nope') }));
  t.is(missing.code, 'ERR_PIXELRTS_NOT_FOUND');
  t.regex(missing.message, /nope: cannot read it \(no such file\)/);
  const notFile = await t.throwsAsync(px.writeContainer(path.join(dir, 'a.rts.png'), { path: dir }));
  t.is(notFile.code, 'ERR_PIXELRTS_ARGUMENT');
  t.regex(notFile.message, /not a regular file/);
  const noDir = await t.throwsAsync(px.writeContainer(path.join(dir, 'missing', 'a.rts.png'), Buffer.from('x')));
  t.is(noDir.code, 'ERR_PIXELRTS_IO');
  t.regex(noDir.message, /missing/);
  const both = await t.throwsAsync(px.writeContainer(path.join(dir, 'a.rts.png'), [{ name: 'k', path: dir, data: Buffer.from('x') }]));
  t.is(both.code, 'ERR_PIXELRTS_ARGUMENT');
  const byPath = t.throws(() => px.encode([{ name: 'k', path: '/etc/hostname' }]));
  t.regex(byPath.message, /writeContainer/);
  t.deepEqual(fs.readdirSync(dir), []);
});

const rootOnly = process.getuid?.() === 0 ? null : 'mounting a small tmpfs needs root';
needs(test, rootOnly)('a full disk is ERR_PIXELRTS_NO_SPACE, the old container survives and no partial file is left', async (t) => {
  const dir = tmpDir();
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
  if (r.status !== 0) return inCI ? t.fail(`mount tmpfs: ${r.stderr}`) : t.pass(`cannot mount a tmpfs here: ${r.stderr}`);
  t.teardown(() => spawnSync('umount', [dir]));
  const out = path.join(dir, 'x.rts.png');
  await px.writeContainer(out, Buffer.from('small and old'), { level: 0 });
  const old = fs.readFileSync(out);
  const err = await t.throwsAsync(px.writeContainer(out, prng('big', 3 << 20), { level: 0 }));
  t.is(err.code, 'ERR_PIXELRTS_NO_SPACE');
  t.regex(err.message, /no space left writing .*x\.rts\.png/);
  t.true(fs.readFileSync(out).equals(old));
  t.deepEqual(fs.readdirSync(dir).sort(), ['x.rts.png', 'x.rts.png.meta.json']);
});
