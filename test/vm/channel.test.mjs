// The command channel and the demo guest's agent, with one real demo VM shared by the tests
// in this file (serial: they run one after another against the same guest), plus the
// guest's console fed bad input through its own shell.
import test from 'ava';
import net from 'node:net';
import path from 'node:path';
import { needs } from '../helpers/prereq.mjs';
import { demoImage, demoMissing } from '../helpers/demo-image.mjs';
import { lib, tempDir } from '../helpers/qemu.mjs';

const missing = demoMissing();
const dtest = needs(test, missing);
const { Channel } = lib('vm/channel');
let vm = null;

test.before(async () => {
  if (missing) return;
  const demo = await demoImage();
  vm = await lib('vm/vm').launchVm({ kernel: demo.kernelPath, initrd: demo.initrdPath, cmdline: demo.cmdline, startTimeout: 60000 });
  await vm.console.waitFor('pixelrts-demo#', { timeout: 120000 });
});
test.after.always(async () => { await vm?.kill(); });

function nextMessage(predicate, timeout = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { vm.off('message', on); reject(new Error('no such message')); }, timeout);
    const on = (m) => { if (predicate(m)) { clearTimeout(timer); vm.off('message', on); resolve(m); } };
    vm.on('message', on);
  });
}

dtest.serial('heartbeats arrive about every second on the channel, not on the console', async (t) => {
  const consoleMessages = [];
  const onConsole = (m) => consoleMessages.push(m);
  vm.console.on('message', onConsole);
  const beats = [];
  const onBeat = (m) => { if (m.type === 'heartbeat') beats.push({ at: Date.now(), seq: m.data.details.seq }); };
  vm.channel.on('message', onBeat);
  await new Promise((r) => setTimeout(r, 3500));
  vm.channel.off('message', onBeat);
  vm.console.off('message', onConsole);
  t.true(beats.length >= 2 && beats.length <= 5, `${beats.length} heartbeats in 3.5 s`);
  t.true(beats.every((b, i) => i === 0 || b.seq === beats[i - 1].seq + 1), 'consecutive sequence numbers');
  t.true(vm.channel.responsive);
  t.deepEqual(consoleMessages.filter((m) => m.type === 'heartbeat'), []);
});

dtest.serial('ping is answered with a status carrying the same id', async (t) => {
  for (let i = 0; i < 5; i++) {
    const reply = await vm.request({ data: { message: 'ping' } }, { timeout: 5000 });
    t.is(reply.type, 'status');
    t.is(reply.data.message, 'pong');
    t.is(reply.id, `h${i + 1}`);
    t.is(reply.direction, 'vm-to-host');
  }
  const own = await vm.request({ data: 'ping', id: 'my-id-7' });
  t.is(own.id, 'my-id-7');
  // Concurrent requests each get their own reply.
  const replies = await Promise.all([1, 2, 3].map(() => vm.request({ data: 'ping' })));
  t.is(new Set(replies.map((r) => r.id)).size, 3);
});

dtest.serial('unknown commands and non-commands come back as error messages with the id', async (t) => {
  const r1 = await vm.request({ data: 'frobnicate' });
  t.is(r1.type, 'error');
  t.is(r1.data.message, 'unknown command: frobnicate');
  t.true(r1.data.details.known.includes('ping'));
  const r2 = await vm.request({ type: 'graphics', data: 'draw' });
  t.is(r2.type, 'error');
  t.regex(r2.data.message, /expected a message of type command/);
  // send() without an id: the error arrives as a plain message event.
  const err = nextMessage((m) => m.type === 'error' && m.data.message === 'unknown command: fire-and-forget');
  const wire = vm.send({ data: 'fire-and-forget' });
  t.is(wire.direction, 'host-to-vm');
  t.is((await err).id, undefined);
});

dtest.serial('a guest that stops its heartbeats becomes unresponsive, then responsive', async (t) => {
  const events = [];
  const onU = (e) => events.push(['unresponsive', e.silentMs]);
  const onR = (e) => events.push(['responsive', e.silentMs]);
  vm.on('unresponsive', onU);
  vm.on('responsive', onR);
  const started = Date.now();
  const reply = await vm.request({ data: { message: 'pause-heartbeats', details: { seconds: 5 } } });
  t.is(reply.data.message, 'heartbeats paused');
  const unresponsive = new Promise((r) => vm.once('unresponsive', r));
  const responsive = new Promise((r) => vm.once('responsive', r));
  await unresponsive;
  t.false(vm.channel.responsive);
  t.true(Date.now() - started >= 2000, 'not before the heartbeat timeout');
  // The agent itself still answers while heartbeats are paused.
  t.is((await vm.request({ data: 'ping' })).data.message, 'pong');
  await responsive;
  t.true(vm.channel.responsive);
  vm.off('unresponsive', onU);
  vm.off('responsive', onR);
  t.deepEqual(events.map((e) => e[0]), ['unresponsive', 'responsive']);
  t.true(events[1][1] > 3000, `silence lasted ${events[1][1]} ms`);
});

dtest.serial('the channel reconnects when its socket drops while QEMU lives', async (t) => {
  const reconnected = new Promise((r) => vm.channel.once('reconnect', r));
  // Drop the connection from our side, as a crash of the socket would.
  vm.channel.sock.destroy();
  const queued = vm.request({ data: 'ping' }, { timeout: 5000 }); // sent once reconnected
  await reconnected;
  t.true(vm.channel.connected);
  t.is((await queued).data.message, 'pong');
});

dtest.serial('bad input on the real console: malformed JSON, misfits, an oversized line, binary noise', async (t) => {
  const lines = [];
  const invalid = [];
  const onLine = (text, info) => lines.push({ text, ...info });
  const onInvalid = (m) => invalid.push(m);
  vm.console.on('line', onLine);
  vm.on('invalid-message', onInvalid);
  const done = vm.console.waitFor(/^END-OF-BAD-INPUT$/, { timeout: 60000 });
  vm.console.write([
    'printf \'{"type":"status","data":\\n\'',
    'printf \'{"type":"bogus","data":{"message":"x"}}\\n\'',
    'head -c 70000 /dev/zero | tr "\\0" x; echo',
    'head -c 3000 /dev/urandom; echo',
    'echo END-OF-BAD-INPUT',
  ].join('; ') + '\n');
  await done;
  vm.console.off('line', onLine);
  vm.off('invalid-message', onInvalid);
  t.true(lines.some((l) => l.text === '{"type":"status","data":'), 'malformed JSON delivered as a plain line');
  t.true(invalid.some((m) => /unknown message type "bogus"/.test(m.error)), 'schema misfit reported');
  // The 70000-byte line: capped at 64 KiB. (On a loaded machine the guest may stall mid-line
  // for more than the 100 ms partial-line timeout, which splits it into partial lines first.)
  t.true(lines.every((l) => Buffer.byteLength(l.text) <= 65536), 'no line over the cap');
  const xs = lines.filter((l) => /^x+\r?$/.test(l.text));
  const total = xs.reduce((n, l) => n + l.text.replace(/\r$/, '').length + l.droppedBytes, 0);
  t.true(total === 70000 || total === 70001, `${total} bytes of the long line accounted for (kept + dropped; +1: the tty's CR)`);
  if (xs.length === 1) t.true(xs[0].truncated && xs[0].text.length === 65536, 'one piece: cut at the cap');
  t.true(vm.running);
  t.is((await vm.request({ data: 'ping' })).data.message, 'pong', 'the guest still answers');
});

dtest.serial('the shutdown command powers the guest off', async (t) => {
  const reply = await vm.request({ data: 'shutdown' });
  t.is(reply.data.message, 'powering off');
  const exit = await vm.exited;
  t.is(exit.code, 0);
  t.true(exit.poweredOff);
});

test('what is sent before the guest\'s agent speaks is held, then written in order; a request that times out held is never sent', async (t) => {
  const dir = tempDir(t);
  const socketPath = path.join(dir, 'guest.sock');
  let received = '';
  let guest;
  const server = net.createServer((s) => { guest = s; s.on('data', (d) => { received += d; }); });
  await new Promise((r) => server.listen(socketPath, r));
  t.teardown(() => new Promise((r) => server.close(r)));
  const channel = new Channel({ socketPath });
  await channel.connect();
  t.teardown(() => channel.close());
  t.false(channel.agentReady);

  // Nobody speaks: the request times out saying so, and its line never reaches the guest.
  const err = await t.throwsAsync(channel.request({ data: 'ping' }, { timeout: 150 }));
  t.is(err.code, 'ERR_PIXELRTS_TIMEOUT');
  t.regex(err.message, /no agent announced itself on the command channel .* within 150 ms, so 'ping' \(id h1\) was never sent/);
  await t.throwsAsync(channel.ready({ timeout: 50 }), { code: 'ERR_PIXELRTS_TIMEOUT', message: /no agent announced itself/ });

  // Sent early, held; the agent announces itself; both arrive, in order; the request is answered.
  channel.send({ data: 'first' });
  const answered = channel.request({ data: 'second' }, { timeout: 5000 });
  const agent = new Promise((r) => channel.once('agent', r));
  await new Promise((r) => setTimeout(r, 100));
  t.is(received, '', 'nothing is written before the agent speaks');
  guest.write('{"type":"status","data":{"message":"agent ready"},"direction":"vm-to-host"}\n');
  t.like(await agent, { data: { message: 'agent ready' } });
  await channel.ready();
  while (received.split('\n').filter(Boolean).length < 2) await new Promise((r) => setTimeout(r, 10));
  const lines = received.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  t.deepEqual(lines.map((l) => l.data.message), ['first', 'second']);
  guest.write(`${JSON.stringify({ type: 'status', id: lines[1].id, data: { message: 'pong' }, direction: 'vm-to-host' })}\n`);
  t.is((await answered).data.message, 'pong');

  // Once ready, a request nobody answers times out as such.
  const late = await t.throwsAsync(channel.request({ data: 'ping' }, { timeout: 150 }));
  t.regex(late.message, /the guest did not answer 'ping' \(id h3\) within 150 ms/);
  const pending = channel.request({ data: 'ping' }, { timeout: 5000 });
  channel.close('closing for the test');
  const closed = await t.throwsAsync(pending);
  t.is(closed.code, 'ERR_PIXELRTS_CHANNEL_CLOSED');
  t.regex(closed.message, /closing for the test/);
});

test('channel bad input from the guest end: echoes ignored, malformed JSON as lines, misfits and endless lines reported', async (t) => {
  const dir = tempDir(t);
  const socketPath = path.join(dir, 'guest.sock');
  let guest;
  const server = net.createServer((s) => { guest = s; });
  await new Promise((r) => server.listen(socketPath, r));
  t.teardown(() => new Promise((r) => { guest?.destroy(); server.close(r); }));
  const channel = new Channel({ socketPath, maxLineBytes: 1000 });
  await channel.connect();
  t.teardown(() => channel.close());
  const seen = { message: [], line: [], invalid: [] };
  channel.on('message', (m) => seen.message.push(m.data.message));
  channel.on('line', (l) => seen.line.push(l));
  channel.on('invalid-message', (m) => seen.invalid.push(m.error));
  const done = new Promise((r) => channel.on('message', (m) => { if (m.data.message === 'last') r(); }));
  await new Promise((r) => setImmediate(r));
  guest.write([
    '{"type":"command","data":{"message":"ping"},"direction":"host-to-vm","id":"h1"}', // a tty echo
    '{"type":"status","data":',                                                          // malformed
    '{"type":"nonsense","data":{"message":"x"}}',                                          // misfit
    '\u0000\u00ff\u0007binary\r',                                                          // noise, CRLF
  ].join('\n') + '\n');
  guest.write('z'.repeat(2500));                                                           // no newline
  await new Promise((r) => setTimeout(r, 50));
  guest.write('\n{"type":"status","data":{"message":"last"}}\n');
  await done;
  t.deepEqual(seen.message, ['last'], 'the echo is not a message');
  t.true(seen.line.includes('{"type":"status","data":'));
  t.true(seen.line.includes('\u0000\u00ff\u0007binary'));
  t.true(seen.invalid.some((e) => /unknown message type "nonsense"/.test(e)));
  t.true(seen.invalid.some((e) => /longer than 1000 bytes without a newline/.test(e)));
});
