// The CLI: `pixelrts mount` stays in the foreground and unmounts on SIGTERM or SIGINT, or ends
// when `pixelrts unmount` removes its mount; --json output; usage errors exit 2.
import test from 'ava';
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { needs, repoRoot, vectorsDir, vectorsMissing } from '../helpers/prereq.mjs';
import { fuseMissing, mountsUnder, tempDir } from '../helpers/fuse.mjs';

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const vectorTest = needs(needs(test, fuseMissing()), vectorsMissing());
const multiseg = path.join(vectorsDir, 'e_multiseg.rts.png');

/** Starts `pixelrts mount`; resolves once it printed its first stdout line. */
function startMount(args) {
  const p = spawn(process.execPath, [cli, 'mount', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const result = { out: '', err: '', exit: null };
  result.exit = new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal })));
  p.stderr.on('data', (d) => { result.err += d; });
  const firstLine = new Promise((resolve) => {
    p.stdout.on('data', (d) => {
      result.out += d;
      if (result.out.includes('\n')) resolve();
    });
    p.on('exit', resolve);
  });
  const killer = setTimeout(() => p.kill('SIGKILL'), 20000);
  result.exit.then(() => clearTimeout(killer));
  return firstLine.then(() => ({ p, result }));
}

function runCli(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  vectorTest(`pixelrts mount --json serves the files until ${signal}, then unmounts and exits 0`, async (t) => {
    const dir = tempDir(t);
    const { p, result } = await startMount(['--json', multiseg, dir]);
    const mounted = JSON.parse(result.out.split('\n')[0]);
    t.is(mounted.type, 'mounted');
    t.false(Number.isNaN(Date.parse(mounted.time)));
    t.is(mounted.mountpoint, dir);
    t.deepEqual(mounted.files.map((f) => f.path), ['/initrd', '/kernel', '/metadata.json']);
    t.true(fs.readFileSync(path.join(dir, 'kernel')).equals(fs.readFileSync(path.join(vectorsDir, 'e_multiseg.kernel.bin'))));
    p.kill(signal);
    const { code } = await result.exit;
    t.is(code, 0, result.err);
    t.like(JSON.parse(result.out.trim().split('\n')[1]), { type: 'unmounted', mountpoint: dir, reason: 'unmounted' });
    t.deepEqual(mountsUnder(dir), []);
  });
}

vectorTest('pixelrts unmount ends a foreground pixelrts mount', async (t) => {
  const dir = tempDir(t);
  const { result } = await startMount([multiseg, dir]);
  t.regex(result.out, new RegExp(`^Mounted .*e_multiseg\\.rts\\.png at ${dir}:\n`));
  await new Promise((r) => setTimeout(r, 100));
  t.regex(result.out, /\/kernel\s+4\.0 KiB\n/);
  const r = await runCli(['unmount', dir]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `Unmounted ${dir}.\n`);
  const { code } = await result.exit;
  t.is(code, 0, result.err);
  t.regex(result.out, /unmounted outside pixelrts/);
  t.deepEqual(mountsUnder(dir), []);
  const again = await runCli(['unmount', dir]);
  t.is(again.code, 1);
  t.regex(again.stderr, /is not a mount point; nothing to unmount/);
});

vectorTest('pixelrts mount reports mount point errors with exit code 1 and usage errors with 2', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'x'), '');
  const busy = await runCli(['mount', multiseg, dir]);
  t.is(busy.code, 1);
  t.regex(busy.stderr, /^pixelrts mount: mount point .* is not empty \(holds x\)/);
  const usage = await runCli(['mount', multiseg]);
  t.is(usage.code, 2);
  t.regex(usage.stderr, /Usage: pixelrts mount/);
});

const rootOnly = process.getuid?.() === 0 ? null : 'making a stale mount by hand needs root (mount(2))';
needs(vectorTest, rootOnly)('pixelrts mount cleans a stale mount at the target and prints a warning', async (t) => {
  const dir = tempDir(t);
  execFileSync('sh', ['-c', `exec 9<>/dev/fuse; mount -i -t fuse.pixelrts -o fd=9,rootmode=40000,user_id=0,group_id=0 pixelrts:dead "${dir}"`]);
  const { p, result } = await startMount(['--json', multiseg, dir]);
  const mounted = JSON.parse(result.out.split('\n')[0]);
  t.is(mounted.warnings.length, 1);
  t.regex(result.err, /^pixelrts mount: warning: .* held a stale FUSE mount \(pixelrts:dead: .*\); it was unmounted\.\n$/);
  t.is(mountsUnder(dir).length, 1);
  p.kill('SIGTERM');
  t.is((await result.exit).code, 0);
  t.deepEqual(mountsUnder(dir), []);
});
