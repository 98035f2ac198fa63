// The package as users get it (#15): `npm pack` of a clean copy of the checkout refuses to pack
// without the prebuilt binaries package.json claims, and with them holds dist/, the prebuilds
// (linux-x64, and linux-arm64 cross compiled), LICENSE and THIRD-PARTY-NOTICES; the prebuilds
// need no more than the glibc baseline and no libstdc++; the tarball installed into a fresh
// directory loads its prebuilt binary without compiling, on x64 (here, and on the baseline's
// glibc in the Debian 11 build chroot) and, in Debian's arm64 Node.js under qemu-aarch64, on
// arm64; with prebuilds/ removed it compiles with node-gyp (the fallback node-gyp-build takes
// where no prebuild matches) and loads that.
// Everything happens in scratch directories; the checkout's own build/ and dist/ are left alone.
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { commandMissing, needs, repoRoot } from './helpers/prereq.mjs';
import { bootMissing, demoContainer } from './helpers/boot.mjs';

const require = createRequire(import.meta.url);
const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
const prebuildName = `${pkg.name}.glibc.node`;
// The newest glibc a prebuild may need (docs/packaging.md says why this one).
const glibcBaseline = '2.31';

// node-gyp needs Node's headers and gypi files; offline they come from the running Node's own
// install (Debian: libnode-dev; NodeSource's nodejs ships them) instead of a download.
const nodeDir = path.resolve(path.dirname(process.execPath), '..');

function packageMissing() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return `the package is built and tested on linux-x64 (this is ${process.platform}-${process.arch})`;
  }
  if (!fs.existsSync(path.join(nodeDir, 'include', 'node', 'common.gypi'))) {
    return `Node's headers are not at ${nodeDir}/include/node (Debian: install libnode-dev), which node-gyp needs offline`;
  }
  // The prebuilds are built as root in a Debian 11 chroot, against Debian 12's libraries that
  // apt fetches (scripts/prebuild-backend.sh).
  if (process.getuid() !== 0) return 'building the prebuilds needs root (a Debian 11 chroot)';
  return commandMissing('git', 'git') ?? commandMissing('tar', 'tar') ?? commandMissing('readelf', 'binutils') ??
    commandMissing('mmdebstrap', 'mmdebstrap') ?? commandMissing('apt-get', 'apt') ?? commandMissing('dpkg-deb', 'dpkg') ??
    commandMissing('aarch64-linux-gnu-strip', 'binutils-aarch64-linux-gnu');
}

const serial = needs(test, packageMissing()).serial;
const arm64Serial = needs(test, packageMissing() ?? commandMissing('qemu-aarch64', 'qemu-user')).serial;
// The x64 prebuild on Debian 11's glibc: this Node.js, copied into the build chroot, must run
// there on its own (NodeSource's or nodejs.org's do; Debian's needs its libnode).
const selfContainedNode = /libnode/.test(execFileSync('readelf', ['-d', process.execPath], { encoding: 'utf8' }))
  ? `${process.execPath} needs libnode, so it cannot run by itself in the Debian 11 chroot (use NodeSource's or nodejs.org's Node.js)`
  : null;
const oldGlibcSerial = needs(test, packageMissing() ?? selfContainedNode).serial;

/** The environment of a user's shell: none of the npm_* variables of the `npm test` running us. */
function userEnv(extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  return { ...env, npm_config_nodedir: nodeDir, JOBS: '2', ...extra };
}

function run(cmd, args, cwd, env = userEnv()) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}`, stdout: r.stdout };
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-package-'));
test.after.always(() => fs.rmSync(scratch, { recursive: true, force: true }));
const source = path.join(scratch, 'source');
const state = {};

/** A clean copy: the files git tracks or would track, as in the working tree; no build/, dist/, prebuilds/. */
function cleanCopy() {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    { cwd: repoRoot, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const f of files) {
    const from = path.join(repoRoot, f);
    if (!fs.existsSync(from)) continue;  // deleted in the working tree
    fs.mkdirSync(path.dirname(path.join(source, f)), { recursive: true });
    fs.copyFileSync(from, path.join(source, f));
  }
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(source, 'node_modules'));
}

/** Installs `tarball` into a fresh project directory; returns the installed package's directory. */
function install(t, name, tarball) {
  const dir = path.join(scratch, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"app","version":"1.0.0","private":true}\n');
  const r = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', tarball], dir);
  t.is(r.status, 0, `npm install ${tarball} failed:\n${r.out}`);
  return { app: dir, installed: path.join(dir, 'node_modules', 'pixelrts') };
}

// Runs in the app directory: the public names, the addon's path, and a round trip through it.
// The container written is printed as a hash: the same bytes are expected from every CPU.
const useIt = `
const px = require('pixelrts');
const data = Buffer.from('pixelrts from the packed tarball');
const png = px.encode([{ name: 'data', data }], { name: 'packed' });
const back = px.decode(png).subarray(0, data.length);
const addon = require('node-gyp-build').resolve(require('path').dirname(require.resolve('pixelrts/package.json')));
const png256 = require('crypto').createHash('sha256').update(png).digest('hex');
const glibc = process.report.getReport().header.glibcVersionRuntime;
console.log(JSON.stringify({ names: Object.keys(px).sort(), addon, roundTrip: back.equals(data), png256, arch: process.arch, glibc }));
`;

const byVersion = (a, b) => a.localeCompare(b, 'en', { numeric: true });

/** The highest version of `node` (GLIBC, GLIBCXX) in readelf -V's list of needed versions. */
function newest(node, versionNeeds) {
  const versions = [...versionNeeds.matchAll(new RegExp(`\\bName: ${node}_([0-9.]+)`, 'g'))].map((m) => m[1]);
  return versions.sort(byVersion).pop();
}

/** useIt's answer, run by `node` (with `args` before the script) in `app`. */
function use(t, app, node = process.execPath, args = []) {
  const r = run(node, [...args, '-e', useIt], app);
  t.is(r.status, 0, `require('pixelrts') failed:\n${r.out}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

// The README's API example ("Boot and talk to the VM"), as a user runs it from the installed
// package, against the demo guest (its container for the README's alpine.rts.png; TCG here).
const readmeExample = `
const px = require('pixelrts');
(async () => {
  const vm = await px.boot(process.argv[1], { memory: '512M', accel: 'tcg' });
  const lines = [];
  vm.console.on('line', (line) => lines.push(line));
  const messages = [];
  vm.on('message', (msg) => messages.push(msg.type + ' ' + msg.data.message));
  const status = await vm.qmp.execute('query-status');
  const reply = await vm.request({ type: 'command', data: { message: 'ping' } }, { timeout: 60000 });
  const exit = await vm.shutdown({ timeout: 10000 });
  console.log(JSON.stringify({ running: status.running, reply: reply.data.message, poweredOff: exit.poweredOff, lines: lines.length, messages }));
})().catch((err) => { console.error(err); process.exit(1); });`;

/** Runs the README example in `app` (an installed package) against the demo container. */
async function runReadmeExample(t, app) {
  const r = run(process.execPath, ['-e', readmeExample, await demoContainer()], app);
  t.is(r.status, 0, `the README example failed:\n${r.out}`);
  const got = JSON.parse(r.stdout.trim().split('\n').pop());
  t.like(got, { running: true, reply: 'pong', poweredOff: true });
  t.true(got.lines > 0);
  t.true(got.messages.includes('status pixelrts demo ready'), JSON.stringify(got.messages));
}
const bootSerial = needs(test, packageMissing() ?? bootMissing()).serial;

serial('npm pack refuses a package without the prebuilt binaries package.json claims', (t) => {
  cleanCopy();
  t.false(fs.existsSync(path.join(source, 'dist')), 'the clean copy has no dist/');
  const r = run('npm', ['pack', '--dry-run', '--json'], source);
  t.not(r.status, 0, `npm pack without prebuilds succeeded:\n${r.out}`);
  for (const arch of pkg.cpu) t.true(r.out.includes(`prebuilds/linux-${arch}/${prebuildName}`), r.out);
  t.true(r.out.includes('npm run build:prebuild'), r.out);
});

serial('npm pack of a clean copy holds dist/, the prebuilt binaries, LICENSE and the notices', (t) => {
  const started = Date.now();
  const build = run('npm', ['run', '--silent', 'build:prebuild'], source);
  t.is(build.status, 0, `npm run build:prebuild failed:\n${build.out}`);
  t.log(`npm run build:prebuild (linux-x64, linux-arm64): ${((Date.now() - started) / 1000).toFixed(1)} s`);
  for (const arch of pkg.cpu) {
    const binary = path.join(source, 'prebuilds', `linux-${arch}`, prebuildName);
    t.deepEqual(fs.readdirSync(path.dirname(binary)), [prebuildName]);
    // The prebuilt binary needs nothing installed but glibc and libgcc_s: libdeflate, zstd, zlib,
    // openh264 and libstdc++ linked statically, libfuse3 dlopened.
    const needed = [...execFileSync('readelf', ['-d', binary], { encoding: 'utf8' }).matchAll(/\(NEEDED\).*\[(.+)\]/g)]
      .map((m) => m[1]).filter((lib) => !/^(libc|libm|libdl|libpthread|libgcc_s)\.so\.|^ld-linux-/.test(lib));
    t.deepEqual(needed, [], `${binary} needs more than glibc and libgcc_s`);
    const versionNeeds = execFileSync('readelf', ['-V', binary], { encoding: 'utf8' });
    const glibc = newest('GLIBC', versionNeeds);
    t.log(`linux-${arch} prebuilt binary: ${(fs.statSync(binary).size / 1048576).toFixed(1)} MiB, needs GLIBC_${glibc}`);
    t.true(byVersion(glibc, glibcBaseline) <= 0, `linux-${arch} needs GLIBC_${glibc}, newer than the baseline ${glibcBaseline}`);
    t.is(newest('GLIBCXX', versionNeeds), undefined, `linux-${arch} needs libstdc++`);
  }

  const r = run('npm', ['pack', '--json', '--pack-destination', scratch], source);
  t.is(r.status, 0, `npm pack failed:\n${r.out}`);
  const [report] = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')));
  const files = report.files.map((f) => f.path);
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/native.js', 'dist/cli/main.js',
    ...pkg.cpu.map((arch) => `prebuilds/linux-${arch}/${prebuildName}`), 'LICENSE', 'THIRD-PARTY-NOTICES', 'binding.gyp', 'native/exports.map',
    'native/fuse/libfuse.cc', 'package.json']) {
    t.true(files.includes(f), `${f} missing from the tarball`);
  }
  t.false(files.some((f) => f.startsWith('build/') || f.startsWith('test/') || f.startsWith('lib/')), files.join('\n'));
  state.tarball = path.join(scratch, report.filename);
  t.log(`tarball ${report.filename}: ${report.entryCount} files, ${(report.size / 1048576).toFixed(1)} MiB`);
});

serial('the tarball installed with its prebuilds loads the prebuilt binary without compiling', (t) => {
  t.truthy(state.tarball, 'packed by the test before');
  const { app, installed } = install(t, 'with-prebuilds', state.tarball);
  t.false(fs.existsSync(path.join(installed, 'build')), 'nothing was compiled on install');
  const got = use(t, app);
  t.is(got.addon, path.join(installed, 'prebuilds', 'linux-x64', prebuildName));
  t.true(got.roundTrip);
  // The same public names as the checkout's entry point.
  t.deepEqual(got.names, Object.keys(require('../dist/index.js')).sort());
  state.withPrebuilds = { app, installed, png256: got.png256 };
});

bootSerial('the tarball installed with its prebuilds runs the README\'s API example against the demo guest', async (t) => {
  t.truthy(state.withPrebuilds, 'installed by the test before');
  await runReadmeExample(t, state.withPrebuilds.app);
});

arm64Serial('the tarball installed with its prebuilds loads the linux-arm64 binary in Debian\'s arm64 Node.js under qemu-aarch64', (t) => {
  t.truthy(state.withPrebuilds, 'installed by the test before');
  const { app, installed, png256 } = state.withPrebuilds;
  // Debian's own nodejs for arm64 (the release this machine runs), with the libraries it needs.
  const started = Date.now();
  const root = path.join(repoRoot, 'node_modules', '.cache', 'pixelrts-test', 'arm64-node');
  const fetched = run('bash', [path.join(repoRoot, 'scripts', 'debian-root.sh'), 'arm64', root, '--depends', 'nodejs'], repoRoot);
  t.is(fetched.status, 0, `unpacking Debian's arm64 nodejs failed:\n${fetched.out}`);
  const got = use(t, app, 'qemu-aarch64', ['-L', root, path.join(root, 'usr', 'bin', 'node')]);
  t.log(`arm64 Node.js fetched (or found) and run under qemu-aarch64: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.is(got.arch, 'arm64');
  t.is(got.addon, path.join(installed, 'prebuilds', 'linux-arm64', prebuildName));
  t.true(got.roundTrip);
  t.is(got.png256, png256, 'the arm64 addon writes the same container as the x64 one');
});

oldGlibcSerial('the tarball installed with its prebuilds loads the linux-x64 binary on glibc 2.31, in the Debian 11 build chroot', (t) => {
  t.truthy(state.withPrebuilds, 'installed by the test before');
  const { app, png256 } = state.withPrebuilds;
  // The chroot npm run build:prebuild made; the installed app and this Node.js are copied in,
  // and removed after.
  const root = path.join(repoRoot, 'node_modules', '.cache', 'pixelrts-prebuild-bullseye');
  const inside = path.join(root, 'pixelrts-test-app');
  fs.rmSync(inside, { recursive: true, force: true });
  try {
    fs.cpSync(app, inside, { recursive: true });
    fs.copyFileSync(process.execPath, path.join(inside, 'node'));
    fs.chmodSync(path.join(inside, 'node'), 0o755);
    const got = use(t, app, 'chroot', [root, '/bin/sh', '-c', 'cd /pixelrts-test-app && exec ./node "$@"', 'sh']);
    t.is(got.glibc, '2.31');
    t.is(got.addon, `/pixelrts-test-app/node_modules/pixelrts/prebuilds/linux-x64/${prebuildName}`);
    t.true(got.roundTrip);
    t.is(got.png256, png256);
  } finally {
    fs.rmSync(inside, { recursive: true, force: true });
  }
});

serial('an installed package whose addon cannot load says what to install and how to build it', (t) => {
  t.truthy(state.withPrebuilds, 'installed by the test before');
  const { app, installed } = state.withPrebuilds;
  // As on a platform without a matching prebuild where nothing was compiled.
  fs.rmSync(path.join(installed, 'prebuilds'), { recursive: true });
  const r = run(process.execPath, ['-e', `
    try { require('pixelrts').encode([{ name: 'x', data: Buffer.alloc(1) }]); console.log('{}'); }
    catch (err) { console.log(JSON.stringify({ name: err.name, code: err.code, message: err.message })); }`], app);
  const err = JSON.parse(r.stdout.trim().split('\n').pop());
  t.is(err.name, 'PixelrtsError');
  t.is(err.code, 'ERR_PIXELRTS_ADDON');
  t.regex(err.message, /No native build was found/);
  // What was looked for, and what this system is.
  t.true(err.message.includes(`Prebuilt binaries exist for ${pkg.cpu.map((cpu) => `linux-${cpu}`).join(', ')} ` +
    `with glibc ${glibcBaseline} or newer; this is linux-x64 with glibc ${process.report.getReport().header.glibcVersionRuntime}.`), err.message);
  t.regex(err.message, /apt-get install g\+\+ make python3 libdeflate-dev/);
  t.regex(err.message, /dnf install/);
  t.regex(err.message, /npm rebuild pixelrts --build-from-source/);
});

serial('the tarball installed without prebuilds compiles with node-gyp and loads that', (t) => {
  t.truthy(state.tarball, 'packed by the test before');
  const unpacked = path.join(scratch, 'unpacked');
  fs.mkdirSync(unpacked);
  execFileSync('tar', ['-xzf', state.tarball, '-C', unpacked]);
  fs.rmSync(path.join(unpacked, 'package', 'prebuilds'), { recursive: true });
  const tarball = path.join(scratch, 'without-prebuilds.tgz');
  execFileSync('tar', ['-czf', tarball, '-C', unpacked, 'package']);

  const started = Date.now();
  const { app, installed } = install(t, 'without-prebuilds', tarball);
  t.log(`npm install with a node-gyp compile: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const got = use(t, app);
  t.is(got.addon, path.join(installed, 'build', 'Release', `${pkg.name}.node`));
  t.true(got.roundTrip);
  state.compiled = { app };
});

bootSerial('the tarball installed without prebuilds (compiled) runs the README\'s API example against the demo guest', async (t) => {
  t.truthy(state.compiled, 'installed by the test before');
  await runReadmeExample(t, state.compiled.app);
});
