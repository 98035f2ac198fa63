// The shared CLI helpers: argument parsing (usage errors) and the TTY-only progress line.
import test from 'ava';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { parseArgs } = require('../../dist/cli/args.js');
const { Progress, withProgress } = require('../../dist/cli/progress.js');
const { formatBytes } = require('../../dist/format.js');

const spec = {
  json: { type: 'boolean' },
  out: { type: 'string', short: 'o' },
  segment: { type: 'string', multiple: true },
  level: { type: 'integer', min: 0, max: 12 },
};

test('parseArgs: options, repeats, integers, positionals, --', (t) => {
  const r = parseArgs(['a.png', '--json', '-o', 'x', '--segment', 'k=1', '--segment=i=2', '--level', '9', '--', '--b'], spec);
  t.deepEqual(r.positionals, ['a.png', '--b']);
  t.is(r.options.json, true);
  t.is(r.options.out, 'x');
  t.deepEqual(r.options.segment, ['k=1', 'i=2']);
  t.is(r.options.level, 9);
  const empty = parseArgs([], spec);
  t.deepEqual(empty.options.segment, []);
  t.is(empty.options.out, undefined);
});

test('parseArgs: mistakes are usage errors naming the option', (t) => {
  const cases = [
    [['--nope'], /nope/],
    [['--out'], /out/],
    [['--level', 'abc'], /--level: expected an integer, found 'abc'/],
    [['--level', '13'], /--level: expected an integer in 0\.\.12, found 13/],
  ];
  for (const [argv, re] of cases) {
    const err = t.throws(() => parseArgs(argv, spec));
    t.is(err.code, 'ERR_PIXELRTS_USAGE');
    t.regex(err.message, re);
  }
  t.throws(() => parseArgs([], spec, { minPositionals: 1, positionalsName: '<file>' }), { message: /missing <file>/ });
  t.throws(() => parseArgs(['a', 'b'], spec, { maxPositionals: 1 }), { message: /too many arguments.*found 2/ });
});

function fakeStream(isTTY) {
  const out = [];
  return { isTTY, columns: 80, write: (s) => { out.push(s); return true; }, out };
}

test('progress draws on a TTY after the delay and clears the line when finished', async (t) => {
  const stream = fakeStream(true);
  await withProgress('decoding', async (p) => {
    p.update(512 * 1024, 1024 * 1024);
    await new Promise((r) => setTimeout(r, 250));
  }, undefined, { stream, delayMs: 0 });
  const text = stream.out.join('');
  t.regex(text, /decoding \[#{12}\.{12}\] 50% 512\.0 KiB\/1\.0 MiB/);
  t.true(text.endsWith('\r\x1b[K'));
});

test('progress draws nothing when not a TTY, or before the delay', async (t) => {
  const pipe = fakeStream(false);
  const tty = fakeStream(true);
  const a = new Progress('x', 10, { stream: pipe, delayMs: 0 });
  const b = new Progress('y', undefined, { stream: tty, delayMs: 60_000 });
  await new Promise((r) => setTimeout(r, 250));
  a.finish(); b.finish();
  t.deepEqual(pipe.out, []);
  t.deepEqual(tty.out, []);
  t.is(formatBytes(1023), '1023 B');
  t.is(formatBytes(16 * 1024 * 1024), '16.0 MiB');
});

test('NO_COLOR: stage marks and details on a terminal are drawn without colour when it is set (#15)', (t) => {
  const { StageReporter } = require('../../dist/boot/events.js');
  const draw = () => {
    let out = '';
    const sink = { write: (s) => { out += s; return true; } };
    const r = new StageReporter('tty', sink);
    r.stage({ stage: 'open', status: 'done', ms: 3, at: 3, detail: '1 file' });
    return out;
  };
  const saved = process.env.NO_COLOR;
  t.teardown(() => { if (saved === undefined) delete process.env.NO_COLOR; else process.env.NO_COLOR = saved; });
  delete process.env.NO_COLOR;
  t.regex(draw(), /\x1b\[32m✓\x1b\[0m open container/);
  process.env.NO_COLOR = '1';
  const plain = draw();
  t.regex(plain, /^✓ open container {2}3 ms {2}1 file\n$/);
  t.notRegex(plain, /\x1b\[\d+m/);
});

test('pixelrts help <command> prints that command\'s usage; help of an unknown one exits 2 (#15)', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;
  const r = spawnSync(process.execPath, [cli, 'help', 'boot'], { encoding: 'utf8' });
  t.is(r.status, 0);
  t.regex(r.stdout, /^Usage: pixelrts boot <file\.rts\.png\|URL> \[options\]/);
  const u = spawnSync(process.execPath, [cli, 'help', 'bogus'], { encoding: 'utf8' });
  t.is(u.status, 2);
  t.regex(u.stderr, /unknown command 'bogus'/);
});

test('progress on a terminal that reports 0 columns (or none) is not cut to 10 characters (#15)', async (t) => {
  for (const columns of [0, undefined]) {
    const stream = { isTTY: true, columns, write(s) { this.out.push(s); return true; }, out: [] };
    await withProgress('verifying boot.rts.png', async (p) => {
      p.update(512 * 1024, 1024 * 1024);
      await new Promise((r) => setTimeout(r, 250));
    }, undefined, { stream, delayMs: 0 });
    t.regex(stream.out.join(''), /verifying boot\.rts\.png \[#{12}\.{12}\] 50% 512\.0 KiB\/1\.0 MiB/, `columns ${columns}`);
  }
});

test('progress shows %, rate and time left once the total is known (#15)', async (t) => {
  const stream = fakeStream(true);
  await withProgress('extracting', async (p) => {
    p.update(1 << 20, 4 << 20);
    await new Promise((r) => setTimeout(r, 700));
    p.update(2 << 20, 4 << 20);
    await new Promise((r) => setTimeout(r, 150));
  }, undefined, { stream, delayMs: 0 });
  t.regex(stream.out.join(''), /extracting \[#+\.+\] 50% 2\.0 MiB\/4\.0 MiB, \d+(\.\d)? (KiB|MiB)\/s, \d+s left/);
});

test('verify and extractTo report their progress: bytes done up to the total (#15)', async (t) => {
  const { writeContainer } = require('../../dist/codec/writer.js');
  const { open } = require('../../dist/codec/container.js');
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-progress-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'p.rts.png');
  const size = 9 << 20;
  await writeContainer(file, [
    { name: 'kernel', data: Buffer.alloc(3 << 20, 1), type: 'kernel' },
    { name: 'disk', data: Buffer.alloc(size - (3 << 20), 2), type: 'disk' },
  ]);
  const calls = [];
  const report = await (await open(file)).verify({ onProgress: (done, total) => calls.push([done, total]) });
  t.true(report.ok);
  t.true(calls.length > 1, 'more than one step');
  t.deepEqual(calls.at(-1), [size, size]);
  t.true(calls.every(([d], i) => i === 0 || d > calls[i - 1][0]));
  const extracted = [];
  await (await open(file)).extractTo(path.join(dir, 'disk'), 'disk', { onProgress: (done, total) => extracted.push([done, total]) });
  t.deepEqual(extracted.at(-1), [6 << 20, 6 << 20]);
  t.true(extracted.length > 1);
});
