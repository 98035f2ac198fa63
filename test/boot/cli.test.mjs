// `pixelrts boot` as a user runs it: NDJSON and plain progress, Ctrl-C and SIGKILL leaving
// nothing behind, --timeout, a missing QEMU, and the detached ps/qmp/send/stop round trip.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { commandMissing, needs } from '../helpers/prereq.mjs';
import { bootMissing, cli, demoContainer, leftovers, parseNdjson, runtimeEnv, startCli } from '../helpers/boot.mjs';
import { HxfrClient, T } from '../helpers/hxfr-client.mjs';

const require = createRequire(import.meta.url);
const { DEMO_MARKER } = require('../../dist/demo/image.js');

const btest = needs(test, bootMissing());

function readRecord(root) {
  const [id] = fs.readdirSync(root);
  return JSON.parse(fs.readFileSync(path.join(root, id, 'vm.json'), 'utf8'));
}

function commandPath(cmd) {
  return (process.env.PATH ?? '').split(':').map((d) => path.join(d, cmd)).find((p) => fs.existsSync(p));
}

function runCli(args, env) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
}

btest.serial('--json: valid NDJSON with every stage, the console, the ready and exit events; nothing left', async (t) => {
  const file = await demoContainer();
  const { root, env } = runtimeEnv(t);
  const run = startCli(t, ['boot', file, '--json', '--accel', 'tcg', '--append', 'pixelrts.demo=oneshot'], env);
  const r = await run.done;
  t.is(r.code, 0, r.stderr);
  const events = parseNdjson(r.stdout);
  for (const e of events) {
    t.is(typeof e.type, 'string');
    t.false(Number.isNaN(Date.parse(e.time)), `time of ${JSON.stringify(e)}`);
  }
  const done = events.filter((e) => e.type === 'stage' && e.status === 'done').map((e) => e.stage);
  t.deepEqual(['open', 'verify', 'mount', 'qemu-start', 'first-console-line', 'exit'].filter((s) => !done.includes(s)), []);
  const ready = events.find((e) => e.type === 'ready');
  t.truthy(ready);
  t.true(events.some((e) => e.type === 'console' && e.line.includes(DEMO_MARKER)));
  t.true(events.some((e) => e.type === 'message' && e.message.type === 'status'));
  t.true(events.some((e) => e.type === 'qmp-event' && e.event === 'SHUTDOWN'));
  const exit = events.at(-1);
  t.is(exit.type, 'exit');
  t.is(exit.exitCode, 0);
  t.true(exit.poweredOff);
  t.is(r.stderr, '', 'nothing on stderr with --json');
  t.deepEqual(await leftovers(root, [ready.pid], 0), []);
});

btest.serial('plain progress lines on stderr, guest lines on stdout, --prefix', async (t) => {
  const { root, env } = runtimeEnv(t);
  const run = startCli(t, ['boot', await demoContainer(), '--prefix', '--accel', 'tcg', '--append', 'pixelrts.demo=oneshot'], env);
  const r = await run.done;
  t.is(r.code, 0, r.stderr);
  for (const stage of ['open', 'verify', 'mount', 'qemu-start', 'first-console-line', 'exit']) {
    t.regex(r.stderr, new RegExp(`^\\[ok\\] ${stage} \\(\\d+(\\.\\d+)? m?s\\)`, 'm'), stage);
  }
  t.true(r.lines.includes(`VM: ${DEMO_MARKER}`), r.stdout);
  t.true(r.lines.every((l) => l.startsWith('VM: ')));
  t.deepEqual(await leftovers(root, [], 0), []);
});

btest.serial('Ctrl-C after the first console line: graceful shutdown, exit 130, nothing left', async (t) => {
  const { root, env } = runtimeEnv(t);
  const run = startCli(t, ['boot', await demoContainer(), '--accel', 'tcg'], env);
  await run.waitLine(/\S/);
  const { qemuPid } = readRecord(root);
  run.child.kill('SIGINT');
  const r = await run.done;
  t.is(r.code, 130, r.stderr);
  t.regex(r.stderr, /SIGINT: shutting the VM down \(Ctrl-C again to force\)/);
  t.deepEqual(await leftovers(root, [qemuPid], 2000), []);
});

btest.serial('a second Ctrl-C forces the VM off at once', async (t) => {
  const { root, env } = runtimeEnv(t);
  const run = startCli(t, ['boot', await demoContainer(), '--accel', 'tcg'], env);
  await run.waitLine(/\S/);
  const { qemuPid } = readRecord(root);
  run.child.kill('SIGINT');
  await new Promise((r) => setTimeout(r, 50));
  const forcedAt = Date.now();
  run.child.kill('SIGINT');
  const r = await run.done;
  t.is(r.code, 130);
  t.regex(r.stderr, /forcing the VM off/);
  t.deepEqual(await leftovers(root, [qemuPid], 2000 - (Date.now() - forcedAt)), []);
});

btest.serial('SIGKILL of pixelrts: QEMU, the mount and the runtime directory are gone within 2 s', async (t) => {
  const { root, env } = runtimeEnv(t);
  const run = startCli(t, ['boot', await demoContainer(), '--accel', 'tcg'], env);
  await run.waitLine(/\S/);
  const { qemuPid, runtimeDir } = readRecord(root);
  t.true(fs.existsSync(path.join(runtimeDir, 'mnt', 'kernel')));
  run.child.kill('SIGKILL');
  await run.done;
  t.deepEqual(await leftovers(root, [qemuPid], 2000), []);
});

btest.serial('--timeout shuts the VM down and exits 1 saying so', async (t) => {
  const { root, env } = runtimeEnv(t);
  const r = await startCli(t, ['boot', await demoContainer(), '--accel', 'tcg', '--timeout', '1'], env).done;
  t.is(r.code, 1);
  t.regex(r.stderr, /--timeout 1 s reached/);
  t.deepEqual(await leftovers(root, [], 2000), []);
});

btest.serial('QEMU missing from PATH: exit 1 naming the package to install', async (t) => {
  const { root, env } = runtimeEnv(t);
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-noqemu-'));
  t.teardown(() => fs.rmSync(bin, { recursive: true, force: true }));
  const r = runCli(['boot', await demoContainer()], { ...env, PATH: bin });
  t.is(r.status, 1, r.stderr);
  t.regex(r.stderr, /qemu-system-x86_64 not found on PATH.*apt-get install qemu-system-x86/);
  t.deepEqual(await leftovers(root, [], 0), []);
});

btest.serial('--arch aarch64 without qemu-system-aarch64: exit 1 naming qemu-system-arm', async (t) => {
  const { root, env } = runtimeEnv(t);
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-noarm-'));
  t.teardown(() => fs.rmSync(bin, { recursive: true, force: true }));
  fs.symlinkSync(commandPath('qemu-system-x86_64'), path.join(bin, 'qemu-system-x86_64'));
  const r = runCli(['boot', await demoContainer(), '--arch', 'aarch64'], { ...env, PATH: bin });
  t.is(r.status, 1, r.stderr);
  t.regex(r.stderr, /qemu-system-aarch64 not found on PATH.*apt-get install qemu-system-arm/);
  t.deepEqual(await leftovers(root, [], 0), []);
});

/** null when this process may make a private mount namespace (to hide /dev/fuse from one run), else why not. */
function unshareMissing() {
  const r = spawnSync('unshare', ['-m', 'true']);
  return r.status === 0 ? null : 'unshare -m does not work here (needs root or CAP_SYS_ADMIN; util-linux)';
}

needs(btest, unshareMissing()).serial('FUSE unavailable (no /dev/fuse): exit 1, the message says how to get it, nothing left', async (t) => {
  const { root, env } = runtimeEnv(t);
  // In a private mount namespace, an empty file hides /dev/fuse from this one run only.
  const fake = path.join(root, '..', 'not-a-device');
  fs.writeFileSync(fake, '');
  const file = await demoContainer();
  const r = spawnSync('unshare', ['-m', 'sh', '-c', 'mount --bind "$1" /dev/fuse && exec "$2" "$3" boot "$4" --accel tcg',
    'sh', fake, process.execPath, cli, file], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  t.is(r.status, 1, r.stderr);
  t.regex(r.stderr, /\/dev\/fuse is not a character device: load the fuse kernel module \(modprobe fuse\)/);
  t.deepEqual(await leftovers(root, [], 2000), []);
});

btest.serial('detached: ps lists it, qmp and send reach it, stop shuts it down and removes everything', async (t) => {
  const { root, env } = runtimeEnv(t);
  const start = runCli(['boot', await demoContainer(), '--detach', '--accel', 'tcg'], env);
  t.is(start.status, 0, start.stderr);
  const id = start.stdout.trim();
  t.regex(id, /^demo-/);

  const ps = runCli(['ps', '--json'], env);
  const [vm] = ps.stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.is(vm.type, 'vm');
  t.is(vm.id, id);
  t.true(vm.detached);
  t.true(vm.uptimeMs >= 0);
  for (const s of [vm.qmpSocket, vm.channelSocket, vm.controlSocket]) t.true(fs.existsSync(s), s);
  t.regex(runCli(['ps'], env).stdout, new RegExp(`^${id}\\s+${vm.pid}\\s+${vm.qemuPid}\\s`, 'm'));

  const status = runCli(['qmp', id, 'query-status'], env);
  t.is(status.status, 0, status.stderr);
  t.is(JSON.parse(status.stdout).status, 'running');
  const badQmp = runCli(['qmp', id, 'no-such-command'], env);
  t.is(badQmp.status, 1);
  t.regex(badQmp.stderr, /no-such-command/);

  // The demo's agent answers ping on the command channel once the guest is up.
  let reply;
  for (let i = 0; i < 60 && !reply; i++) {
    const r = runCli(['send', id.slice(0, 6), '{"type":"command","data":{"message":"ping"},"id":"t1"}', '--wait', '--timeout', '2000'], env);
    if (r.status === 0) reply = JSON.parse(r.stdout);
  }
  t.truthy(reply, 'no reply to ping');
  t.is(reply.id, 't1');
  const badSend = runCli(['send', id, '{"type":"bogus","data":{"message":"x"}}'], env);
  t.is(badSend.status, 1);
  t.regex(badSend.stderr, /type/);

  // The agent answered, so the guest honours the power button: stop returns as soon as the
  // supervisor is gone (no timer of the graceful shutdown keeps it alive).
  const stopStarted = Date.now();
  const stop = runCli(['stop', id], env);
  t.is(stop.status, 0, stop.stderr);
  t.true(Date.now() - stopStarted < 5000, `stop took ${Date.now() - stopStarted} ms`);
  t.regex(stop.stderr, new RegExp(`stopped ${id}`));
  t.deepEqual(await leftovers(root, [vm.pid, vm.qemuPid], 2000), []);
  t.deepEqual(runCli(['ps', '--json'], env).stdout, '');
});

btest.serial('stop --all shuts every running VM down at once; with none running it says so; an id and --all together are a usage mistake', async (t) => {
  const { root, env } = runtimeEnv(t);
  const file = await demoContainer();
  const ids = [];
  for (let i = 0; i < 2; i++) {
    const r = runCli(['boot', file, '--detach', '--accel', 'tcg'], env);
    t.is(r.status, 0, r.stderr);
    ids.push(r.stdout.trim());
  }
  t.teardown(() => { for (const id of ids) runCli(['stop', '--force', id], env); });
  t.is(runCli(['stop', ids[0], '--all'], env).status, 2);
  const stopped = runCli(['stop', '--all', '--json'], env);
  t.is(stopped.status, 0, stopped.stderr);
  const events = stopped.stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.deepEqual(events.map((e) => e.id).sort(), [...ids].sort());
  t.true(events.every((e) => e.type === 'stopped' && e.how === 'graceful'));
  t.is(runCli(['ps', '--json'], env).stdout.trim(), '');
  t.deepEqual(await leftovers(root, [], 5000), []);
  const none = runCli(['stop', '--all'], env);
  t.is(none.status, 0);
  t.regex(none.stderr, /no VM is running/);
});

btest.serial('stop --force ends a detached VM at once; a stale record of a killed owner is pruned by ps', async (t) => {
  const { root, env } = runtimeEnv(t);
  const first = runCli(['boot', await demoContainer(), '--detach', '--accel', 'tcg', '--json'], env);
  t.is(first.status, 0, first.stderr);
  const vm = JSON.parse(first.stdout);
  const started = Date.now();
  const stop = runCli(['stop', '--force', vm.id], env);
  t.is(stop.status, 0, stop.stderr);
  t.true(Date.now() - started < 3000, `stop --force took ${Date.now() - started} ms`);
  t.deepEqual(await leftovers(root, [vm.pid, vm.qemuPid], 2000), []);

  // A record whose owner died without cleaning up (as after a power cut) disappears from ps.
  const stale = path.join(root, 'stale-0000');
  fs.mkdirSync(stale, { mode: 0o700 });
  fs.writeFileSync(path.join(stale, 'vm.json'), JSON.stringify({ ...vm, id: 'stale-0000', runtimeDir: stale, pidStart: 'gone' }));
  t.deepEqual(runCli(['ps', '--json'], env).stdout, '');
  t.false(fs.existsSync(stale));
});

btest.serial('detached boot that fails reports the error and leaves nothing', async (t) => {
  const { root, env } = runtimeEnv(t);
  const r = runCli(['boot', await demoContainer(), '--detach', '--accel', process.platform === 'darwin' ? 'kvm' : 'hvf'], env);
  t.is(r.status, 1);
  t.regex(r.stderr, /--accel (auto|tcg)/);
  t.deepEqual(await leftovers(root, [], 2000), []);
});

btest.serial('--frame-export: an HXFR server answers while the VM runs, QEMU has user networking, closed afterwards', async (t) => {
  const { root, env } = runtimeEnv(t);
  const run = startCli(t, ['boot', await demoContainer(), '--json', '--accel', 'tcg', '--frame-export', '0'], env);
  const fe = JSON.parse(await run.waitLine(/"type":"frame-export"/));
  t.is(fe.host, '127.0.0.1');
  t.true(fe.port > 0);
  t.is(fe.guest, `10.0.2.100:${fe.port}`);
  const ready = JSON.parse(await run.waitLine(/"type":"ready"/));
  const qemuArgv = fs.readFileSync(`/proc/${ready.pid}/cmdline`, 'utf8').split('\0');
  t.true(qemuArgv.some((a) => /^user,id=/.test(a)), qemuArgv.join(' '));

  const client = await HxfrClient.connect({ port: fe.port });
  client.ping(7);
  const pong = await client.next(5000);
  t.is(pong.type, T.PONG);
  t.is(pong.session, 7);
  client.sock.destroy();

  run.child.kill('SIGTERM');
  const r = await run.done;
  t.is(r.code, 143, r.stderr);
  const closed = parseNdjson(r.stdout).find((e) => e.type === 'frame-export' && e.closed);
  t.truthy(closed);
  t.true(closed.stats.connections >= 1);
  await t.throwsAsync(HxfrClient.connect({ port: fe.port }), { code: 'ECONNREFUSED' });
  t.deepEqual(await leftovers(root, [ready.pid], 2000), []);
});

btest.serial('--frame-export on a port already in use: exit 1 naming the port, nothing started', async (t) => {
  const { root, env } = runtimeEnv(t);
  const busy = net.createServer();
  await new Promise((r) => busy.listen(0, '127.0.0.1', r));
  t.teardown(() => busy.close());
  const { port } = busy.address();
  const r = runCli(['boot', await demoContainer(), '--accel', 'tcg', '--frame-export', String(port)], env);
  t.is(r.status, 1, r.stderr);
  t.regex(r.stderr, new RegExp(`${port}`));
  t.regex(r.stderr, /in use/i);
  t.deepEqual(await leftovers(root, [], 0), []);
});

needs(btest, commandMissing('script', 'bsdutils')).serial('interactive console on a terminal: keys reach the guest, Ctrl-a h and Ctrl-a x work, the terminal is restored', async (t) => {
  const { root, env } = runtimeEnv(t);
  const file = await demoContainer();
  // script(1) gives pixelrts a pseudo-terminal; after it exits, stty shows the terminal's modes.
  const inner = `"${process.execPath}" "${cli}" boot "${file}" --accel tcg; echo "EXIT=$?"; stty -a`;
  const child = spawn('script', ['-qfec', inner, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const seen = (re) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${re} within 60 s:\n${out}`)), 60_000);
    const check = () => { if (re.test(out)) { clearTimeout(timer); child.stdout.off('data', check); resolve(); } };
    child.stdout.on('data', check);
    check();
  });
  child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
  const done = new Promise((resolve) => child.once('close', resolve));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await seen(/pixelrts-demo# /);
  child.stdin.write('echo typed-$((6*7))\r');
  await seen(/typed-42/);
  child.stdin.write('\x01h');
  await seen(/Ctrl-a, then/);
  child.stdin.write('\x01x');
  await seen(/EXIT=\d+/);
  await done;
  t.regex(out, /EXIT=0/);
  t.regex(out, /shutting the VM down \(Ctrl-a x again to force\)/);
  // Raw mode is off again: canonical input and echo are back on.
  t.regex(out, /(^|\s)icanon(\s|$)/m);
  t.regex(out, /(^|\s)echo(\s|$)/m);
  t.deepEqual(await leftovers(root, [], 2000), []);
});

btest.serial('the reader of the output goes away (| head): the VM is shut down, exit 141, nothing left', async (t) => {
  const { root, env } = runtimeEnv(t);
  const child = spawn(process.execPath, [cli, 'boot', await demoContainer(), '--accel', 'tcg'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  const done = new Promise((resolve) => child.once('close', (code) => resolve(code)));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await new Promise((resolve) => child.stdout.once('data', resolve));
  const { qemuPid } = readRecord(root);
  child.stdout.destroy();  // as head does after its lines
  t.is(await done, 141, stderr);
  t.regex(stderr, /the output was closed: shutting the VM down/);
  t.notRegex(stderr, /EPIPE|at .*\.js:\d+/, 'no crash trace');
  t.deepEqual(await leftovers(root, [qemuPid], 2000), []);
});

btest.serial('--vnc :N shows the guest screen over VNC on 127.0.0.1 only', async (t) => {
  const { root, env } = runtimeEnv(t);
  const display = 40 + Math.floor(Math.random() * 50);
  const run = startCli(t, ['boot', await demoContainer(), '--json', '--accel', 'tcg', '--vnc', `:${display}`], env);
  const ready = JSON.parse(await run.waitLine(/"type":"ready"/));
  const qemuArgv = fs.readFileSync(`/proc/${ready.pid}/cmdline`, 'utf8').split('\0');
  t.true(qemuArgv.includes(`127.0.0.1:${display},password=on`), qemuArgv.join(' '));
  const banner = await new Promise((resolve, reject) => {
    const sock = net.connect(5900 + display, '127.0.0.1');
    sock.once('data', (d) => { sock.destroy(); resolve(d.toString('latin1')); });
    sock.once('error', reject);
  });
  t.regex(banner, /^RFB \d{3}\.\d{3}\n/);
  run.child.kill('SIGTERM');
  t.is((await run.done).code, 143);
  t.deepEqual(await leftovers(root, [ready.pid], 2000), []);
});

btest.serial('Ctrl-C while starting (during verify): QEMU is stopped as soon as it is up, exit 130, nothing left', async (t) => {
  const { root, env } = runtimeEnv(t);
  const run = startCli(t, ['boot', await demoContainer(), '--json', '--accel', 'tcg'], env);
  await run.waitLine(/"stage":"verify","status":"start"/);
  run.child.kill('SIGINT');
  const r = await run.done;
  t.is(r.code, 130, r.stderr);
  const events = parseNdjson(r.stdout);
  t.true(events.some((e) => e.type === 'note' && /SIGINT received while starting/.test(e.message)));
  t.true(events.some((e) => e.type === 'stopping' && e.reason === 'signal' && e.forced));
  const ready = events.find((e) => e.type === 'ready');
  t.deepEqual(await leftovers(root, ready ? [ready.pid] : [], 2000), []);
});
