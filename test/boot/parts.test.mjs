// The parts of `pixelrts boot` that need no QEMU: the kernel command line, runtime directories
// and their cleanup watcher (after SIGKILL of the owner), the VM registry, the control socket,
// and the CLI's usage errors (exit 2, message naming the fix).
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { firstLine } from '../helpers/child.mjs';
import { repoRoot } from '../helpers/prereq.mjs';

const require = createRequire(import.meta.url);
const { composeCmdline, describeExit } = require('../../dist/boot/boot.js');
const { createRuntimeDir, idBase, runtimeRoot, startCleanupWatcher, hasMountsUnder } = require('../../dist/boot/runtime-dir.js');
const { listVms, findVm, writeRecord, processStartTime } = require('../../dist/boot/registry.js');
const { serveControl, controlRequest } = require('../../dist/boot/control.js');
const { StopController } = require('../../dist/boot/lifecycle.js');
const { joinDashValues, bootOptionsFrom } = require('../../dist/cli/commands/boot.js');

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');

function tempRoot(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-bootparts-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function runCli(args, env = {}) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
}

test('kernel command line: replace, append, console fitted to the architecture', (t) => {
  t.is(composeCmdline('root=/dev/ram0 quiet', {}, 'x86_64'), 'root=/dev/ram0 quiet console=ttyS0');
  t.is(composeCmdline('quiet', { cmdline: 'init=/bin/sh' }, 'x86_64'), 'init=/bin/sh console=ttyS0');
  t.is(composeCmdline('quiet', { append: 'panic=-1 x=1' }, 'x86_64'), 'quiet panic=-1 x=1 console=ttyS0');
  t.is(composeCmdline('console=ttyS0,115200 quiet', {}, 'aarch64'), 'console=ttyAMA0,115200 quiet');
  t.is(composeCmdline('console=ttyAMA0', {}, 'x86_64'), 'console=ttyS0');
  t.is(composeCmdline('console=tty0', {}, 'x86_64'), 'console=tty0 console=ttyS0');
  t.is(composeCmdline(undefined, {}, 'aarch64'), 'console=ttyAMA0');
  t.is(composeCmdline('console=ttyS1', {}, 'x86_64'), 'console=ttyS1');
});

test('kernel command line: a NUL or more than Linux takes is refused with its source named (#16, finding 8)', (t) => {
  for (const [stored, options, source] of [['quiet\0x', {}, /container's metadata/], ['quiet', { append: 'a\0b' }, /append option/],
    ['quiet', { cmdline: 'x\0' }, /cmdline option/]]) {
    const err = t.throws(() => composeCmdline(stored, options, 'x86_64'));
    t.is(err.code, 'ERR_PIXELRTS_ARGUMENT');
    t.regex(err.message, /contains a NUL character/);
    t.regex(err.message, source);
  }
  const long = t.throws(() => composeCmdline('quiet', { append: 'x'.repeat(200_000) }, 'x86_64'));
  t.is(long.code, 'ERR_PIXELRTS_ARGUMENT');
  t.regex(long.message, /is 200\d{3} bytes; Linux takes at most 2047/);
  t.is(composeCmdline('quiet', { append: 'y'.repeat(2000) }, 'x86_64').length, 6 + 2000 + 14);
});

test('exit codes: powered off 0, QEMU status, signal 128+n, reset 1', (t) => {
  t.is(describeExit({ code: 0, signal: null, poweredOff: true }).exitCode, 0);
  t.is(describeExit({ code: 3, signal: null, poweredOff: false }).exitCode, 3);
  t.is(describeExit({ code: null, signal: 'SIGKILL', poweredOff: false }).exitCode, 137);
  const reset = describeExit({ code: 0, signal: null, poweredOff: false, shutdownReason: 'guest-reset' });
  t.is(reset.exitCode, 1);
  t.regex(reset.reason, /reset/);
  t.regex(describeExit({ code: 0, signal: null, poweredOff: false, shutdownReason: 'host-qmp-quit' }).reason, /without the guest powering off \(host-qmp-quit\)/);
});

test('runtime root: private 0700 directory under XDG_RUNTIME_DIR; refuses one open to others', async (t) => {
  const xdg = tempRoot(t);
  const saved = process.env.XDG_RUNTIME_DIR;
  process.env.XDG_RUNTIME_DIR = xdg;
  t.teardown(() => { if (saved === undefined) delete process.env.XDG_RUNTIME_DIR; else process.env.XDG_RUNTIME_DIR = saved; });
  const root = runtimeRoot();
  t.is(root, path.join(xdg, 'pixelrts'));
  t.is(fs.statSync(root).mode & 0o777, 0o700);
  const { dir, watcher } = await createRuntimeDir(root, 'my image!.rts');
  t.teardown(() => watcher.release());
  t.regex(path.basename(dir), /^my-image-.rts-[0-9a-f]{1,4}$/);
  t.is(fs.statSync(dir).mode & 0o777, 0o700);
  t.is(idBase('/x/alpine-3.19.rts.png'), 'alpine');
  t.is(idBase('/x/demo-6.1.0-56-cloud-amd64-2eb6f1154467b7da.rts.png'), 'demo');
  t.is(idBase('/x/my os.png'), 'my-os');
  t.is(idBase('/x/v2-1.rts.png'), 'v2-1');
  fs.chmodSync(root, 0o755);
  const err = t.throws(() => runtimeRoot());
  t.is(err.code, 'ERR_PIXELRTS_RUNTIME_DIR');
  t.regex(err.message, /mode 0755.*Remove it, or set XDG_RUNTIME_DIR/);
});

test('cleanup watcher removes the runtime directory within 2 s of its owner being SIGKILLed', async (t) => {
  const root = tempRoot(t);
  // A directory createRuntimeDir made (watched from birth), and one handed in.
  const script = `
    const { createRuntimeDir, startCleanupWatcher } = require(${JSON.stringify(path.join(repoRoot, 'dist', 'boot/runtime-dir.js'))});
    const fs = require('node:fs');
    createRuntimeDir(${JSON.stringify(root)}, 'victim').then(({ dir }) => {
      fs.mkdirSync(dir + '/mnt');
      fs.writeFileSync(dir + '/qmp.sock', '');
      const handed = ${JSON.stringify(root)} + '/handed-in';
      fs.mkdirSync(handed, { mode: 0o700 });
      startCleanupWatcher(handed);
      console.log(dir);
      setInterval(() => {}, 1000);
    });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = await firstLine(child);
  t.true(fs.existsSync(dir));
  child.kill('SIGKILL');
  const killedAt = Date.now();
  while (fs.readdirSync(root).length > 0 && Date.now() - killedAt < 2000) await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(fs.readdirSync(root), [], 'runtime directories still there 2 s after SIGKILL');
});

test('a runtime directory has no unwatched moment: its owner SIGKILLed while creating it leaves nothing', async (t) => {
  const root = tempRoot(t);
  const script = `
    const { createRuntimeDir } = require(${JSON.stringify(path.join(repoRoot, 'dist', 'boot/runtime-dir.js'))});
    console.log('go');
    createRuntimeDir(${JSON.stringify(root)}, 'racer');`;
  for (const delayMs of [0, 1, 2, 4, 8]) {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await firstLine(child);
    await new Promise((r) => setTimeout(r, delayMs));
    child.kill('SIGKILL');
  }
  const started = Date.now();
  // (The watchers start and remove their directories at once; 5 s is patience for a loaded CI machine.)
  while (fs.readdirSync(root).length > 0 && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(fs.readdirSync(root), []);
});

test('cleanup watcher: released by its owner it exits and removes nothing it should not; disowned it leaves the directory', async (t) => {
  const root = tempRoot(t);
  const { dir, watcher } = await createRuntimeDir(root, 'kept');
  fs.rmSync(dir, { recursive: true });
  watcher.release();
  await new Promise((r) => setTimeout(r, 300));
  t.false(fs.existsSync(dir));
  t.true(fs.existsSync(root));
  t.false(hasMountsUnder(root));
  // Disowned (another process took the directory over): kept, also after its creator exits.
  const script = `
    const { createRuntimeDir } = require(${JSON.stringify(path.join(repoRoot, 'dist', 'boot/runtime-dir.js'))});
    createRuntimeDir(${JSON.stringify(root)}, 'taken').then(({ dir, watcher }) => { watcher.disown(); console.log(dir); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const taken = await firstLine(child);
  await new Promise((r) => child.once('close', r));
  await new Promise((r) => setTimeout(r, 300));
  t.true(fs.existsSync(taken));
});

test('registry: live records are listed, dead ones pruned; ids match by unique prefix', async (t) => {
  const root = tempRoot(t);
  const mk = async (name, pid, pidStart) => {
    const { dir, watcher } = await createRuntimeDir(root, name);
    t.teardown(() => watcher.release());
    const id = path.basename(dir);
    writeRecord({ id, image: `/images/${name}.rts.png`, pid, pidStart, qemuPid: 1, started: new Date().toISOString(),
      detached: true, runtimeDir: dir, qmpSocket: `${dir}/qmp.sock`, channelSocket: `${dir}/channel.sock`,
      controlSocket: `${dir}/control.sock`, consoleLog: null, accel: 'tcg', cmdline: 'console=ttyS0' });
    t.is(fs.statSync(path.join(dir, 'vm.json')).mode & 0o777, 0o600);
    return { id, dir };
  };
  const live = await mk('alive', process.pid, processStartTime(process.pid));
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const gone = await mk('gone', Number(dead.stdout), '1');
  const reused = await mk('reused', process.pid, 'not-this-process');
  const vms = listVms({ root });
  t.deepEqual(vms.map((v) => v.id), [live.id]);
  t.true(vms[0].uptimeMs >= 0);
  t.false(fs.existsSync(gone.dir), 'dead record pruned');
  t.false(fs.existsSync(reused.dir), 'record of a reused pid pruned');
  t.is(findVm('alive', { root }).id, live.id);
  const err = t.throws(() => findVm('nope', { root }));
  t.is(err.code, 'ERR_PIXELRTS_NO_VM');
  t.regex(err.message, /pixelrts ps/);
});

test('control socket: requests reach the handlers; errors keep their code', async (t) => {
  const root = tempRoot(t);
  const sock = path.join(root, 'control.sock');
  const sent = [];
  let stopped;
  const server = await serveControl(sock, {
    send: (m) => { sent.push(m); },
    request: async (m, timeout) => ({ type: 'status', id: m.id, timeout }),
    qmp: async (command) => {
      if (command === 'nope') throw Object.assign(new Error('The command nope has not been found'), { code: 'ERR_PIXELRTS_QMP' });
      return { status: 'running' };
    },
    stop: (force) => { stopped = force; },
    status: () => ({ id: 'x' }),
  });
  t.teardown(() => server.close());
  t.is(await controlRequest(sock, { op: 'send', message: { type: 'command' } }), undefined);
  t.deepEqual(sent, [{ type: 'command' }]);
  t.deepEqual(await controlRequest(sock, { op: 'request', message: { id: 7 }, timeout: 123 }), { type: 'status', id: 7, timeout: 123 });
  t.deepEqual(await controlRequest(sock, { op: 'qmp', command: 'query-status' }), { status: 'running' });
  const err = await t.throwsAsync(controlRequest(sock, { op: 'qmp', command: 'nope' }));
  t.is(err.code, 'ERR_PIXELRTS_QMP');
  await controlRequest(sock, { op: 'stop', force: true });
  t.true(stopped);
  t.is((await t.throwsAsync(controlRequest(sock, { op: 'bogus' }))).code, 'ERR_PIXELRTS_CONTROL');
  const unreachable = await t.throwsAsync(controlRequest(path.join(root, 'none.sock'), { op: 'status' }));
  t.regex(unreachable.message, /pixelrts ps/);
});

test('stop controller: first request graceful, second forces; exit codes follow the reason', async (t) => {
  const calls = [];
  const vm = { shutdown: async (o) => { calls.push(['shutdown', o.timeout]); }, kill: () => calls.push(['kill']) };
  const notes = [];
  const s = new StopController(vm, { shutdownTimeoutMs: 1234, onStop: (i) => notes.push(i) });
  s.stop('signal', 'SIGINT');
  s.stop('signal', 'SIGINT');
  t.deepEqual(calls, [['shutdown', 1234], ['kill']]);
  t.deepEqual(notes.map((n) => n.forced), [false, true]);
  t.is(s.exitCode(0), 130);
  const early = new StopController(vm);
  early.force('signal', 'SIGINT');
  t.is(early.exitCode(137), 130, 'a forced stop keeps its reason');
  const s2 = new StopController(vm);
  s2.stop('timeout', '5 s');
  t.is(s2.exitCode(0), 1);
  t.is(new StopController(vm).exitCode(3), 3);
  const s3 = new StopController(vm);
  s3.stop('escape', 'Ctrl-a x');
  s3.stop('escape', 'Ctrl-a x');
  t.is(s3.exitCode(137), 0, 'a forced quit the user asked for is a success');
  t.is(s3.exitCode(1), 0);
  t.is(s3.exitCode(2), 2, 'QEMU failing on its own is still reported');
});

test('boot options: dash values, the optional --frame-export port and --vnc display, sizes', (t) => {
  t.deepEqual(joinDashValues(['a.png', '--qemu-arg', '-no-hpet', '--append', '-x', '--frame-export', 'a.png']),
    ['a.png', '--qemu-arg=-no-hpet', '--append=-x', '--frame-export=15937', 'a.png']);
  t.deepEqual(joinDashValues(['--frame-export', '7000', 'a.png']), ['--frame-export=7000', 'a.png']);
  t.deepEqual(joinDashValues(['--', '--qemu-arg', 'x']), ['--', '--qemu-arg', 'x']);
  t.deepEqual(joinDashValues(['a.png', '--vnc']), ['a.png', '--vnc=unix']);
  t.deepEqual(joinDashValues(['--vnc', 'a.png']), ['--vnc=unix', 'a.png']);
  t.deepEqual(joinDashValues(['--vnc', ':2', 'a.png']), ['--vnc=:2', 'a.png']);
  t.is(bootOptionsFrom({ vnc: 'unix' }).boot.vnc, true, 'no display: a private Unix socket');
  t.true(bootOptionsFrom({ network: 'nat' }).boot.network);
  t.is(bootOptionsFrom({ network: 'none' }).boot.network, undefined);
  const p = bootOptionsFrom({ memory: '1.5G', cpus: '2', vnc: '1', 'qemu-arg': ['-s'], 'frame-export': '0', 'no-verify': true });
  t.is(p.boot.memory, '1536M');
  t.is(p.boot.cpus, 2);
  t.is(p.boot.vnc, '127.0.0.1:1');
  t.is(bootOptionsFrom({ vnc: '0.0.0.0:2' }).boot.vnc, '0.0.0.0:2');
  t.deepEqual(p.boot.qemuArgs, ['-s']);
  t.true(p.boot.noVerify);
  t.is(p.frameExport, 0);
});

test('CLI usage errors exit 2 and name the fix', (t) => {
  const cases = [
    [['boot'], /missing <file.rts.png>/],
    [['boot', 'x.rts.png', '--memroy', '1G'], /memroy/],
    [['boot', 'x.rts.png', '--memory', 'lots'], /--memory: expected a size like 512M or 2G.*found 'lots'/],
    [['boot', 'x.rts.png', '--cpus', '0'], /--cpus: expected a whole number from 1 to 255, found '0'/],
    [['boot', 'x.rts.png', '--accel', 'fast'], /--accel: expected one of auto, kvm, hvf, tcg, found 'fast'/],
    [['boot', 'x.rts.png', '--arch', 'riscv'], /--arch: expected one of x86_64, aarch64/],
    [['boot', 'x.rts.png', '--timeout', 'soon'], /--timeout: expected a number of seconds/],
    [['boot', 'x.rts.png', '--frame-export=99999'], /--frame-export: expected a TCP port from 0 \(any free port\) to 65535/],
    [['boot', 'x.rts.png', '--vnc=screen'], /--vnc: expected nothing \(a private Unix socket\) or a display like :1/],
    [['boot', 'x.rts.png', '--network', 'bridge'], /--network: expected one of none, nat, found 'bridge'/],
    [['boot', 'x.rts.png', '--memory', '8K'], /whole MiB, at least 16M/],
    [['send', 'id', '{not json'], /not valid JSON.*Quote it/],
    [['qmp', 'id'], /missing <id> <command>/],
    [['stop'], /missing <id>/],
  ];
  for (const [args, re] of cases) {
    const r = runCli(args);
    t.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, re, args.join(' '));
    t.regex(r.stderr, /Usage: pixelrts/);
  }
});

test('CLI: ps on an empty registry, stop/send/qmp of an unknown id point to ps', (t) => {
  const xdg = tempRoot(t);
  const ps = runCli(['ps', '--json'], { XDG_RUNTIME_DIR: xdg });
  t.is(ps.status, 0, ps.stderr);
  t.is(ps.stdout, '', 'NDJSON: one event per VM, none here');
  t.is(runCli(['ps'], { XDG_RUNTIME_DIR: xdg }).stdout, 'no VMs running\n');
  for (const args of [['stop', 'nope'], ['send', 'nope', '{}'], ['qmp', 'nope', 'query-status']]) {
    const r = runCli(args, { XDG_RUNTIME_DIR: xdg });
    t.is(r.status, 1, args.join(' '));
    t.regex(r.stderr, /no running VM has the id 'nope'.*pixelrts ps/);
  }
  const missing = runCli(['boot', path.join(xdg, 'missing.rts.png')], { XDG_RUNTIME_DIR: xdg });
  t.is(missing.status, 1);
  t.regex(missing.stderr, /missing\.rts\.png: no such file/);
});

test('boot() checks its options before anything starts: memory: 5 is refused, not passed to QEMU as -m 5 (#15)', async (t) => {
  const { boot } = require('../../dist/boot/boot.js');
  const { qemuArgs } = require('../../dist/vm/qemu.js');
  const { launchVm } = require('../../dist/vm/vm.js');
  const dir = tempRoot(t);
  const file = path.join(dir, 'any.rts.png');
  fs.writeFileSync(file, 'not opened: the options are wrong');
  const cases = [
    [{ memory: 5 }, /^memory: expected a size like 512M or 2G \(whole MiB, at least 16M; a bare number means MiB\), found 5 \(a number/],
    [{ memory: '5' }, /^memory: .*at least 16M.*found '5'/],
    [{ cpus: 0 }, /^cpus: expected a whole number from 1 to 255, found 0/],
    [{ accel: 'fast' }, /^accel: expected one of auto, kvm, hvf, tcg, found "fast"/],
    [{ forward: [{ hostPort: 0, guestPort: 22 }] }, /^forward hostPort: expected a TCP port from 1 to 65535, found 0/],
    [{ expose: [70000] }, /^expose: expected a TCP port/],
    [{ vnc: 'screen' }, /^vnc: expected true/],
    [{ persist: [path.join(dir, 'no', 'such', 'dir', 'a.qcow2')] }, /^persist .*a\.qcow2: the directory .* does not exist/],
    [{ serialLog: path.join(dir, 'nodir', 'log') }, /^serialLog .*: the directory .* does not exist/],
  ];
  for (const [options, re] of cases) {
    const stages = [];
    const err = await t.throwsAsync(boot(file, { ...options, onStage: (e) => stages.push(e) }), undefined, JSON.stringify(options));
    t.is(err.code, 'ERR_PIXELRTS_USAGE', err.message);
    t.regex(err.message, re);
    t.deepEqual(stages, [], 'nothing started: not even the accelerator probe');
  }
  const missing = await t.throwsAsync(boot(path.join(dir, 'missing.rts.png'), { onStage: () => t.fail('a stage started') }));
  t.is(missing.code, 'ERR_PIXELRTS_NOT_FOUND');
  // The VM layer refuses it too, for callers of launchVm and qemuArgs.
  t.is(t.throws(() => qemuArgs({ arch: 'x86_64', accel: 'tcg', memory: '5', cmdline: '', qmpSocket: 'q', channelSocket: 'c' })).code, 'ERR_PIXELRTS_USAGE');
  t.is((await t.throwsAsync(launchVm({ kernel: file, memory: 5 }))).code, 'ERR_PIXELRTS_USAGE');
});

test('boot --json of a missing container: an error event, then an exit event, and nothing else (#15)', (t) => {
  const xdg = tempRoot(t);
  const r = runCli(['boot', path.join(xdg, 'missing.rts.png'), '--json'], { XDG_RUNTIME_DIR: xdg });
  t.is(r.status, 1);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.deepEqual(events.map((e) => e.type), ['error', 'exit'], r.stdout);
  t.is(events[0].code, 'ERR_PIXELRTS_NOT_FOUND');
  t.is(events[1].exitCode, 1);
  const usage = runCli(['boot', path.join(xdg, 'missing.rts.png'), '--memory', '5']);
  t.is(usage.status, 2);
  t.regex(usage.stderr, /--memory: expected a size like 512M or 2G \(whole MiB, at least 16M/);
});

test('QEMU missing from PATH is reported as QEMU missing (not "KVM unusable"), and nothing follows the error (#15)', async (t) => {
  const { writeContainer } = require('../../dist/codec/writer.js');
  const dir = tempRoot(t);
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(dir, 'vmlinuz'), Buffer.alloc(4096, 1));
  const file = path.join(dir, 'k.rts.png');
  await writeContainer(file, [{ name: 'kernel', path: path.join(dir, 'vmlinuz'), type: 'kernel' }]);
  const env = { XDG_RUNTIME_DIR: dir, PATH: bin };
  const json = runCli(['boot', file, '--json'], env);
  t.is(json.status, 1, json.stderr);
  const events = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const error = events.findIndex((e) => e.type === 'error');
  t.is(events[error].code, 'ERR_PIXELRTS_QEMU_MISSING');
  t.regex(events[error].message, /qemu-system-x86_64 not found on PATH.*apt-get install qemu-system-x86/);
  t.deepEqual(events.slice(error).map((e) => e.type), ['error', 'exit'], 'the stream ends with the exit event, right after the error');
  t.false(json.stdout.includes('KVM unusable'), json.stdout);
  const text = runCli(['boot', file], env);
  t.is(text.status, 1);
  const lines = text.stderr.trim().split('\n');
  t.regex(lines.at(-1), /^pixelrts boot: qemu-system-x86_64 not found on PATH/, text.stderr);
  t.false(text.stderr.includes('KVM unusable'), text.stderr);
  t.false(/\[ok\] accel/.test(text.stderr), text.stderr);
});
