// The codec commands end to end: `node dist/cli/main.js info|extract|convert|verify`, exit codes,
// --json output, files written on disk.
import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { needs, repoRoot, vectorsDir, vectorsMissing } from '../helpers/prereq.mjs';
import { decodePixelRTS, encodeLikeOriginal, prng } from '../helpers/reference-codec.mjs';

const vtest = needs(test, vectorsMissing());
const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const { writeContainer } = createRequire(import.meta.url)('../../dist/codec/writer.js');
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

let tmp;
test.before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-cli-codec-test-')); });
test.after.always(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

function run(args, cwd = tmp) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'buffer', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, out: r.stdout.toString(), err: r.stderr.toString() };
}
function dir(name) {
  const d = path.join(tmp, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

vtest('info prints the file table; --json gives metadata, files and warnings', (t) => {
  const r = run(['info', path.join(vectorsDir, 'e_multiseg.rts.png')]);
  t.is(r.code, 0, r.err);
  t.regex(r.out, /grid\s+64x64/);
  t.regex(r.out, /kernel\s+kernel\s+4099\s+0\s+2817e71b/);
  t.regex(r.out, /initrd\s+initrd\s+2501\s+4099\s+ac279b7b/);

  const j = run(['info', '--json', path.join(vectorsDir, 'negative', 'n1_comp_level_none.rts.png')]);
  t.is(j.code, 0, j.err);
  t.is(j.err, '');
  t.is(j.out.trim().split('\n').length, 1, 'one NDJSON line');
  const info = JSON.parse(j.out);
  t.is(info.type, 'container');
  t.false(Number.isNaN(Date.parse(info.time)));
  t.deepEqual(Object.keys(info).slice(0, 2), ['type', 'time']);
  t.is(info.kind, 'pixelrts');
  t.is(info.payloadSize, 5000);
  t.is(info.metadata.data_size, 5000);
  t.deepEqual(info.warnings.map((w) => w.code), ['WARN_PIXELRTS_STORED_RAW']);

  const vat = JSON.parse(run(['info', '--json', path.join(vectorsDir, 'e2_infinite_map_vat.rts.png')]).out);
  t.is(vat.kind, 'infinite-map');
  t.deepEqual(vat.files.map((f) => [f.name, f.size]), [['boot/vmlinuz', 9000], ['boot/initrd.img', 5000]]);
});

test('convert → verify → extract round trip of a boot bundle, sidecar written', (t) => {
  const d = dir('bundle');
  const kernel = prng('cli-k', 70_000);
  const initrd = prng('cli-i', 33_333);
  fs.writeFileSync(path.join(d, 'bzImage'), kernel);
  fs.writeFileSync(path.join(d, 'rd.cpio'), initrd);
  const c = run(['convert', 'bzImage', '--segment', 'initrd=rd.cpio', '--cmdline', 'console=ttyS0 quiet', 'boot.rts.png'], d);
  t.is(c.code, 0, c.err);
  t.regex(c.out, /wrote boot\.rts\.png \(2 segments/);
  const meta = JSON.parse(fs.readFileSync(path.join(d, 'boot.rts.png.meta.json'), 'utf8'));
  t.like(meta, { type: 'boot-bundle', name: 'boot', cmdline: 'console=ttyS0 quiet', data_size: 103_333 });
  t.deepEqual(Object.keys(meta.segments), ['bzImage', 'initrd']);
  t.is(meta.segments.bzImage.type, 'kernel');
  t.is(meta.segments.initrd.type, 'initrd');
  // An independent decoder reads what the CLI wrote.
  const ref = decodePixelRTS(fs.readFileSync(path.join(d, 'boot.rts.png')));
  t.true(ref.payload.equals(Buffer.concat([kernel, initrd])));

  const v = run(['verify', 'boot.rts.png'], d);
  t.is(v.code, 0, v.err);
  t.regex(v.out, /ok\s+payload \(data_hash\)\nok\s+bzImage\nok\s+initrd/);

  const e = run(['extract', 'boot.rts.png', '--segment', 'initrd', '-o', 'initrd.out'], d);
  t.is(e.code, 0, e.err);
  t.true(fs.readFileSync(path.join(d, 'initrd.out')).equals(initrd));
  t.is(run(['extract', 'boot.rts.png', '--segment', 'bzImage'], d).code, 0);
  t.true(fs.readFileSync(path.join(d, 'bzImage')).equals(kernel));
  const all = run(['extract', 'boot.rts.png', '--all', '-d', 'files', '--json'], d);
  t.is(all.code, 0, all.err);
  const written = all.out.trim().split('\n').map((l) => JSON.parse(l));
  t.deepEqual(written.map((w) => [w.type, w.name, w.size]), [['written', 'bzImage', 70_000], ['written', 'initrd', 33_333]]);
  t.is(written[0].path, path.join('files', 'bzImage'));
  t.true(fs.readFileSync(path.join(d, 'files', 'initrd')).equals(initrd));
  t.is(run(['extract', 'boot.rts.png'], d).code, 0);
  t.is(fs.statSync(path.join(d, 'boot.bin')).size, 103_333);
  const stdout = run(['extract', 'boot.rts.png', '--segment', 'initrd', '-o', '-'], d);
  t.is(stdout.code, 0);
  t.true(stdout.stdout.equals(initrd));
});

test('convert of one file: single-file container named by its stem; --compress, --level, --json', (t) => {
  const d = dir('single');
  const text = Buffer.from('text line\n'.repeat(10_000));
  fs.writeFileSync(path.join(d, 'notes.txt'), text);
  const r = run(['convert', 'notes.txt', 'notes.rts.png', '--compress', '--level', '9', '--type', 'text', '--json'], d);
  t.is(r.code, 0, r.err);
  t.is(r.out.trim().split('\n').length, 1, 'one NDJSON line');
  const written = JSON.parse(r.out);
  t.like(written, { type: 'written', path: 'notes.rts.png', sidecar: 'notes.rts.png.meta.json' });
  const meta = written.metadata;
  t.like(meta, { name: 'notes', type: 'text', data_size: text.length, compression: { type: 'zlib', level: 9, original_size: text.length } });
  const info = JSON.parse(run(['info', '--json', 'notes.rts.png'], d).out);
  t.deepEqual(info.files.map((f) => [f.name, f.size]), [['notes', text.length]]);
  t.is(run(['extract', 'notes.rts.png', '-o', 'back.txt'], d).code, 0);
  t.true(fs.readFileSync(path.join(d, 'back.txt')).equals(text));
});

vtest('extract --all keeps Infinite Map directories', (t) => {
  const d = dir('vat');
  const r = run(['extract', path.join(vectorsDir, 'e2_infinite_map_vat.rts.png'), '--all', '-d', 'out'], d);
  t.is(r.code, 0, r.err);
  t.is(sha256(fs.readFileSync(path.join(d, 'out', 'boot', 'vmlinuz'))), sha256(prng('pixelrts-im-kernel', 9000)));
  t.is(sha256(fs.readFileSync(path.join(d, 'out', 'boot', 'initrd.img'))), sha256(prng('pixelrts-im-initrd', 5000)));
});

test('verify exits 1 naming the segment whose hash does not match', (t) => {
  const d = dir('damaged');
  const k = prng('vk', 1000);
  const i = prng('vi', 900);
  const segments = {
    kernel: { type: 'kernel', start: 0, end: 1000, offset: 0, size: 1000, sha256: sha256(k) },
    initrd: { type: 'initrd', start: 1000, end: 1900, offset: 1000, size: 900, sha256: sha256(Buffer.from('other')) },
  };
  fs.writeFileSync(path.join(d, 'bad.rts.png'), encodeLikeOriginal(Buffer.concat([k, i]), { metadata: { segments } }));
  const r = run(['verify', 'bad.rts.png'], d);
  t.is(r.code, 1);
  t.regex(r.out, /ok\s+kernel/);
  t.regex(r.out, new RegExp(`MISMATCH\\s+initrd\\s+expected ${segments.initrd.sha256}, found ${sha256(i)}`));
  t.regex(r.err, /pixelrts verify: bad\.rts\.png: "initrd" does not match its sha256/);
  const j = run(['verify', '--json', 'bad.rts.png'], d);
  t.is(j.code, 1);
  t.is(j.out.trim().split('\n').length, 1, 'one NDJSON line');
  const report = JSON.parse(j.out);
  t.like(report, { type: 'verify', path: 'bad.rts.png', ok: false });
  t.deepEqual(report.files.map((f) => f.status), ['ok', 'mismatch']);
  const e = run(['extract', 'bad.rts.png', '--segment', 'initrd'], d);
  t.is(e.code, 1);
  t.regex(e.err, /file "initrd" sha256 does not match/);
});

test('usage mistakes exit 2 with the usage; failures exit 1 with the file named; --help exits 0', (t) => {
  const d = dir('usage');
  fs.writeFileSync(path.join(d, 'a.bin'), 'a');
  for (const args of [
    ['info'],
    ['info', 'a', 'b'],
    ['info', '--bogus', 'x.rts.png'],
    ['extract', 'x.rts.png', '--all', '-o', 'y'],
    ['extract', 'x.rts.png', '-d', 'y'],
    ['convert', 'a.bin'],
    ['convert', 'a.bin', 'out.bin'],
    ['convert', '--segment', 'nopath', 'o.rts.png'],
    ['convert', 'a.bin', 'o.rts.png', '--level', '99'],
    ['convert', '--segment', 'a=a.bin', '--segment', 'a=a.bin', 'o.rts.png'],
    ['verify'],
    ['frobnicate'],
  ]) {
    const r = run(args, d);
    t.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    t.regex(r.err, /Usage: pixelrts/, args.join(' '));
  }
  const missing = run(['info', 'missing.rts.png'], d);
  t.is(missing.code, 1);
  t.regex(missing.err, /pixelrts info: missing\.rts\.png: cannot read the container \(no such file\)/);
  fs.mkdirSync(path.join(d, 'dir.rts.png'));
  const unwritable = run(['convert', 'a.bin', 'dir.rts.png'], d);
  t.is(unwritable.code, 1);
  t.regex(unwritable.err, /pixelrts convert: cannot write dir\.rts\.png: EISDIR/);
  const noInput = run(['convert', 'nothere.bin', 'o.rts.png'], d);
  t.is(noInput.code, 1);
  t.regex(noInput.err, /input nothere\.bin: cannot read it \(no such file\)/);
  for (const name of ['info', 'extract', 'convert', 'verify']) {
    const h = run([name, '--help'], d);
    t.is(h.code, 0);
    t.regex(h.out, new RegExp(`Usage: pixelrts ${name}`));
  }
});

test('names and metadata reach the terminal escaped; 200,000 segments list without a crash (#16, finding 8)', async (t) => {
  const d = dir('hostile-names');
  await writeContainer(path.join(d, 'evil.rts.png'), [{ name: 'k\x1b]0;pwned\x07', data: Buffer.from('kernel') },
    { name: 'line\nforged', data: Buffer.from('x') }], { name: 'ev\x1b[2Jil', cmdline: 'quiet\r\x1b[31mred' });
  const r = run(['info', 'evil.rts.png'], d);
  t.is(r.code, 0, r.err);
  t.false(/[\x00-\x08\x0b-\x1f\x7f]/.test(r.out), JSON.stringify(r.out));
  t.regex(r.out, /name\s+ev\\x1b\[2Jil/);
  t.regex(r.out, /cmdline\s+quiet\\r\\x1b\[31mred/);
  t.regex(r.out, /k\\x1b\]0;pwned\\x07\s+data\s+6/);
  t.regex(r.out, /line\\nforged\s+data\s+1/);
  const all = run(['extract', 'evil.rts.png', '--all', '-d', 'out'], d);
  t.is(all.code, 0, all.err);
  t.false(/[\x00-\x08\x0b-\x1f\x7f]/.test(all.out), JSON.stringify(all.out));

  const segments = Array.from({ length: 200_000 }, (_, i) => ({ name: `s${i}`, data: Buffer.from([i & 0xff]) }));
  await writeContainer(path.join(d, 'many.rts.png'), segments, { level: 1 });
  const many = spawnSync(process.execPath, [cli, 'info', 'many.rts.png'], { cwd: d, encoding: 'utf8', maxBuffer: 256 << 20, timeout: 120_000 });
  t.is(many.status, 0, many.stderr.slice(0, 2000));
  t.regex(many.stdout, /files \(200000\):/);
  t.regex(many.stdout, /s199999\s+data\s+1\s+199999/);
});

test('every --json is NDJSON with one envelope: each line one object, "type" and "time" first (#15)', (t) => {
  const d = dir('envelope');
  fs.writeFileSync(path.join(d, 'kernel'), prng('env-k', 5000));
  const runs = {
    convert: ['convert', '--segment', 'kernel=kernel', 'e.rts.png', '--json'],
    info: ['info', 'e.rts.png', '--json'],
    verify: ['verify', 'e.rts.png', '--json'],
    extract: ['extract', 'e.rts.png', '--all', '-d', 'out', '--json'],
    cache: ['cache', 'list', '--json'],
  };
  const types = {};
  for (const [name, args] of Object.entries(runs)) {
    const r = run(args, d);
    t.is(r.code, 0, `${name}: ${r.err}`);
    const lines = r.out.split('\n').filter(Boolean);
    types[name] = lines.map((line) => {
      const ev = JSON.parse(line);
      t.deepEqual(Object.keys(ev).slice(0, 2), ['type', 'time'], `${name}: ${line.slice(0, 80)}`);
      t.is(new Date(ev.time).toISOString(), ev.time);
      return ev.type;
    });
  }
  t.deepEqual(types, { convert: ['written'], info: ['container'], verify: ['verify'], extract: ['written'], cache: [] });
});

test('a failing command with --json ends its output with an error event carrying the code', (t) => {
  const d = dir('json-error');
  for (const args of [['info', 'missing.rts.png', '--json'], ['verify', 'missing.rts.png', '--json'], ['extract', 'missing.rts.png', '--all', '--json']]) {
    const r = run(args, d);
    t.is(r.code, 1, r.err);
    const lines = r.out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    t.is(lines.length, 1, r.out);
    t.like(lines[0], { type: 'error', code: 'ERR_PIXELRTS_NOT_FOUND' });
    t.regex(lines[0].message, /missing\.rts\.png/);
    t.regex(r.err, /missing\.rts\.png/);
  }
  // Without --json stdout stays empty.
  t.is(run(['info', 'missing.rts.png'], d).out, '');
});

test('info of a container cut to 5 of 16 MB shows what it can read, says the file is truncated and exits 1 (#15)', async (t) => {
  const d = dir('truncated');
  const whole = path.join(d, 'whole.rts.png');
  await writeContainer(whole, prng('cut', 16 << 20), { name: 'disk' });
  const cut = path.join(d, 'cut.rts.png');
  fs.writeFileSync(cut, fs.readFileSync(whole).subarray(0, 5 << 20));
  const text = run(['info', cut]);
  t.is(text.code, 1, text.err);
  t.regex(text.out, /grid\s+2048x2048/, 'what can be read is shown');
  t.regex(text.err, /^pixelrts info: .*cut\.rts\.png ends at byte 5242880 without the PNG's closing IEND chunk: the file is truncated .*Copy or download it again\.\n$/);
  const json = run(['info', cut, '--json']);
  t.is(json.code, 1);
  t.deepEqual(JSON.parse(json.out).warnings.map((w) => w.code), ['WARN_PIXELRTS_TRUNCATED']);
  t.is(run(['info', whole]).code, 0, 'a whole file is fine');
});
