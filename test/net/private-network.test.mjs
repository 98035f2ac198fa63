// Several VMs on one private network (#17): demo guests on a network of their own ping each
// other at their predictable addresses, a VM on another network cannot reach them even from
// an address in their subnet, and when the VMs are gone (stopped, or their owner SIGKILLed) no
// switch process, socket or directory is left.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { commandMissing, needs } from '../helpers/prereq.mjs';
import { bootMissing, bootShell, demoContainer, nothingLeft, parseNdjson, processesOf, runtimeEnv, startCli } from '../helpers/boot.mjs';

const require = createRequire(import.meta.url);
const { networkAddress } = require('../../dist/net/addressing.js');
const { networkStats } = require('../../dist/net/network.js');

const btest = needs(test, bootMissing());

/** Kills whatever still runs under the test's runtime directory when the test ends. */
function killAllAtEnd(t, xdg) {
  t.teardown(() => {
    for (const pid of processesOf(xdg)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  });
}

/**
 * A fresh runtime directory for VMs booted by boot() in this process: the process's own
 * XDG_RUNTIME_DIR points there for the test, so the VMs' directories and their switch's are
 * the test's own.
 */
function inProcessEnv(t) {
  const env = runtimeEnv(t);
  const saved = process.env.XDG_RUNTIME_DIR;
  process.env.XDG_RUNTIME_DIR = env.xdg;
  t.teardown(() => { if (saved === undefined) delete process.env.XDG_RUNTIME_DIR; else process.env.XDG_RUNTIME_DIR = saved; });
  killAllAtEnd(t, env.xdg);
  return env;
}

btest.serial('two VMs on one private network ping each other; a VM on another network reaches neither; nothing is left', async (t) => {
  const env = inProcessEnv(t);

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
  const { stats, ports } = await networkStats(env.root, name);
  t.deepEqual(ports.map((p) => p.pid), [process.pid, process.pid], 'both ports held by this process');
  t.true(stats.forwarded >= 14, `ARP replies and 7 echo pairs were switched port to port: ${JSON.stringify(stats)}`);
  t.like(stats, { runt: 0, oversized: 0, badSource: 0, foreign: 0 });

  // A third VM on another network, given an address in the first one's subnet, and QEMU's NATed
  // network as well: no frame of its reaches the first network's switch.
  const c = await bootShell(t, { net: `other${process.pid}`, network: true });
  t.regex(await c.sh('ip -o addr show eth1'), /inet 10\.0\.2\.15\/24/, 'the user-mode network is the second card');
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

btest.serial('a VM whose switch is killed is warned; what the switch left goes when the VM does', async (t) => {
  const env = inProcessEnv(t);
  const name = `sw${process.pid}`;
  const { vm } = await bootShell(t, { net: name });
  const warned = new Promise((resolve) => vm.on('warning', resolve));
  const pid = (await networkStats(env.root, name)).switchPid;
  t.true(processesOf(env.xdg).includes(pid), 'a switch process serves the network');
  process.kill(pid, 'SIGKILL');
  const warning = await warned;
  t.is(warning.code, 'ERR_PIXELRTS_NET');
  t.regex(warning.message, /went away/);
  t.true(fs.existsSync(path.join(env.root, `.net-${name}`)), 'a killed switch cannot clean up');
  await vm.shutdown({ timeout: 10_000 });
  await vm.exited;
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

btest.serial('boot a b: one fresh private network, numbered in the order given, each console line prefixed with its VM id', async (t) => {
  const env = runtimeEnv(t);
  killAllAtEnd(t, env.xdg);
  const demo = await demoContainer();
  const run = startCli(t, ['boot', demo, demo, '--accel', 'tcg'], env.env);
  const lines = await Promise.all([2, 3].map((host) => run.waitLine(new RegExp(`^(\\S+): pixelrts-demo: eth0 10\\.\\d+\\.\\d+\\.${host}/24$`), 90_000)));
  const ids = lines.map((l) => l.split(':')[0]);
  t.not(ids[0], ids[1], 'two VMs');
  const ps = parseNdjson((await startCli(t, ['ps', '--json'], env.env).done).stdout);
  t.deepEqual(ps.map((v) => v.network.index), [1, 2], 'the first container given is the first on the network');
  t.is(ps[0].network.network, ps[1].network.network);
  t.regex(ps[0].network.network, /^boot-[0-9a-f]{6}$/);
  t.is(run.out.lines.filter((l) => /^pixelrts-demo: /.test(l)).length, 0, 'no console line without its VM id');
  run.child.kill('SIGTERM');
  const done = await run.done;
  t.is(done.code, 143, done.stderr);
  await nothingLeft(t, env.xdg, env.root, 15_000);
});

btest.serial('usage: several containers with an option only one VM can have; a bad network name', async (t) => {
  const demo = await demoContainer();
  for (const [args, re] of [
    [['boot', demo, demo, '--persist', '/tmp/x.qcow2'], /--persist: not with several containers/],
    [['boot', demo, demo, '--json'], /--json .*not with several containers/],
    [['boot', demo, '--net', '../x'], /--net: expected a network name/],
  ]) {
    const r = await startCli(t, args).done;
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, re);
  }
});

needs(btest, commandMissing('mkfs.vfat', 'dosfstools') ?? commandMissing('mcopy', 'mtools')).serial('a cloud image on a private network gets its address in the NoCloud seed\'s network-config', async (t) => {
  const env = inProcessEnv(t);
  const name = `seed${process.pid}`;
  const { vm } = await bootShell(t, { net: name, network: true, cloudInit: '#cloud-config\nhostname: seeded\n' });
  const me = networkAddress(name, 1);
  t.regex(vm.commandLine.join(' '), /virtio-net-pci,netdev=pxnet,mac=52:54:00:12:34:56/, 'the user-mode card\'s MAC, named');
  const config = spawnSync('mtype', ['-i', path.join(vm.runtimeDir, 'cidata.img'), '::/network-config'], { encoding: 'utf8' }).stdout;
  t.is(config, [
    'version: 2', 'ethernets:', '  private:', `    match: { macaddress: "${me.mac}" }`, `    addresses: ["${me.ip}/24"]`,
    '  user:', '    match: { macaddress: "52:54:00:12:34:56" }', '    dhcp4: true', '',
  ].join('\n'));
  await vm.shutdown({ timeout: 10_000 });
  await vm.exited;
  await nothingLeft(t, env.xdg, env.root, 10_000);
});
