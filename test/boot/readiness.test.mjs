// Readiness (#15, finding 2): a message sent before the guest's agent reads its end of the
// command channel used to be lost, so the README's first vm.request and `boot --detach`
// followed at once by `send --wait` timed out. The channel now holds what is sent until the
// agent announces itself; both work straight away.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { needs } from '../helpers/prereq.mjs';
import { bootMissing, cli, demoContainer, leftovers, runtimeEnv } from '../helpers/boot.mjs';

const require = createRequire(import.meta.url);
const px = require('../../dist/index.js');
const btest = needs(test, bootMissing());

btest.serial('the README\'s API example, right after boot resolves: ready, the agent event, and the first request answered', async (t) => {
  const vm = await px.boot(await demoContainer(), { memory: '512M', accel: 'tcg' });
  t.teardown(async () => { if (vm.running) await vm.kill(); await vm.exited; });
  const agent = new Promise((resolve) => vm.once('agent', resolve));
  // As the README has it: no waiting of our own before the request.
  const reply = await vm.request({ type: 'command', data: { message: 'ping' } }, { timeout: 60_000 });
  t.is(reply.data.message, 'pong');
  t.like(await agent, { data: { message: 'agent ready' } });
  await vm.ready({ timeout: 1000 });
  const exit = await vm.shutdown({ timeout: 10000 });
  t.true(exit.poweredOff);
});

btest.serial('boot --detach, then at once send --wait: the reply comes once the agent is up', async (t) => {
  const { root, env } = runtimeEnv(t);
  const run = (...args) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  const started = run('boot', await demoContainer(), '--detach', '--accel', 'tcg');
  t.is(started.status, 0, started.stderr);
  const id = started.stdout.trim();
  t.teardown(() => run('stop', '--force', id));
  const r = run('send', id, '{"type":"command","data":{"message":"ping"}}', '--wait', '--timeout', '60000');
  t.is(r.status, 0, r.stderr);
  t.like(JSON.parse(r.stdout), { type: 'status', data: { message: 'pong' } });
  t.is(run('stop', id).status, 0);
  t.deepEqual(await leftovers(root, [], 5000), []);
});
