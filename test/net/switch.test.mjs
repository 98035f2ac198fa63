// The native switch alone (native/net/), driven with plain Unix datagram sockets: Node has none,
// so a few lines of Python play the two VMs' ends. Malformed datagrams are dropped and counted,
// the thread lives on, broadcast floods, a learnt unicast goes to one port, and close() leaves
// no socket or lock file behind.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { commandMissing, needs } from '../helpers/prereq.mjs';

const require = createRequire(import.meta.url);
const { native } = require('../../dist/native.js');
const { networkAddress, checkNetworkName, MAX_VMS } = require('../../dist/net/addressing.js');

const ptest = needs(test, commandMissing('python3', 'python3'));

// q1 and q2 are the VMs' ends, q3 a stranger; each frame is sent from one end to its port.
const PEERS = String.raw`
import json, os, socket, sys, time
d = sys.argv[1]
def end(name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    p = os.path.join(d, name)
    if os.path.exists(p): os.unlink(p)
    s.bind(p); s.settimeout(0.5)
    return s
q1, q2, q3 = end('q1.sock'), end('q2.sock'), end('q3.sock')
s1, s2 = os.path.join(d, 's1.sock'), os.path.join(d, 's2.sock')
a = bytes.fromhex('020000000001'); b = bytes.fromhex('020000000002'); bc = b'\xff' * 6
q1.sendto(b'short', s1)                                   # runt
q1.sendto(bc + a + b'\x08\x00' + b'x' * 2000, s1)         # oversized
q1.sendto(bc + a + b'\x08\x00' + b'x' * 60000, s1)        # far oversized
q1.sendto(bc + bytes.fromhex('010000000009') + b'\x08\x00' + b'x' * 46, s1)  # group source
q1.sendto(bc + bytes(6) + b'\x08\x00' + b'x' * 46, s1)   # zero source
q3.sendto(bc + a + b'\x08\x00' + b'x' * 46, s1)           # not port 1's peer
q1.sendto(bc + a + b'\x08\x00' + b'hello-all' + b'x' * 37, s1)   # broadcast: to port 2
q2.sendto(a + b + b'\x08\x00' + b'hello-a' + b'x' * 39, s2)      # unicast to a, learnt on port 1
q1.sendto(a + a + b'\x08\x00' + b'to-self' + b'x' * 39, s1)      # a is on port 1: filtered
def drain(s):
    got = []
    while True:
        try: got.append(s.recv(65536).hex())
        except socket.timeout: return got
print(json.dumps({'q1': drain(q1), 'q2': drain(q2), 'q3': drain(q3)}))
`;

test('addresses follow from the network name and the index', (t) => {
  const a = networkAddress('lab', 1);
  t.regex(a.ip, /^10\.\d+\.\d+\.2$/);
  t.is(a.subnet, a.ip.replace(/\.2$/, '.0/24'));
  const [, x, y] = a.ip.split('.').map(Number);
  t.is(a.mac, `52:54:0a:${[x, y, 2].map((n) => n.toString(16).padStart(2, '0')).join(':')}`);
  t.deepEqual(networkAddress('lab', 1), a, 'the same every time');
  t.is(networkAddress('lab', MAX_VMS).ip.split('.')[3], '254');
  t.throws(() => networkAddress('lab', MAX_VMS + 1), { code: 'ERR_PIXELRTS_USAGE' });
  t.throws(() => checkNetworkName('../x'), { code: 'ERR_PIXELRTS_USAGE' });
  t.throws(() => checkNetworkName('a'.repeat(33)), { code: 'ERR_PIXELRTS_USAGE' });
  t.is(checkNetworkName('lab-1_b'), 'lab-1_b');
});

ptest('the switch drops malformed datagrams, floods broadcast, forwards learnt unicast, and leaves nothing', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-switch-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const { EthernetSwitch } = native();
  const sw = new EthernetSwitch(path.join(dir, 'lock'));
  t.teardown(() => sw.close());
  t.throws(() => new EthernetSwitch(path.join(dir, 'lock')), { code: 'ERR_PIXELRTS_NET_BUSY' }, 'one switch per network');
  sw.addPort(1, path.join(dir, 's1.sock'), path.join(dir, 'q1.sock'));
  sw.addPort(2, path.join(dir, 's2.sock'), path.join(dir, 'q2.sock'));
  t.throws(() => sw.addPort(2, path.join(dir, 's2.sock'), path.join(dir, 'q9.sock')), { code: 'ERR_PIXELRTS_NET_PORT' });
  t.true(fs.existsSync(path.join(dir, 's2.sock')), 'a refused port leaves the live one\'s socket alone');
  t.throws(() => sw.addPort(3, path.join(dir, 'x'.repeat(120)), path.join(dir, 'q3.sock')), { code: 'ERR_PIXELRTS_NET_PORT', message: /longer than a Unix socket address/ });

  const run = spawnSync('python3', ['-c', PEERS, dir], { encoding: 'utf8' });
  t.is(run.status, 0, run.stderr);
  const got = JSON.parse(run.stdout);
  const text = (hex) => Buffer.from(hex, 'hex').subarray(14).toString('latin1');
  t.deepEqual(got.q2.map(text).map((s) => s.slice(0, 9)), ['hello-all'], 'port 2 got the broadcast only');
  t.deepEqual(got.q1.map(text).map((s) => s.slice(0, 7)), ['hello-a'], 'port 1 got the unicast only');
  t.deepEqual(got.q3, [], 'nothing reaches a socket that is no port');

  const stats = sw.stats();
  t.like(stats, { runt: 1, oversized: 2, badSource: 2, foreign: 1, flooded: 1, forwarded: 1, filtered: 1, learnt: 2 });
  t.like(stats.ports['1'], { rxFrames: 2, txFrames: 1 });
  t.like(stats.ports['2'], { rxFrames: 1, txFrames: 1 });

  t.true(sw.removePort(2));
  t.false(sw.removePort(2));
  t.false(fs.existsSync(path.join(dir, 's2.sock')));
  sw.close();
  t.deepEqual(fs.readdirSync(dir).filter((n) => /^s\d|^lock$/.test(n)), [], 'no switch socket or lock file left');
  const again = new EthernetSwitch(path.join(dir, 'lock'));
  again.close();
  t.pass('the lock is free once the switch is closed and gone');
});
