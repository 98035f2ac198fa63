// Whole machines (#13): a Debian root filesystem packed as kernel + initrd + disk boots to a
// login prompt; its changes are discarded by default, kept with --persist, and committed into a
// new container that boots with them; an ISO and a UEFI disk boot through the firmware; bad
// input is refused before QEMU starts.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { commandMissing, needs } from '../helpers/prereq.mjs';
import { bootMissing, cli, demoContainer, leftovers, parseNdjson, runtimeEnv } from '../helpers/boot.mjs';
import { guestShell } from '../helpers/guest-shell.mjs';
import { demoImage } from '../helpers/demo-image.mjs';
import { arm64KernelContainer, arm64Missing, debianContainer, debianMissing, firmwareImagesMissing, isoContainer, uefiContainer } from '../helpers/machine-images.mjs';

const require = createRequire(import.meta.url);
const { boot } = require('../../dist/boot/boot.js');
const { writeContainer } = require('../../dist/codec/writer.js');

const dtest = needs(test, debianMissing());
const ftest = needs(test, firmwareImagesMissing());

function scratch(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-disk-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Boots `file` until the marker unit has spoken and a login prompt is up, then shuts the guest
 * down gracefully (ACPI power button; systemd powers off). Resolves with what the unit said.
 */
async function bootToLogin(t, file, options = {}) {
  const vm = await boot(file, { accel: 'tcg', memory: '512M', ...options });
  t.teardown(async () => { if (vm.running) await vm.kill(); await vm.exited; });
  const marker = await vm.console.waitFor(/pixelrts-marker: (first|again)/, { timeout: 150_000 });
  await vm.console.waitFor(/login: /, { timeout: 60_000 });
  return { vm, marker: /(first|again)/.exec(marker)[1] };
}

/** The demo guest with a blank 1 MiB disk (/dev/vda in the guest), written into `dir`. */
async function demoDiskContainer(dir) {
  const demo = await demoImage();
  const blank = path.join(dir, 'blank.img');
  fs.writeFileSync(blank, Buffer.alloc(1 << 20));
  const file = path.join(dir, 'demo-disk.rts.png');
  await writeContainer(file, [
    { name: 'kernel', type: 'kernel', path: demo.kernelPath },
    { name: 'initrd', type: 'initrd', path: demo.initrdPath },
    { name: 'disk', type: 'disk', path: blank },
  ], { name: 'demo-disk', type: 'boot-bundle', cmdline: demo.cmdline });
  return file;
}

async function shutDown(t, vm) {
  await vm.shutdown({ timeout: 60_000 });
  const exit = await vm.exited;
  t.true(exit.poweredOff, `the guest powered off (${exit.reason})`);
  t.deepEqual(exit.teardownErrors, []);
}

dtest.serial('a Debian root filesystem boots to a login prompt; its changes are gone at the next boot', async (t) => {
  t.timeout(10 * 60_000);
  const file = await debianContainer();
  const first = await bootToLogin(t, file);
  t.is(first.marker, 'first');
  t.is(first.vm.disks.length, 1);
  t.false(first.vm.disks[0].persistent);
  t.true(first.vm.disks[0].overlay.startsWith(first.vm.runtimeDir), 'the overlay lives in the runtime directory');
  await shutDown(t, first.vm);
  t.false(fs.existsSync(first.vm.disks[0].overlay), 'and goes with it');
  const second = await bootToLogin(t, file);
  t.is(second.marker, 'first', 'the first boot\'s change was discarded');
  await shutDown(t, second.vm);
});

dtest.serial('--persist keeps the changes; commit (running VM and overlay file) makes a container that boots with them', async (t) => {
  t.timeout(12 * 60_000);
  const file = await debianContainer();
  const dir = scratch(t);
  const overlay = path.join(dir, 'changes.qcow2');
  const { root, env } = runtimeEnv(t);

  // The CLI, first boot: the overlay is made, the unit runs for the first time.
  const r = spawnSync(process.execPath, [cli, 'boot', file, '--accel', 'tcg', '--persist', overlay, '--append', 'pixelrts.poweroff', '--json', '--timeout', '240'],
    { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000, input: '' });
  t.is(r.status, 0, r.stderr);
  const events = parseNdjson(r.stdout);
  t.true(events.some((e) => e.type === 'console' && /pixelrts-marker: first/.test(e.line)), r.stderr);
  t.is(fs.statSync(overlay).mode & 0o777, 0o600);
  t.deepEqual(await leftovers(root, [], 5000), []);
  t.true(fs.existsSync(overlay), 'the --persist overlay outlives the VM');

  // Second boot on the same overlay: the change is there. Committed while the VM runs.
  const again = await bootToLogin(t, file, { persist: [overlay] });
  t.is(again.marker, 'again');
  t.true(again.vm.disks[0].reused);
  const committed = path.join(dir, 'committed.rts.png');
  await again.vm.commit(committed);
  t.like(await again.vm.qmp.execute('query-status'), { running: true }, 'the guest runs again after the commit');
  await shutDown(t, again.vm);

  // The same overlay committed from the file, with the CLI: the same disk bytes.
  const fromFile = path.join(dir, 'from-file.rts.png');
  const c = spawnSync(process.execPath, [cli, 'commit', overlay, '-o', fromFile], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  t.is(c.status, 0, c.stderr);
  t.regex(c.stdout, /wrote .*from-file\.rts\.png .*disk "disk"/);
  // (Not the same bytes as the running VM's commit: the guest went on writing until it powered off.)
  const diskHash = (f) => JSON.parse(fs.readFileSync(`${f}.meta.json`, 'utf8')).offsets.disk.sha256;
  t.not(diskHash(committed), diskHash(file), 'the committed disk holds the changes');
  t.not(diskHash(fromFile), diskHash(file));
  const v = spawnSync(process.execPath, [cli, 'verify', fromFile], { encoding: 'utf8' });
  t.is(v.status, 0, v.stderr);
  const meta = JSON.parse(fs.readFileSync(`${committed}.meta.json`, 'utf8'));
  t.is(meta.cmdline, 'console=ttyS0 root=/dev/vda rw quiet', 'the metadata is carried over');

  // The committed container boots with the change, without the overlay.
  const reborn = await bootToLogin(t, committed);
  t.is(reborn.marker, 'again');
  await shutDown(t, reborn.vm);

  // An overlay made for another disk is refused before QEMU starts.
  const err = await t.throwsAsync(boot(await uefiContainer(), { accel: 'tcg', persist: [overlay] }));
  t.is(err.code, 'ERR_PIXELRTS_OVERLAY');
  t.regex(err.message, /made for disk "disk" of .*debian.*not for disk "disk" of this container/);
});

ftest.serial('an ISO boots through SeaBIOS and a GPT disk with an EFI System Partition through OVMF, each chosen from the image', async (t) => {
  const { root, env } = runtimeEnv(t);
  for (const [file, firmware] of [[await isoContainer(), /BIOS \(SeaBIOS\): an ISO/], [await uefiContainer(), /UEFI \(OVMF\): the disk has an EFI System Partition/]]) {
    const r = spawnSync(process.execPath, [cli, 'boot', file, '--accel', 'tcg', '--json', '--timeout', '120'],
      { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 180_000 });
    t.is(r.status, 0, r.stderr);
    const events = parseNdjson(r.stdout);
    const chosen = events.find((e) => e.type === 'stage' && e.stage === 'firmware');
    t.regex(chosen?.detail ?? '', firmware);
    t.true(events.some((e) => e.type === 'console' && e.line.includes('pixelrts-demo: init reached')), `${path.basename(file)}: ${r.stdout.slice(-2000)}`);
    t.like(events.at(-1), { type: 'exit', exitCode: 0, poweredOff: true });
  }
  t.deepEqual(await leftovers(root, [], 2000), []);
});

ftest.serial('bad input: an ISO packed as the kernel, an unknown --firmware, more --persist files than disks', async (t) => {
  const dir = scratch(t);
  const { root, env } = runtimeEnv(t);
  const isoBytes = path.join(dir, 'demo.iso');
  // The ISO of isoContainer(), extracted, packed as the kernel.
  const x = spawnSync(process.execPath, [cli, 'extract', await isoContainer(), '--segment', 'cdrom', '-o', isoBytes], { encoding: 'utf8' });
  t.is(x.status, 0, x.stderr);
  const wrong = path.join(dir, 'wrong.rts.png');
  await writeContainer(wrong, [{ name: 'kernel', type: 'kernel', path: isoBytes }], { name: 'wrong', type: 'boot-bundle' });
  const run = (...args) => spawnSync(process.execPath, [cli, 'boot', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  const r = run(wrong, '--accel', 'tcg');
  t.is(r.status, 1);
  t.regex(r.stderr, /segment "kernel" of .*wrong\.rts\.png is not a kernel QEMU can boot: it looks like an ISO 9660 image \(a CD-ROM\).*--segment iso=/);
  const f = run(await uefiContainer(), '--firmware', 'coreboot');
  t.is(f.status, 2);
  t.regex(f.stderr, /--firmware: expected one of auto, bios, uefi, found 'coreboot'/);
  // A usage mistake found once the container is open: exit 2, like every ERR_PIXELRTS_USAGE.
  const p = run(await demoContainer(), '--accel', 'tcg', '--persist', path.join(dir, 'x.qcow2'));
  t.is(p.status, 2);
  t.regex(p.stderr, /--persist names 1 overlay files but .* holds 0 disks: give one per disk, in order/);
  t.deepEqual(await leftovers(root, [], 2000), []);
});

needs(test, bootMissing() ?? commandMissing('qemu-img', 'qemu-utils')).serial('snapshots: save, change the disk, load: the change is gone; list and delete; a VM without a disk says why', async (t) => {
  t.timeout(5 * 60_000);
  const dir = scratch(t);
  const file = await demoDiskContainer(dir);
  const vm = await boot(file, { accel: 'tcg' });
  t.teardown(async () => { if (vm.running) await vm.kill(); await vm.exited; });
  await vm.console.waitFor(/pixelrts-demo# /, { timeout: 60_000 });
  const sh = guestShell(vm);
  const read = async () => /(BEFORE|AFTER)/.exec(await sh('head -c 6 /dev/vda; echo'))?.[1];
  await sh("printf BEFORE | dd of=/dev/vda conv=notrunc 2>/dev/null; sync");
  t.is(await read(), 'BEFORE');
  await vm.snapshots.save('one');
  await sh("printf AFTER_ | dd of=/dev/vda conv=notrunc 2>/dev/null; sync");
  t.is(await read(), 'AFTER');
  await vm.snapshots.load('one');
  t.is(await read(), 'BEFORE', 'the change made after the snapshot is gone');
  const list = await vm.snapshots.list();
  t.deepEqual(list.map((s) => s.name), ['one']);
  t.true(list[0].vmStateSize > 0);
  const missing = await t.throwsAsync(vm.snapshots.load('two'));
  t.is(missing.code, 'ERR_PIXELRTS_SNAPSHOT');
  t.regex(missing.message, /has no snapshot 'two'/);
  await vm.snapshots.delete('one');
  t.deepEqual(await vm.snapshots.list(), []);
  await vm.kill();

  const plain = await boot(await demoContainer(), { accel: 'tcg' });
  t.teardown(async () => { if (plain.running) await plain.kill(); await plain.exited; });
  const err = await t.throwsAsync(plain.snapshots.save('x'));
  t.is(err.code, 'ERR_PIXELRTS_SNAPSHOT');
  t.regex(err.message, /has no disk to keep snapshots in/);
});

needs(test, bootMissing() ?? commandMissing('mkfs.vfat', 'dosfstools') ?? commandMissing('mcopy', 'mtools')).serial('--forward reaches a port in the guest; --cloud-init gives it a NoCloud seed (cidata) it can see', async (t) => {
  const net = await import('node:net');
  const free = await new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); }); });
  const userData = '#cloud-config\nhostname: pixelrts-seeded\n';
  const vm = await boot(await demoContainer(), { accel: 'tcg', forward: [{ hostPort: free, guestPort: 7777 }], cloudInit: userData });
  t.teardown(async () => { if (vm.running) await vm.kill(); await vm.exited; });
  t.regex(vm.commandLine.join(' '), new RegExp(`restrict=on.*hostfwd=tcp:127\\.0\\.0\\.1:${free}-:7777`));
  await vm.console.waitFor(/pixelrts-demo# /, { timeout: 60_000 });
  const sh = guestShell(vm);
  // The seed is the guest's only disk, /dev/vda: a FAT volume labelled CIDATA (boot sector, offset 43).
  t.regex(await sh('dd if=/dev/vda bs=1 skip=43 count=19 2>/dev/null; echo'), /CIDATA {5}FAT12/);
  // The seed's files, read on the host: what cloud-init in a cloud image would find.
  const seed = path.join(vm.runtimeDir, 'cidata.img');
  t.is(spawnSync('mtype', ['-i', seed, '::/user-data'], { encoding: 'utf8' }).stdout, userData);
  t.regex(spawnSync('mtype', ['-i', seed, '::/meta-data'], { encoding: 'utf8' }).stdout, /^instance-id: pixelrts-[0-9a-f]{12}\nlocal-hostname: demo\n$/);
  await sh('(nc -l -p 7777 -e /bin/echo FORWARDED &)');
  const reply = await new Promise((resolve, reject) => {
    const attempt = (n) => {
      const sock = net.connect(free, '127.0.0.1');
      let got = '';
      sock.on('data', (d) => { got += d; });
      sock.on('close', () => (got ? resolve(got) : n > 0 ? setTimeout(() => attempt(n - 1), 300) : reject(new Error('nothing came back'))));
      sock.on('error', () => undefined);
    };
    attempt(20);
  });
  t.is(reply.trim(), 'FORWARDED');
  const { sshKeyUserData } = require('../../dist/boot/cloud-init.js');
  t.is(sshKeyUserData('ssh-ed25519 AAAAC3Nza me@host\n'), '#cloud-config\nssh_authorized_keys:\n  - "ssh-ed25519 AAAAC3Nza me@host"\n');
  t.throws(() => sshKeyUserData('-----BEGIN OPENSSH PRIVATE KEY-----\n'), { code: 'ERR_PIXELRTS_CLOUD_INIT', message: /give the \.pub file/ });
  const bad = await t.throwsAsync(boot(await demoContainer(), { accel: 'tcg', cloudInit: 'hostname: x\n' }));
  t.is(bad.code, 'ERR_PIXELRTS_CLOUD_INIT');
  t.regex(bad.message, /does not start with "#cloud-config"/);
});

needs(test, arm64Missing()).serial('an arm64 kernel without --arch boots on qemu-system-aarch64 because its header says so; a contradicting --arch is refused', async (t) => {
  const file = await arm64KernelContainer();
  const vm = await boot(file, { accel: 'tcg' });
  t.teardown(async () => { if (vm.running) await vm.kill(); await vm.exited; });
  t.is(vm.arch, 'aarch64');
  t.true(vm.commandLine.some((a) => a.endsWith('qemu-system-aarch64')));
  t.regex(vm.cmdline, /console=ttyAMA0/);
  await vm.console.waitFor(/Booting Linux on physical CPU/, { timeout: 60_000 });
  await vm.kill();
  const err = await t.throwsAsync(boot(file, { accel: 'tcg', arch: 'x86_64' }));
  t.is(err.code, 'ERR_PIXELRTS_ARCH');
  t.regex(err.message, /the kernel "kernel" of .* is for aarch64, but --arch x86_64 says x86_64: boot it with --arch aarch64/);
});

needs(test, bootMissing() ?? commandMissing('qemu-img', 'qemu-utils')).serial('pixelrts snapshot save, list and delete on a detached VM, through its control socket', async (t) => {
  const dir = scratch(t);
  const { root, env } = runtimeEnv(t);
  const file = await demoDiskContainer(dir);
  const run = (...args) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  const started = run('boot', file, '--detach', '--accel', 'tcg');
  t.is(started.status, 0, started.stderr);
  const id = started.stdout.trim();
  t.teardown(() => run('stop', '--force', id));
  const saved = run('snapshot', 'save', id, 'first');
  t.is(saved.status, 0, saved.stderr);
  t.regex(saved.stderr, new RegExp(`saved snapshot 'first' of ${id}`));
  const list = run('snapshot', 'list', id, '--json');
  t.is(list.status, 0, list.stderr);
  t.like(JSON.parse(list.stdout.trim()), { name: 'first' });
  t.regex(run('snapshot', 'list', id).stdout, /^NAME\s+STATE\s+TAKEN\s+GUEST CLOCK\nfirst\s/);
  const bad = run('snapshot', 'save', id, '../x');
  t.is(bad.status, 1);
  t.regex(bad.stderr, /snapshot name '\.\.\/x': use 1–64 letters/);
  t.is(run('snapshot', 'delete', id, 'first').status, 0);
  t.is(run('snapshot', 'list', id, '--json').stdout, '');
  t.is(run('stop', id).status, 0);
  t.deepEqual(await leftovers(root, [], 5000), []);
});
