/**
 * One-command boot: a `.rts.png` container straight into QEMU, without extracting anything.
 *
 * verify (the payload's hashes, unless `noVerify`) and mount the container (FUSE) in a private
 * 0700 runtime directory, overlapping when the curve is known → find the kernel, initrd and command line → `launchVm` with the
 * kernel and initrd paths inside the mount → when QEMU exits: unmount and remove the runtime
 * directory. A helper process removes that directory if this process is killed outright;
 * QEMU (parent-death signal) and the mount (auto_unmount) go away by themselves.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatBytes } from '../format';
import { PixelrtsError } from '../errors';
import { initrdFile, kernelFile, open, type Container, type ContainerFile } from '../codec/container';
import { mount, type Mount } from '../fuse/mount';
import {
  consoleDevice, detectAccel, hostArch as qemuHostArch, loopbackForward, requireQemu,
  type AccelChoice, type AccelPreference, type Arch, type Drive, type FirmwareChoice, type NetworkOptions,
} from '../vm/qemu';
import { firmwareFor, identify, IDENTIFY_BYTES, isKernel, PARTITION_TABLE_BYTES } from './image-kind';
import { prepareOverlay, requireQemuImg, type DiskOverlay } from './overlay';
import { commitDisks, pausedFor, type CommitOptions } from './commit';
import { createSnapshots, type Snapshots } from './snapshots';
import { makeSeed, networkConfig } from './cloud-init';
import { checkBootOptions } from './options';
import { createScreen, type Screen } from '../screen/screen';
import { createInput, type Input } from '../screen/input';
import { launchVm, type VM, type VmExit } from '../vm/vm';
import { joinNetwork, sweepNetwork, type NetworkPort } from '../net/network';
import type { NetworkAddress } from '../net/addressing';
import { createRuntimeDir, idBase, removeRuntimeDir, runtimeRoot, startCleanupWatcher, type CleanupWatcher, type WatchedDir } from './runtime-dir';
import { openRemoteSource, type RemoteSource } from './remote-source';
import { isUrl } from '../remote/fetch';
import { remoteName, type RemoteStats } from '../remote/remote-file';

/** Guest architectures pixelrts boots. */
export type BootArch = Arch;

/** Accelerator choices: `auto` picks one that really runs guests (KVM only when it works). */
export type BootAccel = AccelPreference;

/** The stages of a boot, in order. */
export type BootStage = 'remote' | 'open' | 'verify' | 'mount' | 'accel' | 'firmware' | 'qemu-start' | 'first-console-line' | 'exit';

/** One stage starting, finishing, being skipped or failing. */
export interface BootStageEvent {
  stage: BootStage;
  status: 'start' | 'done' | 'skipped' | 'failed';
  /** Duration of the stage in ms (for `done` and `failed`; 0 otherwise). */
  ms: number;
  /** Milliseconds since `boot()` was called. */
  at: number;
  /** What the stage found or why it was skipped (e.g. the accelerator and why). */
  detail?: string;
}

export interface BootOptions {
  /** Guest memory in QEMU's syntax, e.g. `'512M'` or `'2G'` (default `'512M'`). */
  memory?: string;
  /** Virtual CPUs (default 1). */
  cpus?: number;
  /** Accelerator (default `auto`). An explicit choice that does not work here is an error. */
  accel?: BootAccel;
  /** Guest architecture (default: the container's `arch` metadata, else the host's). */
  arch?: BootArch;
  /** Replaces the container's kernel command line (its `cmdline` metadata field). */
  cmdline?: string;
  /** Appended to the kernel command line. */
  append?: string;
  /** Skip checking the payload's hashes before booting. */
  noVerify?: boolean;
  /**
   * Show the guest's screen over VNC: `true` on a Unix socket in the runtime directory (only
   * this user can connect); a display like `'127.0.0.1:1'` over TCP with a random password
   * (`vm.vnc`). Default: no display.
   */
  vnc?: true | string;
  /**
   * Give the guest a screen (a display, a keyboard and an absolute pointer) for `vm.screen`
   * and `vm.input`. QEMU serves it on the private VNC socket (as `vnc: true`), which
   * `vm.screen.frames()` and the browser view read; `vnc` on TCP implies a screen too.
   * Default: no screen.
   */
  screen?: boolean;
  /** Extra QEMU arguments, appended as given. */
  qemuArgs?: string[];
  /** Also write everything the guest prints on its console to this file. */
  serialLog?: string;
  /**
   * Give the guest a NATed user-mode network: it reaches every service on the host's loopback
   * (at 10.0.2.2) and whatever the host can reach. Default: no network.
   */
  network?: boolean;
  /**
   * TCP ports on the host's loopback the guest reaches at EXPOSED_ADDRESS:PORT (10.0.2.100).
   * Without `network` they are all it reaches: an isolated user-mode network. Needs socat.
   */
  expose?: number[];
  /**
   * Ports of the guest reachable from this host: `hostPort` on 127.0.0.1 forwards to
   * `guestPort` (e.g. `{ hostPort: 2222, guestPort: 22 }` for ssh). Gives the guest a network
   * (isolated unless `network` is set: it is reached, it reaches nothing).
   */
  forward?: Array<{ hostPort: number; guestPort: number }>;
  /**
   * cloud-init user-data (`#cloud-config …`) given to the guest on a NoCloud seed (a read-only
   * FAT disk labelled cidata), for cloud images. Needs mkfs.vfat and mcopy.
   */
  cloudInit?: string;
  /**
   * An existing, empty, private (0700) directory to use as the runtime directory instead of a
   * new one under the per-user runtime root. It is removed when the VM exits.
   */
  runtimeDir?: string;
  /**
   * Firmware of a boot without a kernel (a disk or an ISO): `bios` (SeaBIOS), `uefi` (OVMF), or
   * `auto` (default): UEFI for a disk with an EFI System Partition and no BIOS boot code.
   */
  firmware?: BootFirmware;
  /**
   * Keep the disks' changes: one qcow2 overlay file per disk segment, in order, made on the
   * first boot and reused by the next (an overlay made for another disk is refused). Default:
   * changes go to overlays in the runtime directory and are gone when the VM exits.
   */
  persist?: string[];
  /**
   * Put the VM on the private network of this name (created by the first VM that joins it,
   * gone with the last): a virtio-net card on a switch that only the network's VMs share, with
   * an address that follows from the name and the VM's index on it (docs/net.md). The guest
   * learns it from `pixelrts.ip=ADDRESS/24` on its kernel command line (the demo guest
   * configures itself from it). The VM gets no other network unless `network` also asks.
   */
  net?: string;
  /** Called as each stage starts and ends. */
  onStage?: (event: BootStageEvent) => void;
}

/** See BootOptions.firmware. */
export type BootFirmware = 'auto' | 'bios' | 'uefi';

/** How a booted VM ended, once everything was torn down. */
export interface BootExit extends VmExit {
  /** 0 when the guest powered off; QEMU's status when QEMU failed; 1 when the guest reset or QEMU stopped without a power-off; 128+n when QEMU was killed by signal n. */
  exitCode: number;
  /** One sentence saying how it ended. */
  reason: string;
  /** Problems met while tearing down (an unmount that failed, …); empty when clean. */
  teardownErrors: string[];
}

/** The VM that `launchVm` started, plus what `boot` knows about it. `exited` resolves after teardown. */
export type BootedVm = Omit<VM, 'exited'> & {
  /** Resolves once QEMU exited, the container was unmounted and the runtime directory removed. */
  readonly exited: Promise<BootExit>;
  /** The runtime directory's name: an id unique among this user's running VMs. */
  readonly id: string;
  /** Absolute path of the booted container (for a URL: the file in its private mount, or the fetched copy). */
  readonly image: string;
  /**
   * For a container booted from a URL: how it is read ('on-demand', or 'whole' and why) and
   * what its reads have fetched so far.
   */
  readonly remote?: { url: string; mode: 'on-demand' | 'whole'; reason?: string; stats(): RemoteStats };
  /** Where the container is mounted while the VM runs. */
  readonly mountpoint: string;
  /** The kernel command line the guest got. */
  readonly cmdline: string;
  /** Duration in ms of each finished stage. */
  readonly stages: Partial<Record<BootStage, number>>;
  /** The container's disks as the guest has them: each one's overlay over its segment. */
  readonly disks: DiskOverlay[];
  /** Where the VM sits on its private network (BootOptions.net), or null. */
  readonly network: NetworkAddress | null;
  /**
   * Writes a new container holding this VM's disks with their changes (and the container's
   * other segments and metadata). The guest is paused while its disks are copied (QEMU flushes
   * them when it stops) and resumed afterwards, unless it was paused already.
   */
  commit(output: string, options?: Omit<CommitOptions, 'mountpoint'>): Promise<Record<string, unknown>>;
  /** Live snapshots (save, load, list, delete), kept in the disks' overlays. */
  readonly snapshots: Snapshots;
  /** The guest's screen: screenshots and its size (booted with `screen` or `vnc`). */
  readonly screen: Screen;
  /** Keyboard and pointer input to the guest (the pointer needs a screen). */
  readonly input: Input;
};

/**
 * Where the guest reaches the host ports of BootOptions.expose: an address of its user-mode
 * network that is not the host's (10.0.2.2, which QEMU reserves for the host's loopback and
 * will not forward from).
 */
export const EXPOSED_ADDRESS = '10.0.2.100';

/** The container's `memory` default (e.g. "1024M"), when it records a valid one. */
function metaMemory(meta: Record<string, unknown>): string | undefined {
  const m = meta.memory;
  if (typeof m === 'number' && Number.isInteger(m) && m >= 16) return `${m}M`;
  return typeof m === 'string' && /^\d+[MG]$/.test(m) ? m : undefined;
}

/** The container's `cpus` default, when it records a valid one. */
function metaCpus(meta: Record<string, unknown>): number | undefined {
  const c = meta.cpus;
  return typeof c === 'number' && Number.isInteger(c) && c >= 1 && c <= 255 ? c : undefined;
}

/** The network `options` ask for, as launchVm takes it; null for none. */
function guestNetwork(options: Pick<BootOptions, 'network' | 'expose' | 'forward'>): { network: NetworkOptions } | null {
  if (!options.network && !options.expose?.length && !options.forward?.length) return null;
  const guestfwd = (options.expose ?? []).map((port) => loopbackForward(EXPOSED_ADDRESS, port));
  const hostfwd = (options.forward ?? []).map((f) => ({ hostPort: f.hostPort, guestPort: f.guestPort }));
  return { network: { user: true, restrict: !options.network, guestfwd, hostfwd } };
}

/**
 * The kernel command line: `cmdline` replaces the container's, `append` is added, and the
 * serial console argument is made to fit the architecture (`ttyS0` on x86_64, `ttyAMA0` on
 * aarch64): a serial console meant for the other architecture is translated, and one is added
 * when there is none, so the guest's console reaches the terminal.
 */
export function composeCmdline(fromContainer: string | undefined, options: Pick<BootOptions, 'cmdline' | 'append'>, arch: BootArch): string {
  let words = (options.cmdline ?? fromContainer ?? '').split(/\s+/).filter(Boolean);
  if (options.append) words.push(...options.append.split(/\s+/).filter(Boolean));
  const wrong = arch === 'aarch64' ? /^console=ttyS(\d*)(.*)$/ : /^console=ttyAMA(\d*)(.*)$/;
  const right = arch === 'aarch64' ? 'ttyAMA' : 'ttyS';
  words = words.map((w) => w.replace(wrong, (_, n: string, rest: string) => `console=${right}${n || '0'}${rest}`));
  if (!words.some((w) => /^console=(ttyS|ttyAMA|hvc)/.test(w))) words.push(`console=${consoleDevice(arch)}`);
  const cmdline = words.join(' ');
  // Checked here, not left to the kernel (which truncates) or to spawn (which throws a bare
  // TypeError on a NUL and E2BIG on a huge argument list).
  if (cmdline.includes('\0')) {
    const source = options.cmdline?.includes('\0') ? 'the cmdline option' : options.append?.includes('\0') ? 'the append option'
      : 'the container\'s metadata ("cmdline")';
    throw new PixelrtsError('ERR_PIXELRTS_ARGUMENT', `the kernel command line contains a NUL character, from ${source}; remove it.`);
  }
  if (Buffer.byteLength(cmdline) > MAX_CMDLINE) {
    throw new PixelrtsError('ERR_PIXELRTS_ARGUMENT',
      `the kernel command line is ${Buffer.byteLength(cmdline)} bytes; Linux takes at most ${MAX_CMDLINE} on x86_64 and aarch64 (COMMAND_LINE_SIZE) and would cut the rest. Shorten --cmdline, --append or the container's "cmdline".`);
  }
  return cmdline;
}

/** Linux's COMMAND_LINE_SIZE on x86_64 and arm64, with the terminating NUL. */
const MAX_CMDLINE = 2047;

/** What a container gives a boot, by segment type (names of its files). */
interface BootFiles {
  kernel?: string;
  initrd?: string;
  /** Disks (type `disk`) and CD-ROMs (type `iso`), in the container's order. */
  disks: ContainerFile[];
  isos: ContainerFile[];
  firmware?: string;
  dtb?: string;
}

/** Describes a container's files for error messages: `a (2.1 MiB, kernel), b (512 B)`. */
function describeFiles(container: Container): string {
  if (container.files.length === 0) return 'nothing';
  return container.files.map((f) => `${f.name} (${formatBytes(f.size)}${f.type ? `, type ${f.type}` : ''})`).join(', ');
}

/**
 * What to boot: a kernel (with its initrd, and any disks and CD-ROMs attached), or, without
 * one, the disks and CD-ROMs through the firmware. Throws ERR_PIXELRTS_NO_KERNEL listing what
 * the container holds when there is nothing bootable.
 */
function findBootFiles(container: Container, image: string): BootFiles {
  const ofType = (t: string) => container.files.filter((f) => f.type === t);
  const files: BootFiles = {
    kernel: kernelFile(container)?.name,
    initrd: initrdFile(container)?.name,
    disks: ofType('disk'),
    isos: ofType('iso'),
    firmware: ofType('firmware')[0]?.name,
    dtb: ofType('dtb')[0]?.name,
  };
  if (!files.kernel && files.disks.length === 0 && files.isos.length === 0) {
    throw new PixelrtsError('ERR_PIXELRTS_NO_KERNEL',
      `${image} holds nothing to boot: expected a kernel (a segment of type kernel, or named kernel, vmlinuz, vmlinux or bzImage), ` +
      `or a disk or ISO segment, found ${describeFiles(container)}. ` +
      'Make a bootable container with `pixelrts convert --segment kernel=vmlinuz --segment initrd=initrd.img [--segment disk=root.img] out.rts.png`, ' +
      'or `pixelrts convert --segment iso=os.iso out.rts.png`.');
  }
  return files;
}

/** The first `n` bytes of `file` (fewer when it is shorter). */
function readHead(file: string, n: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    return buf.subarray(0, fs.readSync(fd, buf, 0, n, 0));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Checks that the kernel segment is a kernel QEMU can boot directly; throws
 * ERR_PIXELRTS_NOT_A_KERNEL naming the segment and what it looks like. Returns the
 * architecture its header names.
 */
function checkKernel(file: string, name: string, image: string): Arch {
  const found = identify(readHead(file, IDENTIFY_BYTES));
  if (isKernel(found.kind) && found.arch) return found.arch;
  const hint = found.kind === 'iso' ? ` To boot an ISO, pack it as --segment iso=${name}.iso (the firmware boots it).`
    : found.kind === 'elf' ? ' QEMU boots the compressed kernel: pack vmlinuz (bzImage) or arch/arm64/boot/Image.'
      : found.kind === 'cpio' || found.kind === 'gzip' || found.kind === 'zstd' || found.kind === 'xz' ? ' Is it the initrd? Pack it as --segment initrd=FILE.'
        : found.kind === 'qcow2' || found.kind === 'mbr' ? ' To boot a disk, pack it as --segment disk=FILE (the firmware boots it).'
          : '';
  throw new PixelrtsError('ERR_PIXELRTS_NOT_A_KERNEL',
    `segment "${name}" of ${image} is not a kernel QEMU can boot: it looks like ${found.description}, ` +
    `where an x86 bzImage or an arm64 Image was expected.${hint}`);
}

/** The firmware of a boot without a kernel, and why. */
function chooseFirmware(pref: BootFirmware, firstDisk: string | undefined, hasIso: boolean): { firmware: 'bios' | 'uefi'; reason: string } {
  if (pref !== 'auto') return { firmware: pref, reason: `--firmware ${pref}` };
  if (hasIso || firstDisk === undefined) return { firmware: 'bios', reason: 'an ISO boots with SeaBIOS (--firmware uefi for its EFI boot)' };
  const head = readHead(firstDisk, PARTITION_TABLE_BYTES);
  if (identify(head).kind === 'qcow2') return { firmware: 'bios', reason: 'a qcow2 disk (its partitions are not inspected; --firmware uefi for an EFI disk)' };
  return firmwareFor(head);
}

/** OVMF's code and variable-store templates, as Debian (ovmf), Fedora (edk2-ovmf) and Homebrew (qemu) install them. */
function ovmf(arch: Arch): { code: string; vars: string } {
  const candidates = arch === 'aarch64'
    ? [['/usr/share/AAVMF/AAVMF_CODE.fd', '/usr/share/AAVMF/AAVMF_VARS.fd'], ['/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw', '/usr/share/edk2/aarch64/vars-template-pflash.raw']]
    : [['/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_VARS_4M.fd'], ['/usr/share/OVMF/OVMF_CODE.fd', '/usr/share/OVMF/OVMF_VARS.fd'],
      ['/usr/share/edk2/ovmf/OVMF_CODE.fd', '/usr/share/edk2/ovmf/OVMF_VARS.fd'],
      ['/opt/homebrew/share/qemu/edk2-x86_64-code.fd', '/opt/homebrew/share/qemu/edk2-i386-vars.fd']];
  const found = candidates.find(([code, vars]) => fs.existsSync(code) && fs.existsSync(vars));
  if (!found) {
    throw new PixelrtsError('ERR_PIXELRTS_DEPENDENCY',
      `UEFI firmware (OVMF) for ${arch} not found: install it (Debian: apt-get install ${arch === 'aarch64' ? 'qemu-efi-aarch64' : 'ovmf'}; ` +
      'Fedora: dnf install edk2-ovmf), or boot with --firmware bios.');
  }
  return { code: found[0], vars: found[1] };
}

/** Checks the payload's hashes; throws ERR_PIXELRTS_VERIFY naming the file, expected vs found, and the override. */
async function verifyContainer(container: Container, image: string): Promise<string> {
  const report = await container.verify();
  const checked = report.files.filter((f) => f.status !== 'unchecked').length + (report.dataHash ? 1 : 0);
  if (report.ok) return checked === 0 ? 'no hashes recorded' : `${checked} hash${checked === 1 ? '' : 'es'} ok`;
  const bad = report.files.filter((f) => f.status === 'mismatch')
    .map((f) => `file "${f.name}": expected sha256 ${f.expected}, found ${f.found}`);
  if (report.dataHash && !report.dataHash.ok) {
    bad.push(`payload (data_hash): expected sha256 ${report.dataHash.expected}, found ${report.dataHash.found}`);
  }
  throw new PixelrtsError('ERR_PIXELRTS_VERIFY',
    `${image} failed verification and was not booted: ${bad.join('; ')}. ` +
    'The container is damaged or was modified after it was written: re-create or re-download it, or boot it anyway with --no-verify.');
}

/** The exit code and a sentence for how QEMU ended. */
export function describeExit(exit: Pick<VmExit, 'code' | 'signal' | 'poweredOff' | 'shutdownReason'>): { exitCode: number; reason: string } {
  const shutdownReason = exit.shutdownReason ?? undefined;
  if (exit.poweredOff) return { exitCode: 0, reason: 'the guest powered off' };
  if (exit.signal) {
    const n = (os.constants.signals as Record<string, number>)[exit.signal] ?? 0;
    return { exitCode: 128 + n, reason: `QEMU was killed by ${exit.signal}` };
  }
  if (exit.code !== null && exit.code !== 0) return { exitCode: exit.code, reason: `QEMU exited with status ${exit.code}` };
  if (shutdownReason === 'guest-reset' || shutdownReason === 'guest-panic') {
    return { exitCode: 1, reason: `the guest ${shutdownReason === 'guest-panic' ? 'panicked' : 'reset (a reboot or a kernel panic; QEMU runs with -no-reboot)'}` };
  }
  return { exitCode: 1, reason: `QEMU stopped without the guest powering off${shutdownReason ? ` (${shutdownReason})` : ''}` };
}

/**
 * Boots the container at `file` in QEMU and resolves with the running VM once QEMU has
 * started. Everything it set up (mount, runtime directory) is removed when QEMU exits;
 * `vm.exited` resolves after that, with the exit code the CLI uses.
 *
 * ```ts
 * const vm = await boot('demo.rts.png', { append: 'pixelrts.demo=oneshot' });
 * vm.console.on('line', (line) => console.log('VM:', line));
 * const { exitCode } = await vm.exited;   // 0: the guest powered off
 * ```
 * Errors (all `PixelrtsError`): ERR_PIXELRTS_VERIFY (hash mismatch, before the guest runs),
 * ERR_PIXELRTS_NO_KERNEL, ERR_PIXELRTS_QEMU_MISSING, ERR_PIXELRTS_ACCEL, the mount's and the
 * codec's errors.
 */
export async function boot(file: string, options: BootOptions = {}): Promise<BootedVm> {
  checkBootOptions(file, options);
  const t0 = performance.now();
  const stages: Partial<Record<BootStage, number>> = {};
  // Once the boot has failed its stages are over: a probe that settles later is not reported
  // after the error.
  let failed = false;
  const emit = (stage: BootStage, status: BootStageEvent['status'], startedAt: number, detail?: string): void => {
    if (failed) return;
    const now = performance.now();
    const ms = status === 'done' || status === 'failed' ? now - startedAt : 0;
    if (status === 'done') stages[stage] = ms;
    options.onStage?.({ stage, status, ms, at: now - t0, ...(detail !== undefined ? { detail } : {}) });
  };
  /** Runs one stage, reporting start, done (with `detail(result)`) or failed. */
  const stage = async <T>(name: BootStage, work: () => Promise<T> | T, detail?: (r: T) => string | undefined): Promise<T> => {
    const started = performance.now();
    emit(name, 'start', started);
    try {
      const r = await work();
      emit(name, 'done', started, detail?.(r));
      return r;
    } catch (err) {
      emit(name, 'failed', started, (err as Error).message);
      throw err;
    }
  };

  // A URL: read on demand through a private mount (or fetched whole), closed with the VM.
  let remote: RemoteSource | undefined;
  let image = isUrl(file) ? file : path.resolve(file);
  // A directory handed in is ours from here on: removed on failure as on exit.
  let runtimeDir: string | undefined = options.runtimeDir;
  let watcher: CleanupWatcher | undefined;
  /** The runtime directory while its watcher is still making it. */
  let pendingDir: Promise<WatchedDir> | undefined;
  let mounted: Mount | undefined;
  let port: NetworkPort | undefined;
  let portLost = false;
  const cleanup = async (): Promise<string[]> => {
    const problems: string[] = [];
    // QEMU is gone (or never ran): its port on the switch goes back. A switch that was killed
    // left its directory: removed now, unless another switch serves the network again.
    port?.leave();
    if (port && portLost) {
      const problem = await sweepNetwork(runtimeRoot(), port.network);
      if (problem) problems.push(`removing what the killed switch of ${port.network} left: ${problem}`);
    }
    port = undefined;
    if (pendingDir) {
      try {
        ({ dir: runtimeDir, watcher } = await pendingDir);
      } catch { /* it was never made */ }
      pendingDir = undefined;
    }
    if (mounted) {
      try {
        await mounted.unmount();
      } catch (err) {
        problems.push(`unmounting ${mounted.mountpoint}: ${(err as Error).message}`);
      }
      mounted = undefined;
    }
    if (remote) {
      await remote.close().catch((err: Error) => problems.push(`closing ${remote?.url}: ${err.message}`));
      remote = undefined;
    }
    if (runtimeDir) {
      try {
        removeRuntimeDir(runtimeDir);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    // Released only now: until the directory is gone the watcher is the safety net.
    watcher?.release();
    watcher = undefined;
    return problems;
  };

  // Probing the accelerator can run a QEMU for up to a second: start it first, for the
  // architecture asked for (or the host's), so that it overlaps opening, verifying and mounting.
  // launchVm asks again and gets the same (cached) answer at once.
  const probe = (arch: BootArch): Promise<AccelChoice> => {
    const started = performance.now();
    emit('accel', 'start', started);
    const choice = detectAccel(options.accel ?? 'auto', arch);
    choice.then(
      (a) => emit('accel', 'done', started, `${a.accel}: ${a.reason}`),
      (err: Error) => emit('accel', 'failed', started, err.message),
    );
    return choice;
  };
  const guessedArch: BootArch = options.arch ?? qemuHostArch() ?? 'x86_64';
  // probe() handles a rejection (an explicit --accel that cannot work) until it is awaited below.
  let accelChoice = probe(guessedArch);

  try {
    // The runtime directory is made (by its cleanup watcher, a process of its own) while the
    // container is opened: both lie on the way to QEMU, and neither needs the other.
    // A URL's id comes from its file name (not its query, which a signed URL fills).
    pendingDir = runtimeDir === undefined ? createRuntimeDir(runtimeRoot(), idBase(isUrl(file) ? remoteName(file) : image))
      : Promise.resolve({ dir: runtimeDir, watcher: startCleanupWatcher(runtimeDir) });
    pendingDir.catch(() => undefined);  // awaited below, or by cleanup() when open fails first
    if (isUrl(file)) {
      // The one warning (the server unreachable: the cached copy alone) goes with the stage's detail.
      const warnings: string[] = [];
      remote = await stage('remote', () => openRemoteSource(file, { onWarning: (message) => warnings.push(message) }),
        (r) => [r.mode === 'on-demand' ? 'read on demand' : `fetched whole: ${r.reason ?? ''}`, ...warnings].join('; '));
      image = remote.path;
    }
    // A URL's container was opened with it (to tell whether it can be read on demand).
    const opened = remote?.container;
    const container = await stage('open', () => opened ?? open(image), (c) => `${c.files.length} file${c.files.length === 1 ? '' : 's'}`);
    const meta: Record<string, unknown> = container.metadata ?? {};
    const metaArch = meta.arch === 'aarch64' || meta.arch === 'arm64' ? 'aarch64' : meta.arch === 'x86_64' ? 'x86_64' : undefined;
    let arch: BootArch = options.arch ?? metaArch ?? guessedArch;
    if (arch !== guessedArch) accelChoice = probe(arch);
    // What is quick to check goes first: a missing QEMU or kernel is found in milliseconds.
    requireQemu(arch);
    const network = guestNetwork(options);
    const files = findBootFiles(container, image);
    if (files.disks.length > 0) requireQemuImg();
    if ((options.persist?.length ?? 0) > files.disks.length) {
      throw new PixelrtsError('ERR_PIXELRTS_USAGE',
        `--persist names ${options.persist?.length} overlay files but ${image} holds ${files.disks.length} disk${files.disks.length === 1 ? '' : 's'}` +
        `${files.disks.length ? ` (${files.disks.map((d) => d.name).join(', ')})` : ''}: give one per disk, in order.`);
    }

    // Verify and mount share the container's one decode. When the curve is known without a
    // hash (files pixelrts writes) the mount serves exactly the bytes verify checks, so it is
    // made while the hashes are checked, and QEMU builds the machine with its CPUs stopped while
    // they still are: the guest runs only once verify has passed, and a mismatch kills QEMU,
    // unmounts and stops the boot. A file whose curve only a hash can tell (a legacy file) is
    // mounted after verify has settled it.
    let verified: Promise<string> | undefined;
    let verifySettled = false;
    if (options.noVerify) {
      emit('verify', 'skipped', performance.now(), '--no-verify');
    } else if (container.verifiedReads) {
      // Every block the guest reads is checked against the file's hash tree as it is decoded (a
      // bad one is an I/O error in the guest and a warning here), so the boot need not wait for
      // the whole payload to be hashed first.
      emit('verify', 'skipped', performance.now(), 'each block is checked against the hash tree as it is read');
    } else {
      verified = stage('verify', () => verifyContainer(container, image), (d) => d);
      verified.then(() => { verifySettled = true; }, () => { verifySettled = true; });  // awaited below
      if (!container.curveKnown) await verified;
    }

    ({ dir: runtimeDir, watcher } = await pendingDir);
    pendingDir = undefined;
    const mountpoint = path.join(runtimeDir, 'mnt');
    const id = path.basename(runtimeDir);
    fs.mkdirSync(mountpoint, { mode: 0o700 });
    mounted = await stage('mount', () => mount(container, mountpoint), () => mountpoint);
    // An explicit accelerator that does not work here fails now, before QEMU starts.
    await accelChoice;
    const inMount = (name: string, alias = name): string => {
      // The mount presents /kernel and /initrd (DIRECT-02); fall back to the segment's own name.
      const p = path.join(mountpoint, alias);
      return fs.existsSync(p) ? p : path.join(mountpoint, name);
    };
    // The kernel's header says what it is and which architecture it is for.
    if (files.kernel) {
      const kernelArch = checkKernel(inMount(files.kernel, 'kernel'), files.kernel, image);
      if (kernelArch !== arch) {
        if (options.arch || metaArch) {
          throw new PixelrtsError('ERR_PIXELRTS_ARCH',
            `the kernel "${files.kernel}" of ${image} is for ${kernelArch}, but ${options.arch ? `--arch ${options.arch}` : `the container's metadata (arch: ${String(meta.arch)})`} ` +
            `says ${arch}: ${options.arch ? `boot it with --arch ${kernelArch}` : `boot it with --arch ${kernelArch}, or fix the container's arch`}.`);
        }
        arch = kernelArch;
        requireQemu(arch);
        accelChoice = probe(arch);
        await accelChoice;
      }
    }
    let started: VM | undefined;
    if (options.net !== undefined) {
      const net = options.net;
      port = await joinNetwork(runtimeRoot(), net, {
        onLost: () => {
          portLost = true;
          started?.emit('warning', new PixelrtsError('ERR_PIXELRTS_NET',
            `the switch of the private network ${net} went away (killed?): this VM is cut off from it; boot it again to rejoin.`));
        },
      });
    }
    const address: NetworkAddress | null = port ? { network: port.network, index: port.index, ip: port.ip, prefix: port.prefix, subnet: port.subnet, mac: port.mac } : null;
    const append = [options.append, address ? `pixelrts.ip=${address.ip}/${address.prefix}` : ''].filter(Boolean).join(' ');
    const cmdline = composeCmdline(typeof meta.cmdline === 'string' ? meta.cmdline : undefined, { cmdline: options.cmdline, append }, arch);
    const overlays: DiskOverlay[] = [];
    for (const [i, disk] of files.disks.entries()) {
      overlays.push(await prepareOverlay({
        identity: { segment: disk.name, sha256: disk.sha256 ?? null, size: disk.size, container: image },
        base: inMount(disk.name), runtimeDir: runtimeDir as string, index: i, persist: options.persist?.[i],
      }));
    }
    const diskDrives: Drive[] = overlays.map((o) => ({ kind: 'disk', overlay: o.overlay, base: o.base, baseFormat: o.baseFormat }));
    const cdDrives: Drive[] = files.isos.map((f) => ({ kind: 'cdrom', file: inMount(f.name) }));
    const seedDrives: Drive[] = options.cloudInit === undefined ? []
      : [{ kind: 'seed', file: await makeSeed(runtimeDir as string, options.cloudInit, idBase(image), address ? networkConfig(address, network !== null) : undefined) }];
    let firmware: FirmwareChoice | undefined;
    let firmwareReason = '';
    if (files.firmware) {
      firmware = { kind: 'file', path: inMount(files.firmware) };
      firmwareReason = `the container's firmware "${files.firmware}"`;
    } else if (!files.kernel) {
      const choice = chooseFirmware(options.firmware ?? 'auto', overlays[0]?.base, cdDrives.length > 0);
      firmwareReason = `${choice.firmware === 'uefi' ? 'UEFI (OVMF)' : 'BIOS (SeaBIOS)'}: ${choice.reason}`;
      if (choice.firmware === 'uefi') {
        const { code, vars } = ovmf(arch);
        // The variable store is the guest's to write: a private copy per boot.
        const ownVars = path.join(runtimeDir as string, 'efivars.fd');
        fs.copyFileSync(vars, ownVars);
        fs.chmodSync(ownVars, 0o600);
        firmware = { kind: 'uefi', code, vars: ownVars };
      } else {
        firmware = { kind: 'bios' };
      }
      emit('firmware', 'done', performance.now(), firmwareReason);
    }
    // A boot from the firmware starts from an ISO when there is one (an installer or live
    // system, disks attached to it), else from the first disk.
    const drives = [...(files.kernel ? [...diskDrives, ...cdDrives] : [...cdDrives, ...diskDrives]), ...seedDrives];

    const what = files.kernel
      ? `kernel "${files.kernel}"${files.initrd ? ` and initrd "${files.initrd}"` : ''} of ${image}, for ${arch}`
      : `${drives.length} drive${drives.length === 1 ? '' : 's'} of ${image} with ${firmwareReason}, for ${arch}`;
    // A verify that has failed by now stops the boot before QEMU starts.
    if (verifySettled) await verified;
    const paused = verified !== undefined && !verifySettled;
    const vm = await stage('qemu-start', () => launchVm({
      ...(files.kernel ? { kernel: inMount(files.kernel, 'kernel') } : {}),
      ...(files.kernel && files.initrd ? { initrd: inMount(files.initrd, 'initrd') } : {}),
      ...(files.dtb ? { dtb: inMount(files.dtb) } : {}),
      ...(drives.length ? { drives } : {}),
      ...(firmware && firmware.kind !== 'bios' ? { firmware } : {}),
      cmdline,
      memory: options.memory ?? metaMemory(meta) ?? '512M',
      cpus: options.cpus ?? metaCpus(meta) ?? 1,
      accel: options.accel ?? 'auto',
      arch,
      runtimeDir: runtimeDir as string,
      ...(options.vnc !== undefined ? { vnc: options.vnc } : options.screen ? { vnc: true } : {}),
      ...(options.screen ? { screen: true } : {}),
      ...(options.qemuArgs ? { qemuArgs: options.qemuArgs } : {}),
      ...(options.serialLog !== undefined ? { serialLog: options.serialLog } : {}),
      ...(network ?? {}),
      ...(port ? { datagramNetwork: { localPath: port.guestSocket, remotePath: port.switchSocket, mac: port.mac } } : {}),
      paused,
    }).catch((err: Error & { code?: string }) => {
      // QEMU's own words say what it disliked; say what it was given.
      if (err.code === 'ERR_PIXELRTS_QEMU_FAILED') err.message += ` (booting the ${what})`;
      throw err;
    }), (v) => {
      // QEMU has read the kernel and initrd by now, and the guest is about to run: what that took.
      const got = remote?.stats();
      return `pid ${v.pid}${paused ? ', paused until verified' : ''}${got ? `, ${got.bytesFetched} bytes fetched so far` : ''}`;
    });
    started = vm;
    if (paused) {
      try {
        await verified;
        await vm.qmp.execute('cont');
      } catch (err) {
        await vm.kill();
        throw err;
      }
    }

    // The mount failing or being unmounted from outside while the VM runs is worth a warning
    // (QEMU holds the kernel and initrd in memory by now, so the guest keeps running).
    let exiting = false;
    const m = mounted;
    m.on('error', (err) => vm.emit('warning', err));
    m.on('unmount', (why: string) => {
      if (!exiting) vm.emit('warning', new PixelrtsError('ERR_PIXELRTS_MOUNT_LOST', `the container's mount ${mountpoint} went away while the VM runs: ${why}`));
    });

    const consoleStarted = performance.now();
    emit('first-console-line', 'start', consoleStarted);
    vm.console.once('line', () => {
      const got = remote?.stats();
      emit('first-console-line', 'done', consoleStarted, got ? `${got.bytesFetched} bytes fetched from ${file}` : undefined);
    });

    const screen = createScreen(vm.qmp, runtimeDir as string, id, vm.vnc && 'socket' in vm.vnc ? vm.vnc.socket : undefined);
    const exited: Promise<BootExit> = vm.exited.then(async (exit) => {
      exiting = true;
      await screen.close();
      const exitStarted = performance.now();
      const teardownErrors = await cleanup();
      const { exitCode, reason } = describeExit(exit);
      emit('exit', teardownErrors.length === 0 ? 'done' : 'failed', exitStarted,
        `${reason}${teardownErrors.length ? `; teardown: ${teardownErrors.join('; ')}` : ''}`);
      return { ...exit, exitCode, reason, teardownErrors };
    });
    // `exited` now also covers the teardown; a VM field of the same name, redefined in place.
    Object.defineProperty(vm, 'exited', { value: exited, enumerable: true });
    const commit = async (output: string, commitOptions: Omit<CommitOptions, 'mountpoint'> = {}): Promise<Record<string, unknown>> => {
      if (overlays.length === 0) throw new PixelrtsError('ERR_PIXELRTS_COMMIT', `${image} has no disks: there is nothing to commit.`);
      return pausedFor(vm.qmp, () => commitDisks(image, overlays, output, { ...commitOptions, mountpoint }));
    };
    const snapshots = createSnapshots(vm.qmp, id, overlays.length > 0);
    const input = createInput(vm.qmp, screen, () => screen.nudge());
    const remoteInfo = remote && { url: remote.url, mode: remote.mode, ...(remote.reason ? { reason: remote.reason } : {}), stats: remote.stats };
    return Object.assign(vm, { id, image, mountpoint, cmdline, stages, disks: overlays, network: address, commit, snapshots, screen, input,
      ...(remoteInfo ? { remote: remoteInfo } : {}) }) as unknown as BootedVm;
  } catch (err) {
    // A probe still running is left to finish on its own (it cleans up after itself).
    failed = true;
    await cleanup();
    throw err;
  }
}
