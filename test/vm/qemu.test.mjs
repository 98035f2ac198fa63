// lib/vm/qemu.ts: accelerator choice, the probe guest, the command line, parent-death spawning.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { commandMissing, needs, repoRoot } from '../helpers/prereq.mjs';
import { firstLine } from '../helpers/child.mjs';
import { lib, processGone, qemuMissing, tempDir, waitGone } from '../helpers/qemu.mjs';

const qemu = lib('vm/qemu');
const qtest = needs(test, qemuMissing());

needs(test, commandMissing('as', 'binutils'))('the embedded probe guest is probe.S assembled', (t) => {
  const dir = tempDir(t);
  execFileSync('as', ['--32', '-o', path.join(dir, 'p.o'), path.join(repoRoot, 'assets/kvm-probe/probe.S')]);
  execFileSync('objcopy', ['-O', 'binary', '-j', '.text', path.join(dir, 'p.o'), path.join(dir, 'p.bin')]);
  t.is(fs.readFileSync(path.join(dir, 'p.bin')).toString('hex'), qemu.KVM_PROBE_CODE);
  const image = qemu.kvmProbeImage();
  t.is(image.length, 65536);
  t.deepEqual([...image.subarray(0xfff0, 0xfff5)], [0xea, 0, 0, 0, 0xf0]);
});

qtest('the probe guest runs to completion under TCG', async (t) => {
  t.is(await qemu.probeAccel('tcg', 5000), null);
});

qtest('auto picks an accelerator within a second and says why', async (t) => {
  const started = Date.now();
  const choice = await qemu.detectAccel('auto', 'x86_64');
  t.true(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
  t.true(['kvm', 'tcg'].includes(choice.accel));
  t.true(choice.reason.length > 0);
  if (choice.accel === 'tcg' && fs.existsSync('/dev/kvm')) t.regex(choice.reason, /KVM/);
  // Cached: the second call is the same promise result.
  t.deepEqual(await qemu.detectAccel('auto', 'x86_64'), choice);
  t.deepEqual(await qemu.detectAccel('tcg', 'x86_64'), { accel: 'tcg', reason: 'TCG requested' });
  if (process.platform !== 'darwin') {
    const err = await t.throwsAsync(qemu.detectAccel('hvf', 'x86_64'));
    t.is(err.code, 'ERR_PIXELRTS_ACCEL');
    t.regex(err.message, /--accel/);
  }
});

test('qemuArgs: direct kernel boot, console and channel per architecture', (t) => {
  const base = { accel: 'tcg', kernel: '/k', initrd: '/i', cmdline: 'quiet', qmpSocket: '/r/qmp.sock', channelSocket: '/r/ch.sock' };
  const x = qemu.qemuArgs({ ...base, arch: 'x86_64', memory: '256M', cpus: 2, extra: ['-foo'] });
  const after = (args, flag) => args[args.indexOf(flag) + 1];
  t.is(after(x, '-kernel'), '/k');
  t.is(after(x, '-initrd'), '/i');
  t.is(after(x, '-append'), 'quiet');
  t.is(after(x, '-m'), '256M');
  t.is(after(x, '-smp'), '2');
  t.is(after(x, '-cpu'), 'max');
  t.true(x.includes('-no-reboot'));
  t.is(x.filter((a) => a === '-serial').length, 2, 'console UART and channel UART');
  t.true(x.some((a) => a.startsWith('socket,id=pxqmp,path=/r/qmp.sock,server=on')));
  t.is(x[x.length - 1], '-foo');
  t.false(x.includes('-netdev'));
  const k = qemu.qemuArgs({ ...base, arch: 'x86_64', accel: 'kvm', initrd: undefined, vnc: ':3', network: { user: true, hostfwd: [{ hostPort: 8000, guestPort: 80 }] } });
  t.is(after(k, '-cpu'), 'host');
  t.false(k.includes('-initrd'));
  t.is(after(k, '-vnc'), ':3');
  t.is(after(k, '-netdev'), 'user,id=pxnet,hostfwd=tcp:127.0.0.1:8000-:80');
  // An isolated network: restrict=on, and a program per connection for each forward, its argv
  // quoted for GLib's shell-like split, commas doubled for QEMU's option parser.
  const r = qemu.qemuArgs({ ...base, arch: 'x86_64', network: { user: true, restrict: true, guestfwd: [{ guestAddress: '10.0.2.100', guestPort: 7, command: ['/bin/socat', "it's,odd"] }] } });
  t.is(after(r, '-netdev'), "user,id=pxnet,restrict=on,guestfwd=tcp:10.0.2.100:7-cmd:'/bin/socat' 'it'\\''s,,odd'");
  // The command line through a private config file instead of argv, when QEMU's syntax holds it.
  const c = qemu.qemuArgs({ ...base, arch: 'x86_64', cmdline: 'quiet secret=1', cmdlineConfig: '/r/cmdline.cfg' });
  t.false(c.includes('-append'));
  t.false(c.some((a) => a.includes('secret=1')));
  t.is(after(c, '-readconfig'), '/r/cmdline.cfg');
  t.is(qemu.cmdlineConfigText('quiet secret=1'), '# the kernel command line, kept out of /proc/PID/cmdline\n[machine]\n  append = "quiet secret=1"\n');
  t.is(qemu.cmdlineConfigText('say="a b"'), null, 'a double quote does not fit the config syntax');
  t.is(qemu.cmdlineConfigText('x'.repeat(1024)), null, 'nor over 1023 bytes');
  const a = qemu.qemuArgs({ ...base, arch: 'aarch64' });
  t.is(after(a, '-machine'), 'virt');
  t.true(a.includes('virtserialport,chardev=pxch,name=org.pixelrts.channel'));
  t.throws(() => qemu.qemuArgs({ ...base, arch: 'aarch64', channel: 'serial' }), { message: /one UART/ });
  const comma = qemu.qemuArgs({ ...base, arch: 'x86_64', qmpSocket: '/r,x/qmp.sock' });
  t.true(comma.some((a) => a.startsWith('socket,id=pxqmp,path=/r,,x/qmp.sock,')), 'commas in paths doubled');
  t.is(qemu.withConsole('quiet', 'x86_64'), 'quiet console=ttyS0');
  t.is(qemu.withConsole('', 'aarch64'), 'console=ttyAMA0');
  t.is(qemu.withConsole('console=hvc0 quiet', 'x86_64'), 'console=hvc0 quiet');
});

test('spawnWithParentDeath: the child dies when its parent is SIGKILLed', async (t) => {
  if (process.platform !== 'linux') return t.pass('no parent-death signal outside Linux');
  t.true(qemu.parentDeathSupported());
  // A Node parent spawns `sleep 60` through spawnWithParentDeath, prints its pid and is SIGKILLed.
  const script = `const { spawnWithParentDeath } = require(${JSON.stringify(path.join(repoRoot, 'dist/vm/qemu.js'))});
    const c = spawnWithParentDeath('sleep', ['60'], { stdio: 'ignore' });
    console.log(c.pid); setInterval(() => {}, 1000);`;
  const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = Number(await firstLine(parent));
  t.true(pid > 0);
  t.true(processGone(pid) === false, 'the child runs while its parent lives');
  parent.kill('SIGKILL');
  t.true(await waitGone(pid, 2000), `child ${pid} outlived its parent by 2 s`);
});
