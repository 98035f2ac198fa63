// Several VMs on one private network (#17): demo guests on a network of their own ping each
// other at their predictable addresses, a VM on another network cannot reach them even from
// an address in their subnet, and when the VMs are gone (stopped, or their owner SIGKILLed) no
// switch process, socket or directory is left.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { needs } from '../helpers/prereq.mjs';
import { bootMissing, demoContainer, leftovers, parseNdjson, runtimeEnv, startCli } from '../helpers/boot.mjs';
import { guestShell } from '../helpers/guest-shell.mjs';

const require = createRequire(import.meta.url);
const { boot } = require('../../dist/boot/boot.js');
const { networkAddress } = require('../../dist/net/addressing.js');

const btest = needs(test, bootMissing());

/** Pids of the processes whose environment has XDG_RUNTIME_DIR=`xdg` (a test's VMs, supervisors and switches). */
function processesOf(xdg) {
  const pids = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`XDG_RUNTIME_DIR=${xdg}`)) pids.push(Number(pid));
    } catch { /* gone, or not ours to read */ }
  }
  return pids.filter((p) => p !== process.pid);
}

/** Waits up to `ms` for every process of `xdg` to end and the runtime root to empty; t.deepEqual on what is left. */
async function nothingLeft(t, xdg, root, ms) {
  const deadline = Date.now() + ms;
  while (processesOf(xdg).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.deepEqual(processesOf(xdg).map((p) => `${p}: ${fs.readFileSync(`/proc/${p}/cmdline`, 'latin1').replace(/\0/g, ' ')}`), [], 'no process left (no switch)');
  t.deepEqual(await leftovers(root, [], Math.max(0, deadline - Date.now())), [], 'no directory or socket left');
}

/** Kills whatever still runs under the test's runtime directory when the test ends. */
function killAllAtEnd(t, xdg) {
  t.teardown(() => {
    for (const pid of processesOf(xdg)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  });
}

async function bootShell(t, options) {
  const vm = await boot(await demoContainer(), { accel: 'tcg', ...options });
  t.teardown(async () => { if (vm.running) await vm.kill(); await vm.exited; });
  await vm.console.waitFor(/pixelrts-demo# /, { timeout: 90_000 });
  return { vm, sh: guestShell(vm) };
}

btest.serial('two VMs on one private network ping each other; a VM on another network reaches neither; nothing is left', async (t) => {
  const env = runtimeEnv(t);
  // boot() in this process: its runtime root, its switch's, is the test's own.
  const saved = process.env.XDG_RUNTIME_DIR;
  process.env.XDG_RUNTIME_DIR = env.xdg;
  t.teardown(() => { if (saved === undefined) delete process.env.XDG_RUNTIME_DIR; else process.env.XDG_RUNTIME_DIR = saved; });
  killAllAtEnd(t, env.xdg);

  const name = `lab${process.pid}`;
  const [a, b] = await Promise.all([bootShell(t, { net: name }), bootShell(t, { net: name })]);
  const addresses = [a, b].map(({ vm }) => vm.network.ip).sort();
  t.deepEqual(addresses, [networkAddress(name, 1).ip, networkAddress(name, 2).ip].sort(), 'the predictable addresses');
  for (const { vm } of [a, b]) {
    t.like(vm.network, networkAddress(name, vm.network.index));
    t.regex(vm.cmdline, new RegExp(`pixelrts\\.ip=${vm.network.ip.replace(/\./g, '\\.')}/24`));
    t.regex(vm.commandLine.join(' '), /-netdev dgram,id=pxpriv,local\.type=unix,local\.path=\S+q\d\.sock,remote\.type=unix,remote\.path=\S+s\d\.sock/);
    t.notRegex(vm.commandLine.join(' '), /-netdev user/, 'no user-mode network unless asked');
  }
  const bIp = b.vm.network.ip;
  const aIp = a.vm.network.ip;
  const ping = await a.sh(`ping -c 5 -W 5 ${bIp}`);
  t.regex(ping, /5 packets transmitted, 5 packets received/, ping);
  t.log(ping.split('\n').find((l) => /round-trip/.test(l)));
  t.regex(await b.sh(`ping -c 2 -W 5 ${aIp}`), /2 packets received/);
  t.regex(await b.sh('ip -o addr show eth0'), new RegExp(`inet ${bIp.replace(/\./g, '\\.')}/24`));
  t.regex(await b.sh('cat /sys/class/net/eth0/address'), new RegExp(b.vm.network.mac));

  // A third VM on another network, given an address in the first one's subnet: no frame of its
  // reaches the first network's switch.
  const c = await bootShell(t, { net: `other${process.pid}` });
  const intruder = networkAddress(name, 200).ip;
  await c.sh(`ip addr add ${intruder}/24 dev eth0`);
  const tries = await c.sh(`ping -c 3 -W 2 ${aIp}; ping -c 3 -W 2 ${bIp}`);
  t.regex(tries, /0 packets received/);
  t.notRegex(tries, /[1-9] packets received/, tries);

  const netDir = path.join(env.root, `.net-${name}`);
  t.true(fs.existsSync(path.join(netDir, 'control.sock')), 'the network lives while its VMs do');
  for (const { vm } of [a, b, c]) await vm.shutdown({ timeout: 10_000 });
  for (const { vm } of [a, b, c]) await vm.exited;
  await nothingLeft(t, env.xdg, env.root, 10_000);
});

btest.serial('separate detached boots share a network (ps shows it); SIGKILL of their owners leaves no switch, socket or directory', async (t) => {
  const env = runtimeEnv(t);
  killAllAtEnd(t, env.xdg);
  const demo = await demoContainer();
  const name = `kill${process.pid}`;
  // Two containers in one command (detached: one id each), then a third boot joining by name.
  const two = startCli(t, ['boot', demo, demo, '--net', name, '--detach', '--accel', 'tcg'], env.env);
  const first = await two.done;
  t.is(first.code, 0, first.stderr);
  const ids = first.stdout.trim().split('\n');
  t.is(ids.length, 2);
  const third = await startCli(t, ['boot', demo, '--net', name, '--detach', '--json', '--accel', 'tcg'], env.env).done;
  t.is(third.code, 0, third.stderr);
  const detached = parseNdjson(third.stdout).find((e) => e.type === 'detached');
  t.like(detached.network, networkAddress(name, 3));

  const ps = await startCli(t, ['ps', '--json'], env.env).done;
  const vms = parseNdjson(ps.stdout).filter((e) => e.type === 'vm');
  t.deepEqual(vms.map((v) => v.network.ip).sort(), [1, 2, 3].map((i) => networkAddress(name, i).ip).sort());
  t.deepEqual(vms.map((v) => v.id).slice(0, 2).sort(), [...ids].sort());
  const table = (await startCli(t, ['ps'], env.env).done).stdout;
  t.regex(table, new RegExp(`${name} ${networkAddress(name, 1).ip.replace(/\./g, '\\.')}`));

  // The owners die without a word: QEMU follows them (parent-death signal), their ports close,
  // and the switch leaves with the last one.
  for (const v of vms) process.kill(v.pid, 'SIGKILL');
  await nothingLeft(t, env.xdg, env.root, 15_000);
});
