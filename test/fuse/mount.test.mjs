// The FUSE read path against real mounts: attributes, listings, byte-exact reads (also by
// concurrent readers), read-only behaviour, mount point checks, stale mount cleanup and lazy
// unmount. Payloads are built in memory here; test/fuse/vectors.test.mjs mounts real containers.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { commandMissing, needs, repoRoot } from '../helpers/prereq.mjs';
import { fuseMissing, mountsUnder, nextEvent, pseudoRandom, tempDir, waitFor } from '../helpers/fuse.mjs';

const require = createRequire(import.meta.url);
const { mountTable, unmountPath } = require('../../dist/fuse/mount.js');
const { native } = require('../../dist/native.js');

const fuseTest = needs(test, fuseMissing());
const MiB = 1 << 20;
const MTIME = 1700000000123;

/** A payload, files over it (one contiguous, one of scattered 4 KiB clusters, one inline) and the bytes each should read. */
function sample(size = 4 * MiB) {
  const bytes = pseudoRandom(size, 7);
  const clusters = [];
  for (let i = 0; i < 40; i++) clusters.push([((i * 37) % 512) * 4096, 4096]);
  clusters.push([size - 1000, 1000]);
  const files = [
    { path: '/kernel', extents: [[0, MiB]] },
    { path: '/boot/vmlinuz', extents: clusters },
    { path: '/boot/initrd.img', extents: [[MiB + 3, 2 * MiB + 5]] },
    { path: '/metadata.json', content: Buffer.from('{\n  "name": "sample"\n}\n') },
    { path: '/empty', extents: [] },
  ];
  const expected = new Map(files.map((f) => [f.path,
    f.content ?? Buffer.concat(f.extents.map(([o, n]) => bytes.subarray(o, o + n)))]));
  return { bytes, files, expected };
}

async function mountSample(t, options = {}) {
  const s = sample(options.size);
  const dir = tempDir(t);
  const m = await mountTable({ payload: native().payloadFromBuffer(s.bytes), files: s.files, mtimeMs: MTIME,
    fsname: 'pixelrts:sample' }, dir, options);
  t.teardown(() => m.unmount());
  return { ...s, dir, m };
}

fuseTest('a mounted file table reads back byte-exact, with the right attributes', async (t) => {
  const { dir, m, expected } = await mountSample(t);
  t.is(m.mountpoint, dir);
  t.deepEqual(m.files.map((f) => f.path), ['/boot/initrd.img', '/boot/vmlinuz', '/empty', '/kernel', '/metadata.json']);
  for (const [p, want] of expected) {
    const got = fs.readFileSync(path.join(dir, p));
    t.true(got.equals(want), `${p}: ${got.length} bytes read, ${want.length} expected, contents ${got.equals(want) ? 'equal' : 'differ'}`);
    const st = fs.statSync(path.join(dir, p));
    t.is(st.mode, fs.constants.S_IFREG | 0o444, p);
    t.is(st.size, want.length, p);
    t.is(st.nlink, 1, p);
    t.is(st.mtimeMs, MTIME, p);
    t.is(st.blocks, Math.ceil(want.length / 512), p);
  }
  const root = fs.statSync(dir);
  t.is(root.mode, fs.constants.S_IFDIR | 0o555);
  t.is(root.nlink, 3);  // ".", its entry in the parent, and boot/..
  t.is(fs.statSync(path.join(dir, 'boot')).mode, fs.constants.S_IFDIR | 0o555);
  const inodes = new Set([...expected.keys()].map((p) => fs.statSync(path.join(dir, p)).ino));
  t.is(inodes.size, expected.size, 'every file has its own inode');

  t.deepEqual(fs.readdirSync(dir), ['boot', 'empty', 'kernel', 'metadata.json']);
  t.deepEqual(fs.readdirSync(path.join(dir, 'boot'), { withFileTypes: true }).map((e) => [e.name, e.isFile()]),
    [['initrd.img', true], ['vmlinuz', true]]);
  t.throws(() => fs.statSync(path.join(dir, 'nope')), { code: 'ENOENT' });
  t.throws(() => fs.readdirSync(path.join(dir, 'kernel')), { code: 'ENOTDIR' });

  const sfs = fs.statfsSync(dir);
  const total = [...expected.values()].reduce((n, b) => n + b.length, 0);
  t.is(sfs.bsize, 4096);
  t.is(sfs.blocks, Math.ceil(total / 4096));
  t.is(sfs.bfree, 0);
  t.is(sfs.bavail, 0);
  t.is(sfs.files, 7);  // inodes: the root, boot/ and five files
  const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === dir);
  t.regex(line, / ro[, ].* - fuse\.pixelrts pixelrts:sample /);
});

fuseTest('reads at odd offsets and across extents, including past the end', async (t) => {
  const { dir, expected } = await mountSample(t);
  for (const [p, want] of expected) {
    const fd = fs.openSync(path.join(dir, p), 'r');
    try {
      for (const [off, len] of [[0, 1], [4095, 2], [4096, 8192], [want.length - 1, 10], [want.length, 5], [want.length + 100, 5], [123, 1 << 20]]) {
        const buf = Buffer.alloc(len);
        const n = fs.readSync(fd, buf, 0, len, off);
        const exp = want.subarray(Math.min(off, want.length), Math.min(off + len, want.length));
        t.is(n, exp.length, `${p} @${off}+${len}`);
        t.true(buf.subarray(0, n).equals(exp), `${p} @${off}+${len}`);
      }
    } finally {
      fs.closeSync(fd);
    }
  }
});

fuseTest('every kind of write fails with EROFS', async (t) => {
  const { dir } = await mountSample(t);
  const k = path.join(dir, 'kernel');
  t.throws(() => fs.writeFileSync(k, 'x'), { code: 'EROFS' });
  t.throws(() => fs.openSync(k, 'r+'), { code: 'EROFS' });
  t.throws(() => fs.openSync(k, 'a'), { code: 'EROFS' });
  t.throws(() => fs.writeFileSync(path.join(dir, 'new'), 'x'), { code: 'EROFS' });
  t.throws(() => fs.mkdirSync(path.join(dir, 'd')), { code: 'EROFS' });
  t.throws(() => fs.unlinkSync(k), { code: 'EROFS' });
  t.throws(() => fs.rmdirSync(path.join(dir, 'boot')), { code: 'EROFS' });
  t.throws(() => fs.renameSync(k, path.join(dir, 'k2')), { code: 'EROFS' });
  t.throws(() => fs.chmodSync(k, 0o644), { code: 'EROFS' });
  t.throws(() => fs.truncateSync(k, 0), { code: 'EROFS' });
  t.throws(() => fs.symlinkSync('kernel', path.join(dir, 'l')), { code: 'EROFS' });
  t.throws(() => fs.linkSync(k, path.join(dir, 'h')), { code: 'EROFS' });
  t.throws(() => fs.utimesSync(k, new Date(), new Date()), { code: 'EROFS' });
  t.throws(() => fs.accessSync(k, fs.constants.W_OK), { code: 'EROFS' });
  t.notThrows(() => fs.accessSync(k, fs.constants.R_OK));
});

needs(fuseTest, commandMissing('python3', 'python3'))('extended attributes are not supported (ENOTSUP), listing them likewise', async (t) => {
  const { dir } = await mountSample(t);
  // Node has no xattr API; Python's os.getxattr/listxattr/setxattr are thin syscall wrappers.
  const out = execFileSync('python3', ['-c', `
import errno, os, sys
p = sys.argv[1]
for name, call in [('get', lambda: os.getxattr(p, 'user.x')), ('list', lambda: os.listxattr(p)), ('set', lambda: os.setxattr(p, 'user.x', b'1'))]:
    try:
        call(); print(name, 'ok')
    except OSError as e:
        print(name, errno.errorcode[e.errno])
`, path.join(dir, 'kernel')], { encoding: 'utf8' });
  t.deepEqual(out.trim().split('\n'), ['get ENOTSUP', 'list ENOTSUP', 'set EROFS']);
});

fuseTest('eight concurrent readers at random offsets and sizes read byte-exact', async (t) => {
  const { dir, expected } = await mountSample(t, { size: 8 * MiB });
  const targets = ['/boot/initrd.img', '/boot/vmlinuz', '/kernel'];
  // Workers get the expected bytes in shared memory; half read with O_DIRECT so every read
  // reaches the FUSE server instead of the page cache.
  const shared = targets.map((p) => {
    const sab = new SharedArrayBuffer(expected.get(p).length);
    Buffer.from(sab).set(expected.get(p));
    return { file: path.join(dir, p), sab };
  });
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    const fs = require('node:fs');
    const { shared, id, direct } = workerData;
    let x = id * 2654435761 >>> 0 || 1;
    const rnd = (n) => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x % n; };
    const bad = [];
    let reads = 0;
    for (const { file, sab } of shared) {
      const want = Buffer.from(sab);
      const fd = fs.openSync(file, direct ? fs.constants.O_RDONLY | fs.constants.O_DIRECT : 'r');
      const buf = Buffer.alloc(1 << 21);
      for (let i = 0; i < 150; i++) {
        const off = rnd(want.length + 64);
        const len = 1 + rnd(i % 3 === 0 ? 1 << 21 : 70000);
        const n = fs.readSync(fd, buf, 0, len, off);
        const exp = want.subarray(Math.min(off, want.length), Math.min(off + len, want.length));
        reads++;
        if (n !== exp.length || !buf.subarray(0, n).equals(exp)) bad.push(file + ' @' + off + '+' + len + ': read ' + n);
      }
      fs.closeSync(fd);
    }
    parentPort.postMessage({ bad, reads });`;
  const results = await Promise.all(Array.from({ length: 8 }, (_, id) => new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { shared, id: id + 1, direct: id % 2 === 0 } });
    w.once('message', resolve);
    w.once('error', reject);
  })));
  t.deepEqual(results.flatMap((r) => r.bad), []);
  t.is(results.reduce((n, r) => n + r.reads, 0), 8 * 3 * 150);
});

fuseTest('fs.readFileSync on the mount from the mounting process does not deadlock', async (t) => {
  const { dir, expected, m } = await mountSample(t);
  // The event loop is blocked for the whole read: the FUSE threads must not need it.
  t.true(fs.readFileSync(path.join(dir, 'boot/initrd.img')).equals(expected.get('/boot/initrd.img')));
  t.true(fs.readFileSync(path.join(dir, 'kernel')).equals(expected.get('/kernel')));
  // Also while an unmount is under way: the read either completes or fails, it never hangs.
  const done = m.unmount();
  try {
    fs.readFileSync(path.join(dir, 'boot/vmlinuz'));
  } catch (err) {
    t.true(['ENOENT', 'ENOTCONN', 'ECONNABORTED', 'EINTR', 'EIO'].includes(err.code), err.code);
  }
  await done;
  t.deepEqual(mountsUnder(dir), []);
});

fuseTest('unmount with a file open is lazy, releases the mount and fails the open file cleanly', async (t) => {
  const { dir, m, expected } = await mountSample(t);
  const fd = fs.openSync(path.join(dir, 'kernel'), 'r');
  const unmounted = new Promise((resolve) => m.once('unmount', resolve));
  await m.unmount();
  t.is(await unmounted, 'unmounted');
  t.false(m.mounted);
  t.deepEqual(mountsUnder(dir), []);
  t.deepEqual(fs.readdirSync(dir), [], 'the directory is empty again');
  const buf = Buffer.alloc(4096);
  // Pages already cached may still be served; uncached ones fail because the server is gone.
  try {
    const n = fs.readSync(fd, buf, 0, 4096, 512 * 1024);
    t.true(buf.subarray(0, n).equals(expected.get('/kernel').subarray(512 * 1024, 512 * 1024 + n)));
  } catch (err) {
    t.true(['ENOTCONN', 'EIO'].includes(err.code), err.code);
  }
  fs.closeSync(fd);
  await m.unmount();  // idempotent
});

fuseTest('unmountPath (pixelrts unmount) from outside ends the mount with an unmount event', async (t) => {
  const { dir, m } = await mountSample(t);
  const ended = nextEvent(m, 'unmount');
  await unmountPath(dir);
  t.regex(await ended, /outside pixelrts/);
  t.false(m.mounted);
  t.deepEqual(mountsUnder(dir), []);
  await t.throwsAsync(unmountPath(dir), { code: 'ERR_PIXELRTS_NOT_MOUNTED' });
});

fuseTest('unmountPath refuses mounts that are not pixelrts mounts', async (t) => {
  await t.throwsAsync(unmountPath('/proc'), { code: 'ERR_PIXELRTS_MOUNTPOINT_FOREIGN', message: /proc mount.*umount \/proc/ });
});

fuseTest('mount point problems are errors that say what to do', async (t) => {
  const { dir } = await mountSample(t);
  const table = () => ({ payload: native().payloadFromBuffer(Buffer.from('abc')), files: [{ path: '/a', extents: [[0, 3]] }], mtimeMs: 0, fsname: 'x' });
  await t.throwsAsync(mountTable(table(), dir), { code: 'ERR_PIXELRTS_MOUNTPOINT_BUSY', message: /already a mount point.*pixelrts unmount/ });
  const scratch = tempDir(t);
  await t.throwsAsync(mountTable(table(), path.join(scratch, 'missing')), { code: 'ERR_PIXELRTS_MOUNTPOINT', message: /does not exist; create it with mkdir -p/ });
  fs.writeFileSync(path.join(scratch, 'file'), 'x');
  await t.throwsAsync(mountTable(table(), path.join(scratch, 'file')), { code: 'ERR_PIXELRTS_MOUNTPOINT', message: /is not a directory/ });
  await t.throwsAsync(mountTable(table(), scratch), { code: 'ERR_PIXELRTS_MOUNTPOINT_NOT_EMPTY', message: /not empty \(holds file\)/ });
  t.deepEqual(mountsUnder(scratch), []);
});

fuseTest('a mount point whose name has spaces, commas and backslashes works and is recognised as busy', async (t) => {
  const dir = path.join(tempDir(t), 'odd name, with\\ \tchars');
  fs.mkdirSync(dir);
  const table = () => ({ payload: native().payloadFromBuffer(Buffer.from('abc')), files: [{ path: '/a', extents: [[0, 3]] }],
    mtimeMs: 0, fsname: 'pixelrts:odd, name\\x' });
  const m = await mountTable(table(), dir);
  t.teardown(() => m.unmount());
  t.is(m.mountpoint, dir);
  t.is(fs.readFileSync(path.join(dir, 'a'), 'utf8'), 'abc');
  await t.throwsAsync(mountTable(table(), dir), { code: 'ERR_PIXELRTS_MOUNTPOINT_BUSY', message: /fuse\.pixelrts from pixelrts:odd, name\\x/ });
  await m.unmount();
  t.deepEqual(fs.readdirSync(dir), []);
});

fuseTest('a bad file table is refused before anything is mounted', async (t) => {
  const dir = tempDir(t);
  const payload = native().payloadFromBuffer(Buffer.alloc(100));
  const attempt = (files) => mountTable({ payload, files, mtimeMs: 0, fsname: 'x' }, dir);
  await t.throwsAsync(attempt([{ path: '/a', extents: [[90, 20]] }]), { code: 'ERR_PIXELRTS_FUSE_FILES', message: /extent 0 of '\/a' is \[90, \+20\) but the payload holds 100 bytes/ });
  await t.throwsAsync(attempt([{ path: '/a/../b', extents: [] }]), { code: 'ERR_PIXELRTS_FUSE_FILES', message: /'\.\.' component/ });
  await t.throwsAsync(attempt([{ path: '/a', extents: [] }, { path: '/a', content: Buffer.alloc(1) }]), { code: 'ERR_PIXELRTS_FUSE_FILES', message: /appears twice/ });
  await t.throwsAsync(attempt([{ path: '/a', extents: [] }, { path: '/a/b', extents: [] }]), { code: 'ERR_PIXELRTS_FUSE_FILES', message: /goes through 'a', which is a file/ });
  await t.throwsAsync(attempt([{ path: '/a', extents: [[0, -1]] }]), { code: 'ERR_PIXELRTS_ARGUMENT' });
  t.deepEqual(mountsUnder(dir), []);
});

const rootOnly = process.getuid?.() === 0 ? null : 'making a stale mount by hand needs root (mount(2))';
needs(fuseTest, rootOnly)('stale mounts at the target (two stacked) are cleaned away with a warning each', async (t) => {
  const dir = tempDir(t);
  // FUSE mounts whose server is already gone: the shell holding /dev/fuse exits right away.
  for (const name of ['pixelrts:stale1', 'pixelrts:stale2']) {
    execFileSync('sh', ['-c', `exec 9<>/dev/fuse; mount -i -t fuse.pixelrts -o fd=9,rootmode=40000,user_id=0,group_id=0 ${name} "${dir}"`]);
  }
  t.throws(() => fs.statSync(dir), { code: 'ENOTCONN' });
  t.is(mountsUnder(dir).length, 2);
  const warnings = [];
  const m = await mountTable({ payload: native().payloadFromBuffer(Buffer.from('hello')), files: [{ path: '/a', extents: [[0, 5]] }],
    mtimeMs: 0, fsname: 'pixelrts:fresh' }, dir, { onWarning: (w) => warnings.push(w) });
  t.teardown(() => m.unmount());
  t.is(warnings.length, 2);
  t.regex(warnings[0], /held a stale FUSE mount \(pixelrts:stale2: .*Transport endpoint is not connected.*unmounted/);
  t.regex(warnings[1], /held a stale FUSE mount \(pixelrts:stale1: /);
  t.deepEqual(m.warnings, warnings);
  t.is(fs.readFileSync(path.join(dir, 'a'), 'utf8'), 'hello');
  t.is(mountsUnder(dir).length, 1);
});

// A private mount namespace (unshare -m) hides /dev/fuse or fusermount3 from one child process
// only, so the real preflight errors can be seen without touching the machine.
const canUnshare = process.getuid?.() === 0 ? commandMissing('unshare', 'util-linux') : 'hiding /dev/fuse in a mount namespace needs root';
for (const [hidden, code, message] of [
  ['/dev/fuse', 'ERR_PIXELRTS_FUSE_DEVICE', /\/dev\/fuse is not a character device: load the fuse kernel module \(modprobe fuse\) or, in a container, run it with --device \/dev\/fuse/],
  ['/usr/bin/fusermount3', 'ERR_PIXELRTS_FUSE_HELPER', /fusermount3 was not found .*install the Debian package fuse3/],
]) {
  needs(fuseTest, canUnshare)(`without ${hidden} mounting fails with ${code} saying what to install or load`, async (t) => {
    const dir = tempDir(t);
    const empty = path.join(dir, 'empty');
    fs.writeFileSync(empty, '');
    const mp = path.join(dir, 'mnt');
    fs.mkdirSync(mp);
    const script = `require(${JSON.stringify(path.join(repoRoot, 'dist', 'fuse/mount.js'))})
      .mountTable({ payload: require(${JSON.stringify(path.join(repoRoot, 'dist', 'native.js'))}).native().payloadFromBuffer(Buffer.alloc(1)),
        files: [], mtimeMs: 0, fsname: 'x' }, ${JSON.stringify(mp)})
      .then(() => console.log('mounted'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));`;
    // Hide every fusermount3 on the search path the library uses, not just the first.
    const helpers = hidden === '/dev/fuse' ? [hidden]
      : ['/usr/bin', '/bin', '/usr/local/bin', '/usr/sbin', '/sbin'].map((d) => `${d}/fusermount3`).filter((p) => fs.existsSync(p));
    const binds = helpers.map((p) => `mount --bind ${empty} ${p}`).join(' && ');
    const out = execFileSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c',
      `${binds} && PATH=/usr/bin:/bin exec "${process.execPath}" -e '${script.replace(/'/g, "'\\''")}'`], { encoding: 'utf8' });
    const result = JSON.parse(out);
    t.is(result.code, code);
    t.regex(result.message, message);
    t.deepEqual(mountsUnder(mp), []);
  });
}
