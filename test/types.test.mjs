// The public surface's types (#15): events of VM, Console, Channel, QmpClient, Mount and FrameServer are typed by
// their event maps (a listener gets the right arguments, an unknown event does not compile) and
// PixelrtsError.code is the PixelrtsErrorCode union. Checked by compiling a user's file against
// dist/index.d.ts: each `@ts-expect-error` line must fail to compile, everything else must pass.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './helpers/prereq.mjs';

const USER_CODE = `
import * as px from '${path.join(repoRoot, 'dist', 'index')}';

declare const vm: px.VM;
declare const m: px.Mount;
declare const server: px.FrameServer;
declare const booted: px.BootedVm;

vm.on('exit', (exit) => { const code: number | null = exit.code; void code; });
vm.once('qmp-event', (ev) => { const name: string = ev.event; void name; });
vm.on('warning', (err) => { const code: px.PixelrtsErrorCode = err.code; void code; });
vm.off('unresponsive', (e) => { const ms: number = e.silentMs; void ms; });
booted.on('message', (msg) => { const type: string = msg.type; void type; });
vm.console.on('line', (text, info) => { const raw: string = info.raw; void text; void raw; });
m.on('unmount', (reason) => { const r: string = reason; void r; });
m.on('error', (err) => { const c: px.PixelrtsErrorCode = err.code; void c; });
server.on('connection', (c) => { const id: number = c.id; const peer: string = c.peer; void id; void peer; });
server.on('frame', (f) => { const w: number = f.width; void w; });
server.on('close', () => undefined);
vm.channel.on('line', (text) => { const s: string = text; void s; });
declare const qmp: px.QmpClient;
qmp.on('event', (ev) => { const name: string = ev.event; void name; });

// @ts-expect-error an event a VM does not have
vm.on('exitt', () => undefined);
// @ts-expect-error exit's argument is a VmExit, not a string
vm.on('exit', (exit: string) => exit);
// @ts-expect-error the reason of an unmount is a string
m.on('unmount', (reason: number) => reason);
// @ts-expect-error a FrameServer has no 'line' event
server.on('line', () => undefined);
// @ts-expect-error a heartbeat has no arguments
vm.channel.on('heartbeat', (beat: string) => beat);
// @ts-expect-error a code outside the union
const bad: px.PixelrtsErrorCode = 'ERR_PIXELRTS_NOPE';
void bad;
`;

test('events are typed by their maps and error codes by their union, for a user of the package', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-types-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'user.ts'), USER_CODE);
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'ES2022', '--module', 'commonjs',
    '--moduleResolution', 'node', '--types', 'node', '--typeRoots', path.join(repoRoot, 'node_modules', '@types'),
    '--skipLibCheck', path.join(dir, 'user.ts')], { encoding: 'utf8', timeout: 120_000 });
  t.is(r.status, 0, r.stdout + r.stderr);
});
