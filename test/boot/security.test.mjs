// Booting against a hostile local user and a hostile guest (#16): what the guest can reach on
// the host's network, who can open the guest's screen, who can read the kernel command line,
// and the edges where a killed or interrupted start used to leave a VM or a file behind.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { needs } from '../helpers/prereq.mjs';
import { bootMissing, bootShell, cli, demoContainer, leftovers, nothingLeft, processesOf, runtimeDirs, runtimeEnv, startCli } from '../helpers/boot.mjs';
import { otherUserMissing, runAsOtherUser } from '../helpers/other-user.mjs';

const require = createRequire(import.meta.url);

const btest = needs(test, bootMissing());
const asOther = needs(btest, otherUserMissing());

/** A TCP server on 127.0.0.1 that greets with `banner` and counts its connections. */
async function service(t, banner) {
  const server = net.createServer((s) => { server.hits++; s.end(`${banner}\n`); });
  server.hits = 0;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  return server;
}

/**
 * A fresh runtime directory for a test whose VM may outlive its command (detached): whatever
 * runs there is SIGKILLed when the test ends, pass or fail (its supervisor first; QEMU follows
 * it by its parent-death signal, and the mount unmounts itself).
 */
function detachEnv(t) {
  const env = runtimeEnv(t);
  t.teardown(async () => {
    const pids = processesOf(env.xdg);
    for (const pid of pids) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    if (pids.length > 0) await leftovers(env.root, [], 5000);
  });
  return env;
}

btest.serial('an isolated guest reaches the exposed port and nothing else on the host; --network nat opens the rest (#16, finding 2)', async (t) => {
  const secret = await service(t, 'SECRET-SERVICE');
  const exposed = await service(t, 'EXPOSED-SERVICE');
  const { vm, sh } = await bootShell(t, { expose: [exposed.address().port] });
  const args = vm.commandLine.join(' ');
  t.regex(args, /user,id=pxnet,restrict=on,guestfwd=tcp:10\.0\.2\.100:/);

  t.notRegex(await sh(`nc -w 3 10.0.2.2 ${secret.address().port} </dev/null`), /SECRET-SERVICE/, 'the host loopback through 10.0.2.2');
  t.notRegex(await sh(`nc -w 3 10.0.2.100 ${secret.address().port} </dev/null`), /SECRET-SERVICE/, 'another port at the exposed address');
  t.regex(await sh(`nc -w 3 10.0.2.100 ${exposed.address().port} </dev/null`), /EXPOSED-SERVICE/);
  t.is(secret.hits, 0);
  t.is(exposed.hits, 1);
  await vm.kill();

  // The check above can fail: with the wider network asked for, the same guest reaches it.
  const nat = await bootShell(t, { network: true });
  t.regex(await nat.sh(`nc -w 3 10.0.2.2 ${secret.address().port} </dev/null`), /SECRET-SERVICE/);
  t.is(secret.hits, 1);
});

btest.serial('--frame-export: QEMU gives the guest an isolated network with one way out, to the frame server (#16, finding 2)', async (t) => {
  const { root, env } = runtimeEnv(t);
  const run = startCli(t, ['boot', await demoContainer(), '--json', '--accel', 'tcg', '--frame-export', '0'], env);
  const fe = JSON.parse(await run.waitLine(/"type":"frame-export"/));
  t.is(fe.guest, `10.0.2.100:${fe.port}`);
  const ready = JSON.parse(await run.waitLine(/"type":"ready"/));
  const netdev = fs.readFileSync(`/proc/${ready.pid}/cmdline`, 'utf8').split('\0').find((a) => a.startsWith('user,id=pxnet'));
  t.truthy(netdev);
  t.regex(netdev, /,restrict=on,/);
  t.is(netdev.match(/guestfwd=/g).length, 1);
  t.true(netdev.includes(`guestfwd=tcp:10.0.2.100:${fe.port}-cmd:`) && netdev.endsWith(`'TCP:127.0.0.1:${fe.port}'`), netdev);
  run.child.kill('SIGTERM');
  t.is((await run.done).code, 143);
  t.deepEqual(await leftovers(root, [ready.pid], 2000), []);
});

/** Reads from `sock` until `n` bytes have come. */
function readBytes(sock, n) {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= n) { sock.off('data', onData); resolve(buf); }
    };
    sock.on('data', onData);
    sock.once('error', reject);
    sock.once('close', () => reject(new Error(`closed after ${buf.length} of ${n} bytes`)));
  });
}

asOther('--vnc: the screen is on a Unix socket only its user can open (#16, finding 3)', async (t) => {
  const { root, env } = runtimeEnv(t);
  const run = startCli(t, ['boot', await demoContainer(), '--json', '--accel', 'tcg', '--vnc'], env);
  const ready = JSON.parse(await run.waitLine(/"type":"ready"/));
  t.is(ready.vnc.socket, path.join(ready.runtimeDir, 'vnc.sock'));
  t.false(fs.readFileSync(`/proc/${ready.pid}/cmdline`, 'utf8').includes('5900'), 'no TCP display');
  const banner = await new Promise((resolve, reject) => {
    const sock = net.connect(ready.vnc.socket);
    sock.once('data', (d) => { sock.destroy(); resolve(d.toString('latin1')); });
    sock.once('error', reject);
  });
  t.regex(banner, /^RFB \d{3}\.\d{3}\n/, 'its user gets the screen');
  const other = await runAsOtherUser(`const s = require('net').connect(process.argv[1]);
    s.on('connect', () => { console.log('CONNECTED'); s.destroy(); });
    s.on('error', (e) => console.log(e.code));`, [ready.vnc.socket]);
  t.is(other.stdout.trim(), 'EACCES', other.stderr);
  run.child.kill('SIGTERM');
  t.is((await run.done).code, 143);
  t.deepEqual(await leftovers(root, [ready.pid], 2000), []);
});

asOther('--vnc :N: another local user is asked for a password and refused without it (#16, finding 3)', async (t) => {
  const { root, env } = runtimeEnv(t);
  const display = 40 + Math.floor(Math.random() * 50);
  const run = startCli(t, ['boot', await demoContainer(), '--json', '--accel', 'tcg', '--vnc', `:${display}`], env);
  const ready = JSON.parse(await run.waitLine(/"type":"ready"/));
  t.like(ready.vnc, { host: '127.0.0.1', port: 5900 + display });
  t.regex(ready.vnc.password, /^[A-Za-z0-9]{8}$/);
  // RFB 3.8: version, the security types offered, then VNC authentication with a wrong
  // response to its challenge.
  const other = await runAsOtherUser(`const net = require('net');
    const s = net.connect(Number(process.argv[1]), '127.0.0.1');
    let buf = Buffer.alloc(0); let step = 0;
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (step === 0 && buf.length >= 12) { console.log('version', JSON.stringify(buf.subarray(0, 12).toString('latin1'))); s.write('RFB 003.008\\n'); buf = buf.subarray(12); step = 1; }
      if (step === 1 && buf.length >= 1 && buf.length >= 1 + buf[0]) {
        const types = [...buf.subarray(1, 1 + buf[0])]; console.log('types', types.join(','));
        buf = buf.subarray(1 + buf[0]); step = 2;
        if (!types.includes(2)) { s.destroy(); return; }
        s.write(Buffer.from([2]));
      }
      if (step === 2 && buf.length >= 16) { s.write(Buffer.alloc(16)); buf = buf.subarray(16); step = 3; }
      if (step === 3 && buf.length >= 4) { console.log('result', buf.readUInt32BE(0)); s.destroy(); }
    });
    s.on('error', (e) => console.log('error', e.code));`, [String(5900 + display)]);
  t.regex(other.stdout, /version "RFB 003\.008\\n"/, other.stderr);
  t.regex(other.stdout, /^types 2$/m, 'VNC authentication is the only type offered (no "None")');
  t.regex(other.stdout, /^result 1$/m, 'a wrong response is refused');
  run.child.kill('SIGTERM');
  t.is((await run.done).code, 143);
  t.deepEqual(await leftovers(root, [ready.pid], 2000), []);
});

asOther('the kernel command line is not in /proc/PID/cmdline of QEMU or of the detached supervisor; stop --force ends a stopped owner at once (#16, findings 8 and 7)', async (t) => {
  const { xdg, root, env } = detachEnv(t);
  const run = startCli(t, ['boot', await demoContainer(), '--detach', '--json', '--accel', 'tcg', '--append', 'pixelrts.secret=hunter2-7f3a'], env);
  const r = await run.done;
  t.is(r.code, 0, r.stderr);
  const record = JSON.parse(r.stdout);
  t.regex(record.cmdline, /pixelrts\.secret=hunter2-7f3a/, 'the guest got it');
  const other = await runAsOtherUser(`for (const pid of process.argv.slice(1)) {
      const argv = require('fs').readFileSync('/proc/' + pid + '/cmdline', 'latin1');
      console.log(pid, argv.length > 0, argv.includes('hunter2'));
    }`, [String(record.pid), String(record.qemuPid)]);
  t.is(other.stdout, `${record.pid} true false\n${record.qemuPid} true false\n`, other.stderr);

  // The owner stopped (SIGSTOP): --force does not wait for it to answer.
  process.kill(record.pid, 'SIGSTOP');
  const started = Date.now();
  const stop = spawnSync(process.execPath, [cli, 'stop', '--force', record.id], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  const took = Date.now() - started;
  t.is(stop.status, 0, stop.stderr);
  t.regex(stop.stderr, /did not answer within 1 s and was killed/);
  t.true(took < 8000, `stop --force took ${took} ms`);
  t.log(`stop --force of a stopped owner: ${took} ms`);
  await nothingLeft(t, xdg, root, 5000);
});

btest.serial('the KVM probe leaves no file behind when its process is SIGKILLed while it runs (#16, finding 7)', async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-probe-test-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const script = `const { probeAccel } = require(${JSON.stringify(require.resolve('../../dist/vm/qemu.js'))});
    console.log('probing'); probeAccel('tcg', 10000).then((r) => console.log('probed', r));`;
  // The probe QEMU runs for 50–100 ms under TCG: each kill lands inside it.
  for (const delayMs of [0, 15]) {
    const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'inherit'] });
    const closed = new Promise((r) => child.once('close', r));
    let out = '';
    await new Promise((resolve) => child.stdout.setEncoding('utf8').on('data', (d) => { out += d; resolve(); }));
    await new Promise((r) => setTimeout(r, delayMs));
    child.kill('SIGKILL');
    await closed;
    t.notRegex(out, /probed/, `the probe had finished before the kill ${delayMs} ms in`);
  }
  await new Promise((r) => setTimeout(r, 300));
  t.deepEqual(fs.readdirSync(tmp), []);
});

btest.serial('boot --detach: a launcher SIGKILLed before the VM is reported leaves no VM running (#16, finding 7)', async (t) => {
  // The VM is reported about 0.3 s after its runtime directory appears (idle machine): each kill lands before.
  for (const delayMs of [0, 120]) {
    const { xdg, root, env } = detachEnv(t);
    const child = spawn(process.execPath, [cli, 'boot', await demoContainer(), '--detach', '--accel', 'tcg'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'ignore'] });
    const closed = new Promise((r) => child.once('close', r));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    while (runtimeDirs(root).length === 0 && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, delayMs));
    child.kill('SIGKILL');
    await closed;
    t.is(out, '', `the VM was reported before the kill ${delayMs} ms in`);
    await nothingLeft(t, xdg, root, 20_000);
  }
});

btest.serial('boot --detach interrupted while starting: exit 130, no id printed, nothing left (#16, finding 7)', async (t) => {
  for (const delayMs of [0, 120]) {
    const { xdg, root, env } = detachEnv(t);
    const run = startCli(t, ['boot', await demoContainer(), '--detach', '--accel', 'tcg'], env);
    while (runtimeDirs(root).length === 0 && run.child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, delayMs));
    run.child.kill('SIGINT');
    const r = await run.done;
    t.is(r.code, 130, `after ${delayMs} ms: ${r.stderr}`);
    t.is(r.stdout, '', 'no VM id');
    t.regex(r.stderr, /SIGINT received while the VM was starting: it was stopped/);
    await nothingLeft(t, xdg, root, 10_000);
  }
});
