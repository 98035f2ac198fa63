// launchVm and the VM lifecycle with the real demo guest under QEMU (TCG here).
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { needs, repoRoot } from '../helpers/prereq.mjs';
import { firstLine } from '../helpers/child.mjs';
import { beforeVmExit, bootDemo, demoImage, demoMissing } from '../helpers/demo-image.mjs';
import { lib, qemuMissing, tempDir, waitGone } from '../helpers/qemu.mjs';

const dtest = needs(test, demoMissing());
const qtest = needs(test, qemuMissing());
const { launchVm } = lib('vm/vm');
const { DEMO_MARKER } = lib('demo/image');

dtest('the demo boots: marker, banner and status message; QMP running; system_powerdown powers it off', async (t) => {
  const lines = [];
  const messages = [];
  const qmpEvents = [];
  const stages = [];
  const vm = await bootDemo(t, { onStage: (s) => stages.push(s.stage) });
  t.deepEqual(stages, ['accel', 'spawn', 'qmp']);
  t.true(fs.statSync(vm.runtimeDir).isDirectory());
  t.is(fs.statSync(vm.runtimeDir).mode & 0o777, 0o700);
  t.true(fs.statSync(vm.qmpSocket).isSocket());
  // Listen only after the guest has had time to print: held console output is not lost.
  await new Promise((r) => setTimeout(r, 3000));
  vm.console.on('line', (l) => lines.push(l));
  vm.on('message', (m) => messages.push(m));
  vm.on('qmp-event', (e) => qmpEvents.push(e.event));
  const ready = beforeVmExit(vm, new Promise((r) => vm.on('message', (m) => { if (m.data.message === 'pixelrts demo ready') r(m); })), 'the "pixelrts demo ready" message');
  const status = await vm.qmp.execute('query-status');
  t.is(status.status, 'running');
  const readyMsg = await ready;
  t.is(readyMsg.type, 'status');
  t.is(readyMsg.data.details.mode, 'interactive');
  t.true(lines.includes(DEMO_MARKER), 'marker line');
  t.true(lines.some((l) => l.includes('pixelrts demo guest')), 'banner');
  t.true(lines.indexOf(DEMO_MARKER) < lines.findIndex((l) => l.includes('pixelrts demo ready')), 'lines in order');
  // The shell answers on the console.
  await vm.console.waitFor('pixelrts-demo#', { timeout: 90000 });
  const echoed = vm.console.waitFor('sum=42', { timeout: 30000 });
  vm.console.write('echo sum=$((40 + 2))\n');
  await echoed;

  const shutdownEvent = vm.qmp.waitForEvent('SHUTDOWN', { timeout: 60000 });
  await vm.qmp.execute('system_powerdown');
  const ev = await shutdownEvent;
  t.is(ev.data.guest, true);
  const exit = await vm.exited;
  t.deepEqual({ code: exit.code, poweredOff: exit.poweredOff, reason: exit.shutdownReason }, { code: 0, poweredOff: true, reason: 'guest-shutdown' });
  t.true(qmpEvents.includes('POWERDOWN'));
  t.true(messages.some((m) => m.data.message === 'power button pressed, powering off'), lines.slice(-8).join('\n'));
  t.false(fs.existsSync(vm.runtimeDir), 'runtime directory removed');
  t.true(await waitGone(vm.pid, 100));
  t.false(vm.running);
  await t.throwsAsync(vm.request({ data: 'ping' }), { code: 'ERR_PIXELRTS_CHANNEL_CLOSED' });
});

dtest('oneshot: the guest prints its lines and powers off, exit 0, nothing left', async (t) => {
  const vm = await bootDemo(t, { append: 'pixelrts.demo=oneshot' });
  const messages = [];
  vm.on('message', (m) => messages.push(m.data.message));
  const exit = await vm.exited;
  t.is(exit.code, 0);
  t.true(exit.poweredOff);
  t.deepEqual(messages, ['pixelrts demo ready', 'pixelrts demo powering off']);
  t.false(fs.existsSync(vm.runtimeDir));
});

dtest('SIGKILL of the Node process that launched a VM: QEMU and the runtime directory are gone within 2 s', async (t) => {
  const demo = await demoImage();
  const script = `
    const { launchVm } = require(${JSON.stringify(path.join(repoRoot, 'dist/vm/vm.js'))});
    launchVm(${JSON.stringify({ kernel: demo.kernelPath, initrd: demo.initrdPath, cmdline: demo.cmdline })})
      .then((vm) => console.log(JSON.stringify({ pid: vm.pid, dir: vm.runtimeDir })));`;
  const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => parent.kill('SIGKILL'));
  const info = JSON.parse(await firstLine(parent));
  t.true(fs.existsSync(info.dir));
  parent.kill('SIGKILL');
  t.true(await waitGone(info.pid, 2000), `QEMU ${info.pid} still runs 2 s after its parent was killed`);
  const deadline = Date.now() + 2000;
  while (fs.existsSync(info.dir) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  t.false(fs.existsSync(info.dir), `runtime directory ${info.dir} left behind`);
});

test('launchVm: an unreadable kernel is named before QEMU starts', async (t) => {
  const err = await t.throwsAsync(launchVm({ kernel: '/nonexistent/vmlinuz' }));
  t.is(err.code, 'ERR_PIXELRTS_VM_INPUT');
  t.regex(err.message, /kernel \/nonexistent\/vmlinuz: ENOENT/);
});

qtest('launchVm: QEMU refusing its arguments is reported with its own message; nothing left', async (t) => {
  const dir = tempDir(t);
  const kernel = path.join(dir, 'vmlinuz');
  fs.writeFileSync(kernel, 'not a kernel');
  const runtimeParent = tempDir(t);
  const err = await t.throwsAsync(launchVm({ kernel, accel: 'tcg', qemuArgs: ['-no-such-option'], runtimeDir: path.join(runtimeParent, 'rt') }));
  t.is(err.code, 'ERR_PIXELRTS_QEMU_FAILED');
  t.regex(err.message, /no-such-option/);
  t.deepEqual(fs.readdirSync(path.join(runtimeParent, 'rt')), [], 'no sockets left');
});

dtest('the virtio-serial command channel: the agent finds org.pixelrts.channel and answers', async (t) => {
  const vm = await bootDemo(t, { channel: 'virtio' });
  t.true(vm.commandLine.includes('virtserialport,chardev=pxch,name=org.pixelrts.channel'));
  const heartbeat = beforeVmExit(vm, new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no heartbeat on the virtio channel within 60 s of launch')), 60000);
    vm.channel.once('heartbeat', () => { clearTimeout(timer); resolve(); });
  }), 'a heartbeat on the virtio channel');
  await vm.console.waitFor('pixelrts demo ready', { timeout: 90000 });
  await heartbeat;
  const reply = await vm.request({ data: 'ping' }, { timeout: 10000 });
  t.is(reply.data.message, 'pong');
  // The channel really is the virtio port, not the second UART (which this VM does not have).
  const listed = vm.console.waitFor(/^vport-name: /, { timeout: 30000 });
  vm.console.write('echo "vport-name: $(cat /sys/class/virtio-ports/vport*/name)"\n');
  t.is(await listed, 'vport-name: org.pixelrts.channel');
});
