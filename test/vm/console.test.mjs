// lib/vm/console.ts and lib/vm/messages.ts: line splitting, partial flush, caps, noise, messages.
import test from 'ava';
import { lib } from '../helpers/qemu.mjs';

const { Console } = lib('vm/console');
const { parseMessageLine, validateMessage, stripEscapes, toWireMessage } = lib('vm/messages');

function collect(con) {
  const out = { lines: [], messages: [], invalid: [] };
  con.on('line', (text, info) => out.lines.push({ text, ...info }));
  con.on('message', (m) => out.messages.push(m));
  con.on('invalid-message', (m) => out.invalid.push(m));
  return out;
}

test('lines arrive in order across chunk boundaries; CRLF line ends stripped; none lost', (t) => {
  const con = new Console();
  const out = collect(con);
  const text = Array.from({ length: 500 }, (_, i) => `line ${i} ${'x'.repeat(i % 37)}`).join('\r\n') + '\r\n';
  const buf = Buffer.from(text);
  for (let i = 0; i < buf.length; i += 7) con.push(buf.subarray(i, i + 7));
  con.end();
  t.is(out.lines.length, 500);
  t.deepEqual(out.lines.map((l) => l.text), text.split('\r\n').slice(0, -1));
  t.true(out.lines.every((l) => !l.partial && !l.truncated));
});

test('a partial line is flushed after the timeout, and the rest becomes the next line', async (t) => {
  const con = new Console({ flushTimeout: 30 });
  const out = collect(con);
  con.push(Buffer.from('prompt# '));
  t.is(out.lines.length, 0);
  await new Promise((r) => setTimeout(r, 80));
  t.deepEqual(out.lines.map((l) => [l.text, l.partial]), [['prompt# ', true]]);
  con.push(Buffer.from('ls\n'));
  t.deepEqual(out.lines.map((l) => [l.text, l.partial]), [['prompt# ', true], ['ls', false]]);
  con.push(Buffer.from('tail without newline'));
  con.end();
  t.is(out.lines[2].text, 'tail without newline');
});

test('an oversized line is capped and the truncation reported; the next line is intact', (t) => {
  const con = new Console({ maxLineBytes: 1024 });
  const out = collect(con);
  const big = Buffer.alloc(5000, 0x61);
  con.push(big.subarray(0, 3000));
  con.push(Buffer.concat([big.subarray(3000), Buffer.from('\nnext\n')]));
  t.is(out.lines.length, 2);
  t.is(out.lines[0].text.length, 1024);
  t.true(out.lines[0].truncated);
  t.is(out.lines[0].droppedBytes, 5000 - 1024);
  t.deepEqual([out.lines[1].text, out.lines[1].truncated], ['next', false]);
});

test('binary noise and invalid UTF-8 decode with replacement characters, nothing thrown', (t) => {
  const con = new Console();
  const out = collect(con);
  const noise = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 97 + 13) % 256).filter((b) => b !== 0x0a));
  con.push(Buffer.concat([noise, Buffer.from('\n'), Buffer.from([0xe2, 0x82]), Buffer.from('\n'), Buffer.from('ok ✓\n')]));
  t.is(out.lines.length, 3);
  t.true(out.lines[0].text.includes('\ufffd'));
  t.is(out.lines[1].text, '\ufffd');
  t.is(out.lines[2].text, 'ok ✓');
  t.deepEqual(out.messages, []);
});

test('message lines: valid ones become messages, schema misfits are reported, malformed JSON stays a line', (t) => {
  const con = new Console();
  const out = collect(con);
  const lines = [
    '{"type":"status","data":{"message":"graphics started"}}',
    '\x1b[1;32m{"type":"heartbeat","data":{"message":"System alive"},"id":7}\x1b[0m',
    'pixelrts-demo# \x1b[6n{"type":"error","data":{"message":"after a prompt"}}',
    '{"type":"telemetry","data":{"message":"x"}}',
    '{"type":"status","data":"not an object"}',
    '{"type":"status","data":{"message":"x"}',
    'prompt {"not":"a message"}',
    'plain text',
  ];
  con.push(Buffer.from(lines.join('\n') + '\n'));
  t.is(out.lines.length, lines.length, 'every line is a line event');
  t.deepEqual(out.messages.map((m) => [m.type, m.data.message, m.id]), [
    ['status', 'graphics started', undefined],
    ['heartbeat', 'System alive', '7'],
    ['error', 'after a prompt', undefined],
  ]);
  t.is(out.invalid.length, 2);
  t.regex(out.invalid[0].error, /unknown message type "telemetry"/);
  t.regex(out.invalid[1].error, /field "data": expected an object/);
});

test('waitFor resolves on a matching line and rejects on timeout and on end', async (t) => {
  const con = new Console();
  const p = con.waitFor(/ready \d+/, { timeout: 1000 });
  con.push(Buffer.from('booting\nready 42\n'));
  t.is(await p, 'ready 42');
  const e1 = await t.throwsAsync(con.waitFor('never', { timeout: 20 }));
  t.is(e1.code, 'ERR_PIXELRTS_TIMEOUT');
  const p2 = con.waitFor('never', { timeout: 1000 });
  con.end();
  const e2 = await t.throwsAsync(p2);
  t.is(e2.code, 'ERR_PIXELRTS_CONSOLE_CLOSED');
});

test('the raw stream carries the bytes unchanged', async (t) => {
  const con = new Console();
  const chunks = [];
  con.raw.on('data', (c) => chunks.push(c));
  const data = Buffer.from('\x1b[2Jhello\r\nworld');
  con.push(data);
  con.end();
  await new Promise((r) => con.raw.on('end', r));
  t.deepEqual(Buffer.concat(chunks), data);
  t.throws(() => con.write('x'), { code: 'ERR_PIXELRTS_CONSOLE_CLOSED' });
});

test('message schema: validation errors name the field; wire messages are stamped', (t) => {
  t.regex(validateMessage([]).error, /expected a JSON object, found an array/);
  t.regex(validateMessage({ type: 'status', data: { message: 1 } }).error, /data.message.*expected a string, found 1/);
  t.regex(validateMessage({ type: 'status', data: { message: 'x' }, direction: 'up' }).error, /direction/);
  t.is(parseMessageLine('not json'), null);
  t.is(stripEscapes('\x1b]0;title\x07a\x1b[31mb\x1b[0m\x07'), 'ab');
  const wire = toWireMessage({ data: 'ping' }, 'h1');
  t.like(wire, { type: 'command', data: { message: 'ping' }, direction: 'host-to-vm', id: 'h1' });
  t.false(Number.isNaN(Date.parse(wire.timestamp)));
  t.throws(() => toWireMessage({ type: 'bogus', data: 'x' }), { code: 'ERR_PIXELRTS_MESSAGE', message: /unknown message type "bogus"/ });
});

test('held output is delivered in full to listeners that arrive later; the hold is bounded', async (t) => {
  const forwarded = [];
  const con = new Console({ hold: true, forward: { message: (m) => forwarded.push(m.data.message) } });
  con.push(Buffer.from('early 1\n{"type":"status","data":{"message":"m1"}}\nearly 3\n'));
  await new Promise((r) => setTimeout(r, 20));
  t.deepEqual(forwarded, [], 'nothing processed while nobody listens');
  const out = collect(con);
  t.deepEqual(out.lines, [], 'released on the next macrotask, not inside on()');
  await new Promise((r) => setImmediate(r));
  t.deepEqual(out.lines.map((l) => l.text), ['early 1', '{"type":"status","data":{"message":"m1"}}', 'early 3']);
  t.deepEqual(out.messages.map((m) => m.data.message), ['m1']);
  t.deepEqual(forwarded, ['m1']);

  const { HOLD_LIMIT } = lib('vm/console');
  const big = new Console({ hold: true, forward: { message: (m) => forwarded.push(m.data.message) } });
  big.push(Buffer.from('{"type":"status","data":{"message":"m2"}}\n'));
  big.push(Buffer.alloc(HOLD_LIMIT, 0x61));
  t.deepEqual(forwarded, ['m1', 'm2'], 'over the limit, output is processed without listeners');
});

test('line events carry what a terminal shows: no \\r, no escape sequences; the raw line and bytes stay available (#15)', async (t) => {
  const con = new Console();
  const out = collect(con);
  const rawBytes = [];
  con.raw.on('data', (d) => rawBytes.push(d));
  // Real console bytes: systemd's coloured status, a progress counter redrawn with \r, an OSC
  // window title, a cursor move, a CRLF line end.
  const bytes = Buffer.concat([
    Buffer.from('[  \x1b[0;32mOK\x1b[0m  ] Started \x1b[0;1;39mJournal Service\x1b[0m.\r\n'),
    Buffer.from('fetch  10%\rfetch  55%\rfetch 100%\r\n'),
    Buffer.from('\x1b]0;root@guest: ~\x07root@guest:~# \x1b[K\x1b[2Cls\r\n'),
    Buffer.from('abcdef\rxy\n'),
  ]);
  con.push(bytes);
  con.end();
  await new Promise((r) => setImmediate(r));
  t.deepEqual(out.lines.map((l) => l.text), ['[  OK  ] Started Journal Service.', 'fetch 100%', 'root@guest:~# ls', 'xycdef']);
  for (const l of out.lines) t.false(/[\r\x1b]/.test(l.text), JSON.stringify(l.text));
  t.is(out.lines[0].raw, '[  \x1b[0;32mOK\x1b[0m  ] Started \x1b[0;1;39mJournal Service\x1b[0m.');
  t.is(out.lines[1].raw, 'fetch  10%\rfetch  55%\rfetch 100%');
  t.is(out.lines[3].raw, 'abcdef\rxy');
  t.true(Buffer.concat(rawBytes).equals(bytes), 'console.raw has every byte as it came');
});
