// The guest's screen and input (#14, first part): screenshots through QMP screendump, keys
// through QEMU's keyboard queue, clicks through the absolute tablet, from the API and the CLI,
// against the demo guest booted with a screen (its banner and a shell on tty1, and a watcher
// that reports the tablet's clicks on the serial console).
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { needs } from '../helpers/prereq.mjs';
import { bootMissing, cli, demoContainer, leftovers, runtimeEnv } from '../helpers/boot.mjs';
import { consoleLine, screenUntil, inkedPixels } from '../helpers/screen.mjs';
import { nalTypes } from '../helpers/hxfr-client.mjs';

const require = createRequire(import.meta.url);
const px = require('../../dist/index.js');
const { keysForCombo, keysForText } = require('../../dist/screen/keymap.js');
const btest = needs(test, bootMissing());

const ABS_MAX = 0x7fff;

const abs = (v, size) => Math.round((v * ABS_MAX) / (size - 1));

test('key combinations and text map to QEMU key codes; what no key types is named, nothing sent', (t) => {
  t.deepEqual(keysForCombo('ctrl-alt-del'), ['ctrl', 'alt', 'delete']);
  t.deepEqual(keysForCombo('Shift+Tab'), ['shift', 'tab']);
  t.deepEqual(keysForCombo('f12'), ['f12']);
  t.deepEqual(keysForText('aZ_ \n'), [
    { qcode: 'a', shift: false }, { qcode: 'z', shift: true }, { qcode: 'minus', shift: true },
    { qcode: 'spc', shift: false }, { qcode: 'ret', shift: false }]);
  const err = t.throws(() => keysForText('naïve café €'));
  t.is(err.code, 'ERR_PIXELRTS_INPUT');
  t.regex(err.message, /"ï" \(U\+00EF\), "é" \(U\+00E9\), "€" \(U\+20AC\)/);
  t.is(t.throws(() => keysForCombo('ctrl-hyper')).code, 'ERR_PIXELRTS_INPUT');
  t.is(t.throws(() => keysForCombo('')).code, 'ERR_PIXELRTS_INPUT');
});

btest.serial('API: a screenshot shows the banner, typed keys reach the shell on tty1, clicks land where they were aimed', async (t) => {
  const vm = await px.boot(await demoContainer(), { accel: 'tcg', screen: true });
  t.teardown(async () => { if (vm.running) await vm.kill(); await vm.exited; });
  const lines = [];
  vm.console.on('line', (l) => lines.push(l));
  await vm.ready({ timeout: 120_000 });

  // VGA text mode, 80×25 cells of 9×16 pixels. The firmware's two lines ink about 1,450
  // pixels; init clears the screen and draws the banner and a prompt, about 6,300.
  const png = await screenUntil(vm, (p) => inkedPixels(p) > 4000);
  const size = await vm.screen.size();
  t.deepEqual(size, { width: png.readUInt32BE(16), height: png.readUInt32BE(20) });
  t.deepEqual(size, { width: 720, height: 400 });

  // The screen as H.264 for scripts: an IDR (SPS, PPS, IDR slice) first, then what changes.
  const frames = vm.screen.frames();
  const first = (await frames.next()).value;
  t.true(first.keyframe);
  t.deepEqual(nalTypes(first.au).slice(0, 3), [7, 8, 5]);
  await vm.input.type('echo frames\n');
  const next = (await frames.next()).value;
  t.true(next.au.length > 0);
  await frames.return();

  // The command is typed on tty1's keyboard; its output goes to the serial console, so the
  // line arriving there proves the keys (shifted ones included) reached the guest's shell.
  await vm.input.type('echo Typed:OK_1 >/dev/ttyS0\n');
  t.is(await consoleLine(vm, lines, (l) => l.trim() === 'Typed:OK_1'), 'Typed:OK_1');
  // A combination: ctrl-u erases the line typed so far, so only the second word runs.
  await vm.input.type('echo wrong');
  await vm.input.key('ctrl-u');
  await vm.input.type('echo Erased:OK >/dev/ttyS0\n');
  t.is((await consoleLine(vm, lines, (l) => l.trim().startsWith('Erased:') || l.includes('wrong'))).trim(), 'Erased:OK');

  await vm.input.click(360, 200);
  t.is(await consoleLine(vm, lines, (l) => l.startsWith('pixelrts-demo: click left')),
    `pixelrts-demo: click left at ${abs(360, 720)},${abs(200, 400)}`);
  await vm.input.click(719, 0, { button: 'right' });
  t.is(await consoleLine(vm, lines, (l) => l.startsWith('pixelrts-demo: click right')),
    `pixelrts-demo: click right at ${ABS_MAX},0`);
  const off = await t.throwsAsync(vm.input.click(720, 10));
  t.is(off.code, 'ERR_PIXELRTS_INPUT');
  t.regex(off.message, /x = 720 is off the screen, which is 720×400/);

  t.true((await vm.shutdown({ timeout: 10_000 })).poweredOff);
});

btest.serial('a VM booted without a screen says so and how to get one', async (t) => {
  const vm = await px.boot(await demoContainer(), { accel: 'tcg' });
  t.teardown(async () => { if (vm.running) await vm.kill(); await vm.exited; });
  const err = await t.throwsAsync(vm.screen.screenshot());
  t.is(err.code, 'ERR_PIXELRTS_NO_DISPLAY');
  t.regex(err.message, /--screen/);
  const noFrames = await t.throwsAsync(vm.screen.frames().next());
  t.is(noFrames.code, 'ERR_PIXELRTS_NO_DISPLAY');
  t.regex(noFrames.message, /screen: true/);
  t.is(fs.readdirSync(vm.runtimeDir).filter((f) => f.startsWith('screendump-')).length, 0);
  await vm.kill();
});

btest.serial('CLI: screenshot, type, key and click on a detached VM', async (t) => {
  const { root, env } = runtimeEnv(t);
  const run = (...args) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-screen-')), 'serial.log');
  t.teardown(() => fs.rmSync(path.dirname(log), { recursive: true, force: true }));
  const started = run('boot', await demoContainer(), '--screen', '--detach', '--accel', 'tcg', '--serial-log', log);
  t.is(started.status, 0, started.stderr);
  const id = started.stdout.trim();
  t.teardown(() => run('stop', '--force', id));
  const r = run('send', id, '{"type":"command","data":{"message":"ping"}}', '--wait', '--timeout', '120000');
  t.is(r.status, 0, r.stderr);

  const out = path.join(path.dirname(log), 'screen.png');
  const shot = run('screenshot', id, out, '--json');
  t.is(shot.status, 0, shot.stderr);
  t.like(JSON.parse(shot.stdout), { type: 'screenshot', id, file: out, width: 720, height: 400 });
  t.is(fs.readFileSync(out).readUInt32BE(16), 720);

  const waitLog = async (re) => {
    for (let i = 0; i < 240; i++) {
      const m = re.exec(fs.readFileSync(log, 'utf8'));
      if (m) return m[0];
      await new Promise((res) => setTimeout(res, 250));
    }
    return fs.readFileSync(log, 'utf8').slice(-800);
  };
  t.is(run('type', id, 'echo Cli:Typed >/dev/ttyS0', '--enter').status, 0);
  t.is(await waitLog(/Cli:Typed(?=\r?$)/m), 'Cli:Typed');
  t.is(run('click', id, '0', '399', '--button', 'middle').status, 0);
  t.is(await waitLog(/pixelrts-demo: click middle at [^\r\n]*/), `pixelrts-demo: click middle at 0,${ABS_MAX}`);

  const bad = run('type', id, 'über');
  t.is(bad.status, 1);
  t.regex(bad.stderr, /cannot type "ü" \(U\+00FC\)/);
  const badKey = run('key', id, 'ctrl-nope');
  t.is(badKey.status, 1);
  t.regex(badKey.stderr, /unknown key "nope"/);
  // Typed without Enter, the command runs when `key enter` presses it.
  t.is(run('type', id, 'echo Key:Enter >/dev/ttyS0').status, 0);
  const pressed = run('key', id, 'enter', '--json');
  t.is(pressed.status, 0, pressed.stderr);
  t.like(JSON.parse(pressed.stdout), { type: 'key', id, combo: 'enter' });
  t.is(await waitLog(/Key:Enter(?=\r?$)/m), 'Key:Enter');

  t.is(run('stop', id).status, 0);
  t.deepEqual(await leftovers(root, [], 5000), []);
});
