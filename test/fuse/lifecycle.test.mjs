// A mount never outlives its owner: whatever stage the owning process (or worker thread) is
// at when it ends, or however it ends, no mount is left and the process exits cleanly.
import test from 'ava';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { needs, repoRoot } from '../helpers/prereq.mjs';
import { fuseMissing, mountsUnder, tempDir, waitFor } from '../helpers/fuse.mjs';

const fuseTest = needs(test, fuseMissing());
const child = path.join(repoRoot, 'test', 'helpers', 'fuse-child.cjs');
const HANG_MS = 20000;

/** Runs the child to its end; resolves { code, signal, out, err }. `onLine` may kill it. */
function run(dir, stage, onLine = () => {}) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--expose-gc', child, dir, stage], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), HANG_MS);
    p.stdout.on('data', (d) => {
      out += d;
      for (const line of String(d).split('\n').filter(Boolean)) onLine(line, p);
    });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err, hung: signal === 'SIGKILL' && !out.includes('mounted') });
    });
  });
}

for (const [stage, expectedCode, expectedOut] of [
  ['native-mounting', 0, ''],
  ['mounting', 0, ''],
  ['readers', 0, 'mounted\n'],
  ['unmounting', 0, 'mounted\n'],
  ['unmount-with-readers', 0, 'mounted\nclean\n'],
  ['natural', 0, 'mounted\n'],
  ['throw', 1, 'mounted\n'],
  ['worker-terminate', 0, 'clean\n'],
  ['worker-exit', 0, 'clean\n'],
  ['gc', 0, 'mounted\nclean\n'],
]) {
  fuseTest(`the owner ends at stage "${stage}": clean exit, no mount left`, async (t) => {
    const dir = tempDir(t);
    const started = Date.now();
    const r = await run(dir, stage);
    t.is(r.signal, null, `ended by signal ${r.signal} after ${Date.now() - started} ms (a hang or a crash); stderr:\n${r.err}`);
    t.is(r.code, expectedCode, r.err);
    t.is(r.out, expectedOut, r.err);
    t.deepEqual(mountsUnder(dir), [], 'no mount left once the process has exited');
    if (stage !== 'throw') t.notRegex(r.err, /Error|fuse:/, 'nothing printed on stderr');
  });
}

fuseTest('SIGKILL of the owning process leaves no mount after 2 s', async (t) => {
  const dir = tempDir(t);
  let killedAt = 0;
  const r = await run(dir, 'hold', (line, p) => {
    if (line === 'mounted') {
      t.is(mountsUnder(dir).length, 1, 'mounted while the owner runs');
      killedAt = Date.now();
      p.kill('SIGKILL');
    }
  });
  t.is(r.signal, 'SIGKILL');
  t.true(killedAt > 0, 'the child mounted');
  // fusermount3 (auto_unmount) notices its socket closing and unmounts.
  t.true(await waitFor(() => mountsUnder(dir).length === 0, 2000 - (Date.now() - killedAt)), 'mount gone within 2 s');
});
