// #17: two TCG demo guests on one private network (lib/net/, native/net/): ping round-trip
// between them, and TCP throughput through the switch (busybox nc from /dev/zero to /dev/null),
// with the switch's own counters for the bytes it moved. TCG emulates both guests' CPUs on
// this machine's cores, so these are the guests' limits more than the switch's; the switch's
// share is its CPU time, read from /proc for the same transfer.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { guestShell } from '../test/helpers/guest-shell.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (m) => require(path.join(root, 'dist', `${m}.js`));

const PINGS = Number(process.env.NET_BENCH_PINGS ?? 20);
const MIB = Number(process.env.NET_BENCH_MIB ?? 32);

/** CPU time (ms) the process `pid` has used, from /proc/PID/stat (utime + stime). */
function cpuMs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

/** Boots two guests on one network and measures ping and throughput between them. */
export async function benchNetSwitch() {
  const { buildDemoContainer } = dist('demo/image');
  const { boot } = dist('boot/boot');
  const { networkStats } = dist('net/network');
  const { containerPath } = await buildDemoContainer({
    ...(process.env.PIXELRTS_DEMO_CACHE ? { cacheDir: process.env.PIXELRTS_DEMO_CACHE } : {}),
    onProgress: (l) => console.log(`  demo: ${l}`),
  });
  const xdg = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-netbench-'));
  process.env.XDG_RUNTIME_DIR = xdg;
  const name = `bench${process.pid}`;
  const vms = [];
  try {
    for (let i = 0; i < 2; i++) vms.push(await boot(containerPath, { accel: 'tcg', net: name }));
    const [a, b] = vms;
    const [sa, sb] = vms.map(guestShell);
    await Promise.all(vms.map((vm) => vm.console.waitFor(/pixelrts-demo# /, { timeout: 90_000 })));

    const ping = await sa(`ping -c ${PINGS} -i 0.2 ${b.network.ip}`);
    const rtt = /round-trip min\/avg\/max = ([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(ping);
    console.log(`ping ${a.network.ip} → ${b.network.ip}, ${PINGS} echoes: ${/(\d+) packets received/.exec(ping)?.[1]} answered; ` +
      `RTT min/avg/max ${rtt ? `${rtt[1]} / ${rtt[2]} / ${rtt[3]} ms` : '(no summary)'}`);

    // The listener's stdin stays open (sleep): at EOF busybox nc would hang up at once.
    await sb('(sleep 600 | nc -l -p 5001 >/dev/null 2>&1 &)');
    await sb('sleep 1');
    const before = await networkStats(path.join(xdg, 'pixelrts'), name);
    const sw = before.switchPid;
    const cpu0 = cpuMs(sw);
    const t0 = performance.now();
    await sa(`dd if=/dev/zero bs=64k count=${MIB * 16} 2>/dev/null | nc -w 3 ${b.network.ip} 5001`);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuMs(sw) - cpu0;
    const after = await networkStats(path.join(xdg, 'pixelrts'), name);
    const port = (s, i) => s.stats.ports[String(i)] ?? { rxBytes: 0, rxFrames: 0 };
    const bytes = port(after, a.network.index).rxBytes - port(before, a.network.index).rxBytes;
    const frames = port(after, a.network.index).rxFrames - port(before, a.network.index).rxFrames;
    console.log(`TCP ${MIB} MiB guest → guest through the switch: ${seconds.toFixed(1)} s, ` +
      `${(MIB / seconds).toFixed(1)} MiB/s payload; switch moved ${(bytes / 2 ** 20).toFixed(1)} MiB in ${frames} frames ` +
      `from the sender, using ${cpu.toFixed(0)} ms of CPU (${((cpu / 1000 / seconds) * 100).toFixed(1)}% of one core)`);
    console.log(`switch counters: ${JSON.stringify({ ...after.stats, ports: undefined })}`);
  } finally {
    for (const vm of vms) if (vm.running) await vm.kill();
    await Promise.all(vms.map((vm) => vm.exited));
    fs.rmSync(xdg, { recursive: true, force: true });
  }
}

await benchNetSwitch();
