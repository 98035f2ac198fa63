/**
 * QEMU itself: choosing an accelerator that really runs guests, building the command line for
 * a direct kernel boot, and spawning QEMU so that it cannot outlive the Node process.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PixelrtsError } from '../errors';
import { anonymousFile } from './anonymous-file';
import { cpuCount, memoryMiB } from './resources';

export type Accel = 'kvm' | 'hvf' | 'tcg';
export type AccelPreference = 'auto' | Accel;
export type Arch = 'x86_64' | 'aarch64';

/** The accelerator chosen and, in words, why (printed by `pixelrts boot`). */
export interface AccelChoice {
  accel: Accel;
  reason: string;
}

/** The guest architecture matching the host CPU, or null when QEMU can only emulate. */
export function hostArch(): Arch | null {
  if (process.arch === 'x64') return 'x86_64';
  if (process.arch === 'arm64') return 'aarch64';
  return null;
}

/** The QEMU system emulator binary for `arch`. */
export function qemuBinary(arch: Arch): string {
  return `qemu-system-${arch}`;
}

/** The executable `cmd` on PATH, or null. */
export function onPath(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const full = path.join(dir, cmd);
    try {
      fs.accessSync(full, fs.constants.X_OK);
      return full;
    } catch { /* not here */ }
  }
  return null;
}

/** Throws a clear error when QEMU for `arch` is not installed; returns its path otherwise. */
export function requireQemu(arch: Arch): string {
  const bin = onPath(qemuBinary(arch));
  if (bin) return bin;
  const pkg = arch === 'x86_64' ? 'qemu-system-x86' : 'qemu-system-arm';
  throw new PixelrtsError('ERR_PIXELRTS_QEMU_MISSING',
    `${qemuBinary(arch)} not found on PATH: install QEMU (Debian: apt-get install ${pkg}; macOS: brew install qemu), ` +
    'or run scripts/install-deps.sh');
}

/**
 * A guest forward that joins the guest's connection to TCP `port` on the host's loopback,
 * through socat (QEMU runs it per connection, its stdin and stdout being the connection; its
 * own messages would reach the guest too, so they go to /dev/null). Throws a clear error
 * when socat is not installed.
 */
export function loopbackForward(guestAddress: string, port: number): GuestForward {
  const socat = onPath('socat');
  if (!socat) {
    throw new PixelrtsError('ERR_PIXELRTS_DEPENDENCY',
      `socat not found on PATH: it joins the guest's connections to 127.0.0.1:${port} on an isolated network. ` +
      'Install it (Debian: apt-get install socat; macOS: brew install socat), or run scripts/install-deps.sh');
  }
  return { guestAddress, guestPort: port, command: [socat, '-lf', '/dev/null', 'STDIO', `TCP:127.0.0.1:${port}`] };
}

/**
 * The x86 probe guest, assembled from assets/kvm-probe/probe.S (a test checks the two agree).
 * Loaded at F000:0000 of a 64 KiB BIOS image; the reset vector jumps to it. It enters and
 * leaves protected mode, programs the local APIC, 8259 and 8254, and waits in HLT for a timer
 * interrupt, then writes 1 to isa-debug-exit: QEMU exits with status 3 only if all that ran.
 */
export const KVM_PROBE_CODE =
  'fa31c08ed08ed8bc00702e0f011688000f20c00c010f22c0bb08008ee324fe0f22c031db8ee366bf5003e0fe646766c7' +
  '0700070000c70680006500c706820000f0b011e620b020e621b004e621b001e621b0fee621b034e643b0a9e640b004e6' +
  '40fbf4ebfdb020e620b001e6f4faf4ebfd8db400008d74000000000000000000ffff00000092cf000f0078000f00';

/** The 64 KiB BIOS image holding the probe guest. */
export function kvmProbeImage(): Buffer {
  const image = Buffer.alloc(65536, 0xf4); // HLT everywhere else
  Buffer.from(KVM_PROBE_CODE, 'hex').copy(image, 0);
  Buffer.from([0xea, 0x00, 0x00, 0x00, 0xf0]).copy(image, 0xfff0); // jmp far F000:0000
  return image;
}

/** How long the probe guest may take before the accelerator is declared broken. */
export const PROBE_TIMEOUT_MS = 800;

/**
 * Runs the probe guest under `accel` with the CPU model we would boot with. Resolves with null
 * when it ran to completion, or with the reason it did not.
 */
export async function probeAccel(accel: 'kvm' | 'tcg', timeoutMs = PROBE_TIMEOUT_MS): Promise<string | null> {
  // The firmware is a nameless file QEMU reads as /dev/fd/3: a boot killed while the probe
  // runs (its first ~250 ms) leaves no temporary file behind.
  const bios = anonymousFile(kvmProbeImage());
  try {
    const args = ['-accel', accel, '-cpu', accel === 'kvm' ? 'host' : 'max', '-machine', 'pc', '-nodefaults',
      '-no-user-config', '-display', 'none', '-m', '16M', '-bios', '/dev/fd/3',
      '-device', 'isa-debug-exit,iobase=0xf4,iosize=1'];
    const started = Date.now();
    return await new Promise<string | null>((resolve) => {
      const child = spawnWithParentDeath(qemuBinary('x86_64'), args, { stdio: ['ignore', 'ignore', 'pipe', bios] });
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 4096) stderr += d; });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('error', (err) => { clearTimeout(timer); resolve(`cannot run ${qemuBinary('x86_64')}: ${err.message}`); });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 3) return resolve(null);
        if (signal === 'SIGKILL' && Date.now() - started >= timeoutMs) {
          return resolve(`a probe guest did not finish within ${timeoutMs} ms under ${accel.toUpperCase()} (the guest hangs)`);
        }
        const detail = stderr.trim().split('\n').filter(Boolean).slice(-2).join(' / ');
        resolve(`a probe guest failed under ${accel.toUpperCase()} (QEMU ${signal ?? `exit ${code}`}${detail ? `: ${detail}` : ''})`);
      });
    });
  } finally {
    fs.closeSync(bios);
  }
}

const accelCache = new Map<string, Promise<AccelChoice>>();

function kvmUsable(): string | null {
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? '/dev/kvm does not exist' : `/dev/kvm is not accessible (${code}; add yourself to the kvm group)`;
  }
}

async function detectUncached(pref: AccelPreference, arch: Arch): Promise<AccelChoice> {
  // Every accelerator needs QEMU: without it the probe below would blame KVM.
  requireQemu(arch);
  const native = hostArch() === arch;
  if (pref === 'tcg') return { accel: 'tcg', reason: 'TCG requested' };
  if (pref === 'hvf' || (pref === 'auto' && process.platform === 'darwin')) {
    if (process.platform !== 'darwin') {
      throw new PixelrtsError('ERR_PIXELRTS_ACCEL', 'HVF is only available on macOS: use --accel auto or --accel tcg');
    }
    if (!native) {
      if (pref === 'hvf') throw new PixelrtsError('ERR_PIXELRTS_ACCEL', `HVF cannot run ${arch} guests on a ${process.arch} Mac: use --accel tcg`);
      return { accel: 'tcg', reason: `HVF cannot run ${arch} guests on this ${process.arch} Mac; using TCG` };
    }
    return { accel: 'hvf', reason: 'macOS Hypervisor.framework (HVF)' };
  }
  // KVM (requested or auto on Linux).
  const problem = process.platform !== 'linux' ? `KVM needs Linux (this is ${process.platform})`
    : !native ? `KVM cannot run ${arch} guests on a ${process.arch} host`
      : kvmUsable();
  if (problem === null && arch === 'x86_64') {
    const failed = await probeAccel('kvm');
    if (failed === null) return { accel: 'kvm', reason: 'KVM ran a probe guest' };
    if (pref === 'kvm') throw new PixelrtsError('ERR_PIXELRTS_ACCEL', `KVM does not work here: ${failed}; use --accel tcg (or auto)`);
    return { accel: 'tcg', reason: `KVM unusable: ${failed}; falling back to TCG` };
  }
  if (problem === null) return { accel: 'kvm', reason: `/dev/kvm is usable (no probe guest for ${arch})` };
  if (pref === 'kvm') throw new PixelrtsError('ERR_PIXELRTS_ACCEL', `KVM requested but ${problem}: use --accel tcg (or auto)`);
  return { accel: 'tcg', reason: `${problem}; using TCG` };
}

/**
 * Chooses the accelerator: `tcg` as asked; `hvf` on macOS; `kvm` only when a probe guest really
 * runs under KVM with `-cpu host` (on hosts where /dev/kvm exists but KVM hangs, the probe is
 * killed after PROBE_TIMEOUT_MS and auto falls back to TCG with the reason). An explicit `kvm`
 * or `hvf` that cannot work throws ERR_PIXELRTS_ACCEL. Cached per process.
 */
export function detectAccel(pref: AccelPreference = 'auto', arch: Arch = hostArch() ?? 'x86_64'): Promise<AccelChoice> {
  const key = `${pref}/${arch}`;
  let p = accelCache.get(key);
  if (!p) {
    p = detectUncached(pref, arch);
    accelCache.set(key, p);
    p.catch(() => accelCache.delete(key));
  }
  return p;
}

/** The guest console device for `arch` (the `console=` kernel argument). */
export function consoleDevice(arch: Arch): string {
  return arch === 'aarch64' ? 'ttyAMA0' : 'ttyS0';
}

/** Adds `console=<device>` for `arch` unless the command line names a console already. */
export function withConsole(cmdline: string, arch: Arch): string {
  if (/(^|\s)console=/.test(cmdline)) return cmdline;
  return `${cmdline.trim()} console=${consoleDevice(arch)}`.trim();
}

/** A host program the guest reaches by connecting to an address of its user-mode network. */
export interface GuestForward {
  /** The address the guest connects to, e.g. `10.0.2.100` (not 10.0.2.2: QEMU keeps that for the host). */
  guestAddress: string;
  guestPort: number;
  /** The program QEMU runs for each connection, its stdin and stdout joined to it (argv). */
  command: string[];
}

/**
 * The MAC of the user-mode network's card: QEMU's own default for a first card, written out so
 * that a guest's network configuration can name the card whatever other cards it has.
 */
export const USER_NETWORK_MAC = '52:54:00:12:34:56';

/** User-mode networking for the guest (`-netdev user`). */
export interface NetworkOptions {
  user: true;
  /**
   * Isolates the guest (QEMU's `restrict=on`): it reaches neither the host's loopback nor
   * anything beyond the host, only the `guestfwd` programs (and `hostfwd` ports reach it).
   */
  restrict?: boolean;
  /** Port forwards, e.g. `{ protocol: 'tcp', hostPort: 5900, guestPort: 5900 }` (host side binds 127.0.0.1). */
  hostfwd?: { protocol?: 'tcp' | 'udp'; hostAddress?: string; hostPort: number; guestPort: number }[];
  /** Guest connections handed to host programs (the only way out of a restricted network). */
  guestfwd?: GuestForward[];
}

/**
 * A network card joined to a switch port over Unix datagram sockets (QEMU's `-netdev dgram`):
 * QEMU binds `localPath` and sends every frame to `remotePath`, the switch's end (lib/net/).
 */
export interface DatagramNetwork {
  localPath: string;
  remotePath: string;
  /** The card's MAC address, e.g. `52:54:0a:4d:04:02`. */
  mac: string;
}

/**
 * How the command channel reaches the guest: `serial` is a second 16550 UART (ttyS1 on x86,
 * no driver module needed); `virtio` is a virtio-serial port named `org.pixelrts.channel`
 * (needs virtio_console in the guest; the only choice on aarch64 `virt`, which has one UART).
 */
export type ChannelKind = 'serial' | 'virtio';

/** The name of the virtio-serial port of the command channel. */
export const CHANNEL_PORT_NAME = 'org.pixelrts.channel';

/**
 * A drive of the guest, in boot order: a disk as a qcow2 overlay QEMU writes to over a
 * read-only base (raw or qcow2) it never writes, a read-only CD-ROM, or a small read-only disk
 * never booted from (a cloud-init seed).
 */
export type Drive =
  | { kind: 'disk'; overlay: string; base: string; baseFormat: 'raw' | 'qcow2' }
  | { kind: 'cdrom'; file: string }
  | { kind: 'seed'; file: string };

/** The firmware of a boot without a kernel: SeaBIOS (QEMU's default), UEFI (OVMF), or a file. */
export type FirmwareChoice =
  | { kind: 'bios' }
  | { kind: 'uefi'; code: string; vars: string }
  | { kind: 'file'; path: string };

export interface QemuArgsOptions {
  arch: Arch;
  accel: Accel;
  /** The kernel of a direct kernel boot; without one the firmware boots the first drive. */
  kernel?: string;
  initrd?: string;
  /** The kernel command line, passed as is (see withConsole); unused without a kernel. */
  cmdline: string;
  /** Disks and CD-ROMs, the first one booted by the firmware (bootindex 0, 1, …). */
  drives?: Drive[];
  /** Firmware (default: QEMU's, SeaBIOS on x86). */
  firmware?: FirmwareChoice;
  /** A device tree blob (-dtb). */
  dtb?: string;
  /**
   * A `-readconfig` file holding the command line (cmdlineConfigText's text): then the command
   * line is not on QEMU's own, which every local user can read in /proc/PID/cmdline.
   */
  cmdlineConfig?: string;
  /** Guest memory, e.g. '512M' or '2G' (default 512M; at least 16M, see resources.ts). */
  memory?: string;
  cpus?: number;
  /** Unix socket QEMU serves QMP on. */
  qmpSocket: string;
  /** Unix socket QEMU serves the command channel on. */
  channelSocket: string;
  channel?: ChannelKind;
  /** VNC display (e.g. `:1` or `127.0.0.1:1`); adds a display device. */
  vnc?: string;
  /** A display device and the keyboard and tablets that drive it (implied by `vnc`). */
  screen?: boolean;
  network?: NetworkOptions;
  /** A card on a private switch; it comes before `network`'s, so the guest sees it first (eth0). */
  datagramNetwork?: DatagramNetwork;
  /** Start with the CPUs stopped (-S): the machine is built, the guest runs at QMP `cont`. */
  paused?: boolean;
  /** Extra arguments appended verbatim. */
  extra?: string[];
}

/**
 * The `-readconfig` text that gives QEMU the kernel command line `cmdline`, or null when QEMU's
 * config syntax cannot hold it (a double quote, or over 1023 bytes: its parser's limits), in
 * which case it goes on QEMU's command line.
 */
export function cmdlineConfigText(cmdline: string): string | null {
  if (cmdline.includes('"') || /[\r\n]/.test(cmdline) || Buffer.byteLength(cmdline) > 1023) return null;
  return `# the kernel command line, kept out of /proc/PID/cmdline\n[machine]\n  append = "${cmdline}"\n`;
}

/**
 * The devices of a VM with a screen: a display, a keyboard (the PC's own PS/2 one on x86) and
 * an absolute pointer. Two tablets, because guests differ in what they drive: a USB tablet
 * (every desktop OS has its driver) and a virtio one (kernels built without USB, such as
 * Debian's cloud kernels). QEMU sends pointer events to whichever one the guest activated.
 */
function screenDeviceArgs(arch: Arch): string[] {
  const keyboard = arch === 'aarch64' ? ['-device', 'virtio-keyboard-pci'] : [];
  return ['-device', arch === 'aarch64' ? 'ramfb' : 'VGA', ...keyboard,
    '-device', 'virtio-tablet-pci', '-device', 'qemu-xhci,id=pxusb', '-device', 'usb-tablet,bus=pxusb.0'];
}

/**
 * -blockdev / -device arguments for `drives`, in boot order (`bootable`: the firmware boots
 * them, so they get boot indexes; a direct kernel boot owns index 0 itself). Bases are opened
 * read-only and without file locks (the FUSE mount serves them read-only, it has no locks).
 */
function driveArgs(drives: Drive[], arch: Arch, bootable: boolean): string[] {
  const args: string[] = [];
  const index = (i: number) => (bootable ? `,bootindex=${i}` : '');
  const file = (filename: string) => ({ driver: 'file', filename, locking: 'off' });
  let scsi = false;
  drives.forEach((d, i) => {
    if (d.kind === 'disk') {
      const base = { 'node-name': `pxd${i}base`, driver: d.baseFormat, 'read-only': true, file: file(d.base), ...(d.baseFormat === 'qcow2' ? { backing: null } : {}) };
      const top = { 'node-name': `pxd${i}`, driver: 'qcow2', file: { driver: 'file', filename: d.overlay }, backing: `pxd${i}base` };
      args.push('-blockdev', JSON.stringify(base), '-blockdev', JSON.stringify(top),
        '-device', `virtio-blk-pci,drive=pxd${i}${index(i)}`);
    } else if (d.kind === 'seed') {
      // A small read-only disk (a cloud-init seed); never booted from.
      args.push('-blockdev', JSON.stringify({ 'node-name': `pxd${i}`, driver: 'raw', 'read-only': true, file: file(d.file) }),
        '-device', `virtio-blk-pci,drive=pxd${i}`);
    } else {
      args.push('-blockdev', JSON.stringify({ 'node-name': `pxd${i}`, driver: 'raw', 'read-only': true, file: file(d.file) }));
      if (arch === 'aarch64') {
        // The virt machine has no IDE: a SCSI CD-ROM on virtio-scsi.
        if (!scsi) args.push('-device', 'virtio-scsi-pci,id=pxscsi');
        scsi = true;
        args.push('-device', `scsi-cd,bus=pxscsi.0,drive=pxd${i}${index(i)}`);
      } else {
        args.push('-device', `ide-cd,drive=pxd${i}${index(i)}`);
      }
    }
  });
  return args;
}

/** The default channel kind for `arch`. */
export function defaultChannel(arch: Arch): ChannelKind {
  return arch === 'aarch64' ? 'virtio' : 'serial';
}

/**
 * Builds QEMU's argument list (without the binary): direct kernel boot, the console on stdio,
 * QMP and the command channel on Unix sockets QEMU listens on, `-no-reboot`, no default devices.
 */
export function qemuArgs(o: QemuArgsOptions): string[] {
  // QEMU option values are comma-separated: a comma inside a path is written twice.
  const opt = (p: string) => p.replace(/,/g, ',,');
  const args: string[] = ['-nodefaults', '-no-user-config', '-no-reboot'];
  if (o.paused) args.push('-S');
  if (o.arch === 'aarch64') args.push('-machine', 'virt');
  else args.push('-machine', 'pc');
  args.push('-accel', o.accel, '-cpu', o.accel === 'tcg' ? 'max' : 'host');
  args.push('-m', `${memoryMiB(o.memory ?? '512M', 'memory')}M`, '-smp', String(cpuCount(o.cpus ?? 1, 'cpus')));
  if (o.kernel) {
    args.push('-kernel', o.kernel);
    if (o.initrd) args.push('-initrd', o.initrd);
    if (o.cmdlineConfig) args.push('-readconfig', o.cmdlineConfig);
    else args.push('-append', o.cmdline);
  }
  if (o.firmware?.kind === 'uefi') {
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${opt(o.firmware.code)}`,
      '-drive', `if=pflash,format=raw,unit=1,file=${opt(o.firmware.vars)}`);
  } else if (o.firmware?.kind === 'file') {
    args.push('-bios', o.firmware.path);
  }
  if (o.dtb) args.push('-dtb', o.dtb);
  args.push(...driveArgs(o.drives ?? [], o.arch, !o.kernel));
  // The console: the first UART on QEMU's stdin/stdout. signal=off: a ^C typed into the
  // console goes to the guest; the host process decides about its own signals.
  args.push('-chardev', 'stdio,id=pxcon,signal=off', '-serial', 'chardev:pxcon');
  args.push('-chardev', `socket,id=pxqmp,path=${opt(o.qmpSocket)},server=on,wait=off`, '-mon', 'chardev=pxqmp,mode=control');
  args.push('-chardev', `socket,id=pxch,path=${opt(o.channelSocket)},server=on,wait=off`);
  if ((o.channel ?? defaultChannel(o.arch)) === 'serial') {
    if (o.arch === 'aarch64') {
      throw new PixelrtsError('ERR_PIXELRTS_USAGE', 'the aarch64 virt machine has one UART: use the virtio command channel');
    }
    args.push('-serial', 'chardev:pxch');
  } else {
    args.push('-device', o.arch === 'aarch64' ? 'virtio-serial-device' : 'virtio-serial-pci',
      '-device', `virtserialport,chardev=pxch,name=${CHANNEL_PORT_NAME}`);
  }
  if (o.vnc || o.screen) args.push(...screenDeviceArgs(o.arch));
  if (o.vnc) args.push('-vnc', o.vnc);
  else args.push('-display', 'none');
  if (o.datagramNetwork) {
    const d = o.datagramNetwork;
    args.push('-netdev', `dgram,id=pxpriv,local.type=unix,local.path=${opt(d.localPath)},remote.type=unix,remote.path=${opt(d.remotePath)}`,
      '-device', `virtio-net-pci,netdev=pxpriv,mac=${d.mac}`);
  }
  if (o.network) {
    const fwd = (o.network.hostfwd ?? []).map((f) =>
      `,hostfwd=${f.protocol ?? 'tcp'}:${f.hostAddress ?? '127.0.0.1'}:${f.hostPort}-:${f.guestPort}`).join('');
    // QEMU splits the program's command line like a shell does (GLib's g_shell_parse_argv).
    const shellWord = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
    const gfwd = (o.network.guestfwd ?? []).map((g) =>
      `,guestfwd=tcp:${g.guestAddress}:${g.guestPort}-cmd:${opt(g.command.map(shellWord).join(' '))}`).join('');
    args.push('-netdev', `user,id=pxnet${o.network.restrict ? ',restrict=on' : ''}${fwd}${gfwd}`,
      '-device', `virtio-net-pci,netdev=pxnet,mac=${USER_NETWORK_MAC}`);
  }
  if (o.extra) args.push(...o.extra);
  return args;
}

let setprivPath: string | null | undefined;

function setpriv(): string | null {
  if (setprivPath === undefined) {
    setprivPath = process.platform === 'linux' ? onPath('setpriv') : null;
    // A setpriv predating --pdeathsig (util-linux < 2.33) would fail every spawn: check once.
    if (setprivPath && spawnSync(setprivPath, ['--pdeathsig', 'SIGKILL', '--', 'true']).status !== 0) setprivPath = null;
  }
  return setprivPath;
}

/** True when spawned children die with this process (a parent-death signal is available). */
export function parentDeathSupported(): boolean {
  return setpriv() !== null;
}

/**
 * Spawns `command` so that it is SIGKILLed when this process dies, even by SIGKILL: on Linux
 * through util-linux `setpriv --pdeathsig SIGKILL` (the death signal survives the exec into
 * `command`). Elsewhere (macOS) there is no parent-death signal and the child is spawned as is.
 */
export function spawnWithParentDeath(command: string, args: string[], options: Parameters<typeof spawn>[2] = {}): ChildProcess {
  const sp = setpriv();
  if (sp) return spawn(sp, ['--pdeathsig', 'SIGKILL', '--', command, ...args], options);
  return spawn(command, args, options);
}

/**
 * Spawns QEMU for `arch` with `args` (from qemuArgs): stdin/stdout are the guest console,
 * stderr carries QEMU's own messages. QEMU is killed if this Node process dies.
 */
export function spawnQemu(arch: Arch, args: string[]): ChildProcess {
  return spawnWithParentDeath(requireQemu(arch), args, { stdio: ['pipe', 'pipe', 'pipe'] });
}
