// The QMP client against a real QEMU (-machine none: QMP without booting anything).
import test from 'ava';
import net from 'node:net';
import path from 'node:path';
import { needs } from '../helpers/prereq.mjs';
import { lib, qemuMissing, startBareQemu, tempDir } from '../helpers/qemu.mjs';

const qtest = needs(test, qemuMissing());
const { QmpClient, QmpError } = lib('vm/qmp');

qtest('greeting, capabilities and query-status against real QEMU', async (t) => {
  const { qmpSocket } = startBareQemu(t);
  const qmp = await QmpClient.connect(qmpSocket, { timeout: 5000 });
  t.teardown(() => qmp.close());
  t.is(typeof qmp.greeting.QMP.version.qemu.major, 'number');
  t.true(Array.isArray(qmp.greeting.QMP.capabilities));
  const status = await qmp.execute('query-status');
  t.is(status.status, 'running');
  t.true(status.running);
  const version = await qmp.execute('query-version');
  t.deepEqual(version.qemu, qmp.greeting.QMP.version.qemu);
});

qtest('errors carry QMP class and description', async (t) => {
  const { qmpSocket } = startBareQemu(t);
  const qmp = await QmpClient.connect(qmpSocket);
  t.teardown(() => qmp.close());
  const e1 = await t.throwsAsync(qmp.execute('no-such-command'), { instanceOf: QmpError });
  t.is(e1.code, 'ERR_PIXELRTS_QMP');
  t.is(e1.errorClass, 'CommandNotFound');
  t.regex(e1.message, /no-such-command/);
  const e2 = await t.throwsAsync(qmp.execute('query-status', { bogus: 1 }), { instanceOf: QmpError });
  t.is(e2.errorClass, 'GenericError');
  t.regex(e2.desc, /bogus/);
  // The session still works after errors.
  t.is((await qmp.execute('query-status')).status, 'running');
});

qtest('stop and cont produce STOP and RESUME events, on the iterator and the emitter', async (t) => {
  const { qmpSocket } = startBareQemu(t);
  const qmp = await QmpClient.connect(qmpSocket);
  t.teardown(() => qmp.close());
  const emitted = [];
  qmp.on('event', (ev) => emitted.push(ev.event));
  const it = qmp.events();
  await qmp.execute('stop');
  t.is((await qmp.execute('query-status')).status, 'paused');
  await qmp.execute('cont');
  const first = await it.next();
  const second = await it.next();
  t.is(first.value.event, 'STOP');
  t.is(second.value.event, 'RESUME');
  t.is(typeof first.value.timestamp.seconds, 'number');
  t.deepEqual(emitted, ['STOP', 'RESUME']);
  await it.return();
});

qtest('a socket that closes mid-command rejects the pending command; events() ends', async (t) => {
  const { child, qmpSocket, exited } = startBareQemu(t);
  const qmp = await QmpClient.connect(qmpSocket);
  const it = qmp.events();
  const closed = new Promise((r) => qmp.once('close', r));
  process.kill(child.pid, 'SIGSTOP'); // QEMU cannot answer any more
  const pending = qmp.execute('query-status', undefined, { timeout: 10000 });
  await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGKILL');
  const err = await t.throwsAsync(pending);
  t.is(err.code, 'ERR_PIXELRTS_QMP_CLOSED');
  t.regex(err.message, /query-status/);
  await closed;
  t.deepEqual(await it.next(), { value: undefined, done: true });
  const after = await t.throwsAsync(qmp.execute('query-status'));
  t.is(after.code, 'ERR_PIXELRTS_QMP_CLOSED');
  await exited;
  await qmp.close();
});

qtest('a command that gets no reply times out; the session survives', async (t) => {
  const { child, qmpSocket } = startBareQemu(t);
  const qmp = await QmpClient.connect(qmpSocket);
  t.teardown(() => qmp.close());
  process.kill(child.pid, 'SIGSTOP');
  const err = await t.throwsAsync(qmp.execute('query-status', undefined, { timeout: 200 }));
  t.is(err.code, 'ERR_PIXELRTS_TIMEOUT');
  t.regex(err.message, /query-status.*200 ms/);
  process.kill(child.pid, 'SIGCONT');
  // The late reply to the timed-out command is ignored; the next one gets its own.
  t.is((await qmp.execute('query-status')).status, 'running');
});

qtest('connect: a missing socket times out, a non-QMP server is named as such', async (t) => {
  const dir = tempDir(t);
  const missing = path.join(dir, 'nothing.sock');
  const e1 = await t.throwsAsync(QmpClient.connect(missing, { timeout: 150 }));
  t.is(e1.code, 'ERR_PIXELRTS_TIMEOUT');
  t.true(e1.message.includes(missing));

  const bogus = path.join(dir, 'bogus.sock');
  const server = net.createServer((s) => s.end('hello, I am not QEMU\n'));
  await new Promise((r) => server.listen(bogus, r));
  t.teardown(() => new Promise((r) => server.close(r)));
  const e2 = await t.throwsAsync(QmpClient.connect(bogus, { timeout: 1000 }));
  t.is(e2.code, 'ERR_PIXELRTS_QMP');
  t.regex(e2.message, /not a QMP socket.*greeting/);
});
