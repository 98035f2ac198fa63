// Joining a private network without VMs (lib/net/network.ts): processes racing to create one
// network get one switch (its lock) and distinct indexes; the switch is refcounted by their
// connections, so SIGKILL of every member leaves no switch process, socket or directory.
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { leftovers, processesOf, runtimeEnv } from '../helpers/boot.mjs';

const require = createRequire(import.meta.url);
const network = require.resolve('../../dist/net/network.js');
const { networkStats } = require(network);

/** A process that joins `name` under `root`, prints its index and holds the port until killed. */
function member(t, env, name) {
  const script = `require(${JSON.stringify(network)}).joinNetwork(${JSON.stringify(env.root)}, ${JSON.stringify(name)})
    .then((p) => { console.log(JSON.stringify({ index: p.index, ip: p.ip })); setInterval(() => {}, 1000); },
      (e) => { console.error(e.code, e.message); process.exit(1); });`;
  const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, ...env.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
  const joined = new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').once('data', (d) => resolve(JSON.parse(d)));
    child.once('exit', (code) => reject(new Error(`member exited ${code}: ${err}`)));
  });
  return { child, joined };
}

test('four processes racing to create a network share one switch with indexes 1-4; SIGKILL of all leaves nothing', async (t) => {
  const env = runtimeEnv(t);
  fs.mkdirSync(env.root, { mode: 0o700 });
  t.teardown(() => { for (const pid of processesOf(env.xdg)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } });
  const name = 'race';
  const members = [1, 2, 3, 4].map(() => member(t, env, name));
  const joined = await Promise.all(members.map((m) => m.joined));
  t.deepEqual(joined.map((j) => j.index).sort(), [1, 2, 3, 4]);
  const { switchPid, ports } = await networkStats(env.root, name);
  t.deepEqual(ports.map((p) => p.pid).sort(), members.map((m) => m.child.pid).sort(), 'each port held by its member');
  const switches = processesOf(env.xdg).filter((p) => fs.readFileSync(`/proc/${p}/cmdline`, 'latin1').includes('switch-process.js'));
  t.deepEqual(switches, [switchPid], 'one switch serves the network');

  // One member leaves: its index is the next joiner's.
  members[1].child.kill('SIGKILL');
  while ((await networkStats(env.root, name)).ports.length !== 3) await new Promise((r) => setTimeout(r, 20));
  const again = member(t, env, name);
  t.is((await again.joined).index, joined[1].index, 'a freed index is reused');

  for (const m of [...members, again]) m.child.kill('SIGKILL');
  const deadline = Date.now() + 5000;
  while (processesOf(env.xdg).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.deepEqual(processesOf(env.xdg), [], 'the switch left with its last member');
  t.deepEqual(await leftovers(env.root, [], 2000), []);
  t.false(fs.existsSync(path.join(env.root, `.net-${name}`)));
});

test('malformed control requests are hung up on; the switch serves on', async (t) => {
  const env = runtimeEnv(t);
  fs.mkdirSync(env.root, { mode: 0o700 });
  const { joinNetwork } = require(network);
  const first = await joinNetwork(env.root, 'hostile');
  t.teardown(() => first.leave());
  const control = path.join(env.root, '.net-hostile', 'control.sock');
  const net = await import('node:net');
  for (const line of ['null\n', '5\n', '"x"\n', '{}\n', '{"type":"join"}\n', 'garbage\n', 'x'.repeat(5000)]) {
    const closed = await new Promise((resolve) => {
      const s = net.connect(control);
      s.on('error', () => undefined);
      const timer = setTimeout(() => { s.destroy(); resolve(false); }, 2000);
      s.on('close', () => { clearTimeout(timer); resolve(true); });
      s.write(line);
    });
    t.true(closed, `hung up on ${JSON.stringify(line.slice(0, 20))}`);
  }
  const second = await joinNetwork(env.root, 'hostile');
  t.is(second.index, 2, 'the switch still serves');
  second.leave();
});
