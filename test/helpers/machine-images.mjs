// Whole-machine guests for the disk, ISO and UEFI boot tests, built from Debian packages and
// cached beside the demo (node_modules/.cache/pixelrts-test):
//   - a Debian bookworm root filesystem (mmdebstrap minbase + systemd, its own kernel and
//     initrd), an ext4 image made with mkfs.ext4 -d (no loop mount), packed as kernel + initrd
//     + disk. A unit prints `pixelrts-marker: first` on the console the first time it runs on a
//     disk and `pixelrts-marker: again` after, so a test sees whether changes were kept (and
//     powers the guest off with `pixelrts.poweroff` on the kernel command line);
//   - an ISO (xorriso + ISOLINUX, console on the serial port) that boots the demo guest;
//   - a GPT disk whose EFI System Partition holds a unified kernel image of the demo guest
//     (systemd's EFI stub + kernel + initrd + command line, joined with objcopy).
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { commandMissing } from './prereq.mjs';
import { demoCacheDir, demoImage } from './demo-image.mjs';
import { bootMissing } from './boot.mjs';

const require = createRequire(import.meta.url);
const { writeContainer } = require('../../dist/codec/writer.js');

/** The demo's command line for firmware boots: serial console, print and power off. */
const ONESHOT = 'console=ttyS0 quiet panic=-1 no_timer_check pixelrts.demo=oneshot';

const MARKER_SCRIPT = `#!/bin/sh
# pixelrts test marker: says whether this disk ran the unit before, then remembers it.
if [ -e /var/lib/pixelrts-marker ]; then state=again; else state=first; fi
date >/var/lib/pixelrts-marker
sync
echo "pixelrts-marker: $state" >/dev/console
# pixelrts.poweroff on the kernel command line: power off once said (a boot that ends itself).
if grep -qw pixelrts.poweroff /proc/cmdline; then systemctl poweroff --no-block; fi
`;
const MARKER_UNIT = `[Unit]
Description=pixelrts test marker

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/pixelrts-marker

[Install]
WantedBy=multi-user.target
`;
const DEBIAN_CMDLINE = 'console=ttyS0 root=/dev/vda rw quiet';
const DEBIAN_PACKAGES = ['systemd-sysv', 'udev', 'dbus', 'linux-image-cloud-amd64'];

/** null when the Debian guest can be built and booted here, else the reason. */
export function debianMissing() {
  if (process.getuid?.() !== 0) return 'building a Debian root filesystem with mmdebstrap into a directory needs root';
  return bootMissing() ?? commandMissing('mmdebstrap', 'mmdebstrap') ?? commandMissing('mkfs.ext4', 'e2fsprogs') ??
    commandMissing('qemu-img', 'qemu-utils');
}

/** null when the ISO and UEFI images can be built and booted here, else the reason. */
export function firmwareImagesMissing() {
  const files = [['/usr/lib/ISOLINUX/isolinux.bin', 'isolinux'], ['/usr/lib/syslinux/modules/bios/ldlinux.c32', 'syslinux-common'],
    ['/usr/lib/systemd/boot/efi/linuxx64.efi.stub', 'systemd-boot-efi'], ['/usr/share/OVMF/OVMF_CODE_4M.fd', 'ovmf']];
  const missing = files.find(([f]) => !fs.existsSync(f));
  if (missing) return `${missing[0]} not found (install the Debian package ${missing[1]}: scripts/install-deps.sh --dev)`;
  return bootMissing() ?? commandMissing('xorriso', 'xorriso') ?? commandMissing('objcopy', 'binutils') ??
    commandMissing('mkfs.vfat', 'dosfstools') ?? commandMissing('mcopy', 'mtools') ?? commandMissing('sfdisk', 'fdisk');
}

/** Builds `target` once: `build(tmpDir)` returns the file to move there; the scratch directory goes either way. */
async function cached(target, build) {
  if (fs.existsSync(target) && fs.existsSync(`${target}.meta.json`)) return target;
  const work = fs.mkdtempSync(path.join(demoCacheDir, '.build-'));
  try {
    const built = await build(work);
    fs.renameSync(`${built}.meta.json`, `${target}.meta.json`);
    fs.renameSync(built, target);
    return target;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

const sh = (cmd, args, options = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });

let debian;
/** The Debian container (kernel, initrd, disk; cmdline `root=/dev/vda`), built once. */
export function debianContainer() {
  const recipe = crypto.createHash('sha256').update(JSON.stringify([DEBIAN_PACKAGES, MARKER_SCRIPT, MARKER_UNIT, DEBIAN_CMDLINE])).digest('hex').slice(0, 12);
  fs.mkdirSync(demoCacheDir, { recursive: true });
  debian ??= cached(path.join(demoCacheDir, `debian-${recipe}.rts.png`), async (work) => {
    const root = path.join(work, 'root');
    sh('mmdebstrap', ['--quiet', '--variant=minbase', `--include=${DEBIAN_PACKAGES.join(',')}`,
      '--dpkgopt=path-exclude=/usr/share/doc/*', '--dpkgopt=path-exclude=/usr/share/man/*', '--dpkgopt=path-exclude=/usr/share/locale/*',
      'bookworm', root], { timeout: 15 * 60_000 });
    fs.writeFileSync(path.join(root, 'etc', 'hostname'), 'pixelrts-debian\n');
    fs.mkdirSync(path.join(root, 'usr', 'local', 'sbin'), { recursive: true });
    fs.writeFileSync(path.join(root, 'usr', 'local', 'sbin', 'pixelrts-marker'), MARKER_SCRIPT, { mode: 0o755 });
    fs.writeFileSync(path.join(root, 'etc', 'systemd', 'system', 'pixelrts-marker.service'), MARKER_UNIT);
    fs.symlinkSync('/etc/systemd/system/pixelrts-marker.service', path.join(root, 'etc', 'systemd', 'system', 'multi-user.target.wants', 'pixelrts-marker.service'));
    const boot = fs.readdirSync(path.join(root, 'boot'));
    const kernel = path.join(root, 'boot', boot.find((f) => f.startsWith('vmlinuz-')));
    const initrd = path.join(root, 'boot', boot.find((f) => f.startsWith('initrd.img-')));
    const disk = path.join(work, 'rootfs.ext4');
    sh('mkfs.ext4', ['-q', '-F', '-L', 'root', '-d', root, disk, '1G']);
    const out = path.join(work, 'debian.rts.png');
    await writeContainer(out, [
      { name: 'kernel', type: 'kernel', path: kernel },
      { name: 'initrd', type: 'initrd', path: initrd },
      { name: 'disk', type: 'disk', path: disk },
    ], { name: 'debian', type: 'boot-bundle', cmdline: DEBIAN_CMDLINE });
    return out;
  });
  return debian;
}

/** The demo guest on an ISO that SeaBIOS boots (ISOLINUX, console on the first serial port). */
export async function isoContainer() {
  const demo = await demoImage();
  const tag = path.basename(demo.initrdPath).replace(/\.cpio\.gz$/, '');
  return cached(path.join(demoCacheDir, `iso-${tag}.rts.png`), async (work) => {
    const tree = path.join(work, 'iso');
    fs.mkdirSync(path.join(tree, 'isolinux'), { recursive: true });
    fs.copyFileSync('/usr/lib/ISOLINUX/isolinux.bin', path.join(tree, 'isolinux', 'isolinux.bin'));
    fs.copyFileSync('/usr/lib/syslinux/modules/bios/ldlinux.c32', path.join(tree, 'isolinux', 'ldlinux.c32'));
    fs.copyFileSync(demo.kernelPath, path.join(tree, 'vmlinuz'));
    fs.copyFileSync(demo.initrdPath, path.join(tree, 'initrd'));
    fs.writeFileSync(path.join(tree, 'isolinux', 'isolinux.cfg'),
      `serial 0 115200\nprompt 0\ntimeout 1\ndefault demo\nlabel demo\n  kernel /vmlinuz\n  append initrd=/initrd ${ONESHOT}\n`);
    const iso = path.join(work, 'demo.iso');
    sh('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat',
      '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', tree]);
    const out = path.join(work, 'iso.rts.png');
    await writeContainer(out, [{ name: 'cdrom', type: 'iso', path: iso }], { name: 'demo-iso', type: 'disk-image' });
    return out;
  });
}

/** The demo guest as a unified kernel image on the EFI System Partition of a GPT disk. */
export async function uefiContainer() {
  const demo = await demoImage();
  const tag = path.basename(demo.initrdPath).replace(/\.cpio\.gz$/, '');
  return cached(path.join(demoCacheDir, `uefi-${tag}.rts.png`), async (work) => {
    const at = (f) => path.join(work, f);
    fs.writeFileSync(at('cmdline'), ONESHOT);
    fs.writeFileSync(at('os-release'), 'NAME=pixelrts-demo\n');
    // The section addresses systemd's stub expects (each above the one before, clear of the stub).
    sh('objcopy', ['--add-section', `.osrel=${at('os-release')}`, '--change-section-vma', '.osrel=0x20000',
      '--add-section', `.cmdline=${at('cmdline')}`, '--change-section-vma', '.cmdline=0x30000',
      '--add-section', `.linux=${demo.kernelPath}`, '--change-section-vma', '.linux=0x2000000',
      '--add-section', `.initrd=${demo.initrdPath}`, '--change-section-vma', '.initrd=0x3000000',
      '/usr/lib/systemd/boot/efi/linuxx64.efi.stub', at('uki.efi')]);
    sh('mkfs.vfat', ['-C', at('esp.fat'), String(32 * 1024)]);
    sh('mmd', ['-i', at('esp.fat'), '::/EFI', '::/EFI/BOOT']);
    sh('mcopy', ['-i', at('esp.fat'), at('uki.efi'), '::/EFI/BOOT/BOOTX64.EFI']);
    // 1 MiB for the GPT, the ESP, and room for the backup GPT at the end.
    const disk = at('disk.img');
    fs.writeFileSync(disk, '');
    fs.truncateSync(disk, 34 * 1024 * 1024);
    sh('sfdisk', ['-q', disk], { input: 'label: gpt\nstart=2048, size=65536, type=uefi\n', stdio: ['pipe', 'pipe', 'pipe'] });
    const fat = fs.readFileSync(at('esp.fat'));
    const fd = fs.openSync(disk, 'r+');
    try { fs.writeSync(fd, fat, 0, fat.length, 1024 * 1024); } finally { fs.closeSync(fd); }
    const out = at('uefi.rts.png');
    await writeContainer(out, [{ name: 'disk', type: 'disk', path: disk }], { name: 'demo-uefi', type: 'disk-image' });
    return out;
  });
}

/** null when an arm64 guest can be fetched and booted here, else the reason. */
export function arm64Missing() {
  return bootMissing() ?? commandMissing('qemu-system-aarch64', 'qemu-system-arm') ?? commandMissing('apt-get', 'apt');
}

/**
 * Debian's arm64 cloud kernel (an EFI-stub Image), fetched with apt-get into a private apt state
 * (the host's package lists and architectures are left alone) and packed alone, without `arch`
 * in its metadata, so boot has to read the architecture from the kernel's header.
 */
export async function arm64KernelContainer() {
  fs.mkdirSync(demoCacheDir, { recursive: true });
  const target = path.join(demoCacheDir, 'arm64-kernel.rts.png');
  return cached(target, async (work) => {
    const apt = (...args) => sh('apt-get', ['-q', '-o', `Dir::State=${work}/state`, '-o', `Dir::Cache=${work}/cache`,
      '-o', 'APT::Architecture=arm64', '-o', 'APT::Architectures::=arm64', ...args], { cwd: work, timeout: 10 * 60_000 });
    for (const d of ['state/lists/partial', 'cache/archives/partial']) fs.mkdirSync(path.join(work, d), { recursive: true });
    apt('update');
    apt('download', 'linux-image-cloud-arm64');
    const meta = fs.readdirSync(work).find((f) => f.startsWith('linux-image-cloud-arm64_'));
    const image = /^(linux-image-[^ ,]+)/.exec(sh('dpkg-deb', ['-f', path.join(work, meta), 'Depends'], { encoding: 'utf8' }))[1];
    apt('download', image);
    const deb = fs.readdirSync(work).find((f) => f.startsWith(`${image}_`));
    sh('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards "./boot/vmlinuz-*"', 'sh', path.join(work, deb), work]);
    const kernel = path.join(work, 'boot', fs.readdirSync(path.join(work, 'boot'))[0]);
    const out = path.join(work, 'arm64.rts.png');
    await writeContainer(out, [{ name: 'kernel', type: 'kernel', path: kernel }], { name: 'arm64-kernel', type: 'boot-bundle', cmdline: 'panic=-1' });
    return out;
  });
}
