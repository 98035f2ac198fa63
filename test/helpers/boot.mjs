// Helpers for the boot tests: the demo container (built once, cached), CLI runs with their
// output collected line by line, and the "nothing left behind" checks (QEMU, mount, runtime
// directory).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { repoRoot } from './prereq.mjs';
import { processGone } from './qemu.mjs';
import { demoCacheDir, demoMissing } from './demo-image.mjs';
import { fuseMissing, mountsUnder } from './fuse.mjs';
import { guestShell } from './guest-shell.mjs';

const require = createRequire(import.meta.url);
export const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');

/** null when everything a real boot needs is here, else the reason. */
export function bootMissing() {
  return demoMissing() ?? fuseMissing();
}

let demo;
/** The demo container (kernel + initrd segments, cmdline), built once in the tests' shared cache. */
export function demoContainer() {
  demo ??= require('../../dist/demo/image.js').buildDemoContainer({ cacheDir: demoCacheDir }).then((d) => d.containerPath);
  return demo;
}

/** A fresh XDG_RUNTIME_DIR for one test (so the registry and runtime dirs are the test's own). */
export function runtimeEnv(t) {
  const xdg = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-boottest-'));
  t.teardown(() => fs.rmSync(xdg, { recursive: true, force: true }));
  return { xdg, root: path.join(xdg, 'pixelrts'), env: { XDG_RUNTIME_DIR: xdg } };
}

/** The entries of the runtime root (the VMs' directories still there). */
export function runtimeDirs(root) {
  try {
    return fs.readdirSync(root);
  } catch {
    return [];
  }
}

/**
 * Polls until no QEMU (`pids`), no mount and no runtime directory under `root` is left, for up
 * to `ms`. Resolves with what is still there (empty when clean).
 */
export async function leftovers(root, pids, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = [
      ...pids.filter((p) => p && !processGone(p)).map((p) => `process ${p}`),
      ...mountsUnder(root).map((m) => `mount ${m}`),
      ...runtimeDirs(root).map((d) => `directory ${path.join(root, d)}`),
    ];
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Spawns `pixelrts <args>` and collects its output. `waitLine(re)` resolves with the first
 * stdout line matching; `done` resolves with {code, signal, stdout, stderr}. Killed (SIGKILL)
 * when the test ends, if still running.
 */
export function startCli(t, args, env = {}) {
  const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '', lines: [] };
  const waiters = [];
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (d) => {
    out.stdout += d;
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop();
    for (const line of parts) {
      out.lines.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d) => { out.stderr += d; });
  const done = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, ...out })));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await done;
  });
  const waitLine = (re, ms = 60_000) => new Promise((resolve, reject) => {
    const hit = out.lines.find((l) => re.test(l));
    if (hit !== undefined) return resolve(hit);
    const timer = setTimeout(() => reject(new Error(`no stdout line matching ${re} within ${ms} ms; stdout:\n${out.stdout}\nstderr:\n${out.stderr}`)), ms);
    waiters.push({ re, resolve: (l) => { clearTimeout(timer); resolve(l); } });
    done.then(() => { clearTimeout(timer); reject(new Error(`pixelrts exited before a line matching ${re}; stdout:\n${out.stdout}\nstderr:\n${out.stderr}`)); });
  });
  return { child, done, waitLine, out };
}

/** Parses NDJSON text; throws naming the line that is not JSON. */
export function parseNdjson(text) {
  return text.split('\n').filter(Boolean).map((line, i) => {
    try {
      return JSON.parse(line);
    } catch (err) {
      throw new Error(`line ${i + 1} is not JSON (${err.message}): ${line}`);
    }
  });
}

/** Boots the demo container with `options` (TCG) and waits for its shell; `sh` runs commands in it. Killed when the test ends. */
export async function bootShell(t, options) {
  const { boot } = require('../../dist/boot/boot.js');
  const vm = await boot(await demoContainer(), { accel: 'tcg', ...options });
  t.teardown(async () => { if (vm.running) await vm.kill(); await vm.exited; });
  await vm.console.waitFor(/pixelrts-demo# /, { timeout: 90_000 });
  return { vm, sh: guestShell(vm) };
}

/** Pids of the processes whose environment has XDG_RUNTIME_DIR=`xdg` (a test's CLI and its children). */
export function processesOf(xdg) {
  const pids = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`XDG_RUNTIME_DIR=${xdg}`)) pids.push(Number(pid));
    } catch { /* gone, or not ours to read */ }
  }
  return pids.filter((p) => p !== process.pid);
}

/** Waits up to `ms` for every process of `xdg` to end and the runtime root `root` to empty; fails the test on what is left. */
export async function nothingLeft(t, xdg, root, ms) {
  const deadline = Date.now() + ms;
  while (processesOf(xdg).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.deepEqual(processesOf(xdg).map((p) => `${p}: ${fs.readFileSync(`/proc/${p}/cmdline`, 'latin1').replace(/\0/g, ' ')}`), [], 'no process left');
  t.deepEqual(await leftovers(root, [], Math.max(0, deadline - Date.now())), []);
}
