/**
 * One-command boot: a `.rts.png` container straight into QEMU, without extracting anything.
 *
 * verify (the payload's hashes, unless `noVerify`) → mount the container (FUSE) in a private
 * 0700 runtime directory → find the kernel, initrd and command line → `launchVm` with the
 * kernel and initrd paths inside the mount → when QEMU exits: unmount and remove the runtime
 * directory. A helper process removes that directory if this process is killed outright;
 * QEMU (parent-death signal) and the mount (auto_unmount) go away by themselves.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PixelrtsError } from './errors';
import { open, type Container } from './container';
import { mount, type Mount } from './mount';
import { launchVm, type VM, type VmExit } from './vm';
import { createRuntimeDir, removeRuntimeDir, runtimeRoot, startCleanupWatcher, type CleanupWatcher } from './runtime-dir';

/** Guest architectures pixelrts boots. */
export type BootArch = 'x86_64' | 'aarch64';

/** Accelerator choices: `auto` picks one that really runs guests (KVM only when it works). */
export type BootAccel = 'auto' | 'kvm' | 'hvf' | 'tcg';

/** The stages of a boot, in order. */
export type BootStage = 'open' | 'verify' | 'mount' | 'accel' | 'qemu-start' | 'first-console-line' | 'exit';

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
  /** Guest memory: a size like `'512M'` / `'2G'`, or a number of MiB (default `'512M'`). */
  memory?: string | number;
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
  /** VNC display for the guest's screen, e.g. `':1'` (default: no display). */
  vnc?: string;
  /** Extra QEMU arguments, appended as given. */
  qemuArgs?: string[];
  /** Also write everything the guest prints on its console to this file. */
  serialLog?: string;
  /** Give the guest user-mode networking (it reaches the host at 10.0.2.2). */
  network?: boolean;
  /**
   * An existing, empty, private (0700) directory to use as the runtime directory instead of a
   * new one under the per-user runtime root. It is removed when the VM exits.
   */
  runtimeDir?: string;
  /** Called as each stage starts and ends. */
  onStage?: (event: BootStageEvent) => void;
}

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
  /** Absolute path of the booted container. */
  readonly image: string;
  /** Where the container is mounted while the VM runs. */
  readonly mountpoint: string;
  /** The kernel command line the guest got. */
  readonly cmdline: string;
  /** Duration in ms of each finished stage. */
  readonly stages: Partial<Record<BootStage, number>>;
};

/** The architecture of this machine in QEMU's spelling (x86_64 or aarch64). */
export function hostArch(): BootArch {
  return process.arch === 'arm64' ? 'aarch64' : 'x86_64';
}

/** The Debian package that provides `qemu-system-<arch>`. */
export function qemuPackage(arch: BootArch): string {
  return arch === 'aarch64' ? 'qemu-system-arm' : 'qemu-system-x86';
}

/** The absolute path of `qemu-system-<arch>` on PATH; throws ERR_PIXELRTS_QEMU_MISSING with the install command. */
export function findQemu(arch: BootArch): string {
  const name = `qemu-system-${arch}`;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here; keep looking
    }
  }
  const install = process.platform === 'darwin'
    ? 'brew install qemu'
    : `sudo apt-get install ${qemuPackage(arch)} (Debian/Ubuntu; or run scripts/install-deps.sh)`;
  throw new PixelrtsError('ERR_PIXELRTS_QEMU_MISSING',
    `${name} was not found on PATH (${process.env.PATH ?? ''}). Install it: ${install}.`);
}

/** The serial console device of the guest's first UART on `arch`. */
function serialConsole(arch: BootArch): string {
  return arch === 'aarch64' ? 'ttyAMA0' : 'ttyS0';
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
  if (!words.some((w) => /^console=(ttyS|ttyAMA|hvc)/.test(w))) words.push(`console=${serialConsole(arch)}`);
  return words.join(' ');
}

/** Kernel file names seen in the wild (spec §6), in order of preference. */
const KERNEL_NAMES = ['kernel', 'vmlinuz', 'bzImage', 'vmlinux', 'Image'];
const INITRD_NAMES = ['initrd', 'initramfs', 'initrd.img', 'initramfs.img'];

interface BootFiles {
  kernel: string;
  initrd?: string;
}

/** Describes a container's files for error messages: `a (2.1 MiB, kernel), b (512 B)`. */
function describeFiles(container: Container): string {
  if (container.files.length === 0) return 'nothing';
  return container.files.map((f) => `${f.name} (${formatSize(f.size)}${f.type ? `, type ${f.type}` : ''})`).join(', ');
}

function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** Finds the kernel and the initrd of a container; throws ERR_PIXELRTS_NO_KERNEL listing what it holds. */
function findBootFiles(container: Container, image: string): BootFiles {
  const byName = (names: string[], type: string): string | undefined =>
    container.files.find((f) => f.type === type)?.name ??
    names.map((n) => container.files.find((f) => f.name === n || path.basename(f.name) === n)?.name).find(Boolean);
  const kernel = container.kernelFile()?.name ?? byName(KERNEL_NAMES, 'kernel');
  if (!kernel) {
    throw new PixelrtsError('ERR_PIXELRTS_NO_KERNEL',
      `${image} holds no kernel: expected a segment of type kernel or named ${KERNEL_NAMES.join('/')}, found ${describeFiles(container)}. ` +
      'Make a bootable container with `pixelrts convert --segment kernel=path/to/vmlinuz --segment initrd=path/to/initrd out.rts.png`.');
  }
  const initrd = container.initrdFile()?.name ?? byName(INITRD_NAMES, 'initrd');
  return { kernel, initrd };
}

/** Checks the payload's hashes; throws ERR_PIXELRTS_VERIFY naming the file, expected vs found, and the override. */
async function verifyContainer(container: Container, image: string): Promise<string> {
  const result = await container.verify();
  const bad = result.files.filter((f) => !f.ok);
  if (result.ok && bad.length === 0) return `${result.files.length} hash${result.files.length === 1 ? '' : 'es'} ok`;
  const what = bad.map((f) => `${f.name}: expected sha256 ${f.expected ?? '?'}, found ${f.found ?? '?'}`).join('; ');
  throw new PixelrtsError('ERR_PIXELRTS_VERIFY',
    `${image} failed verification, so it was not booted: ${what || 'the payload hash does not match'}. ` +
    'The container is damaged or was modified: re-create or re-download it, or boot it anyway with --no-verify.');
}

/** The exit code and a sentence for how QEMU ended. */
export function describeExit(exit: VmExit, shutdownReason?: string): { exitCode: number; reason: string } {
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
 * Errors (all `PixelrtsError`): ERR_PIXELRTS_VERIFY (hash mismatch, before QEMU starts),
 * ERR_PIXELRTS_NO_KERNEL, ERR_PIXELRTS_QEMU_MISSING, ERR_PIXELRTS_ACCEL, the mount's and the
 * codec's errors.
 */
export async function boot(file: string, options: BootOptions = {}): Promise<BootedVm> {
  const t0 = performance.now();
  const stages: Partial<Record<BootStage, number>> = {};
  const emit = (stage: BootStage, status: BootStageEvent['status'], startedAt: number, detail?: string): void => {
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

  const image = path.resolve(file);
  if (!fs.existsSync(image)) {
    throw new PixelrtsError('ERR_PIXELRTS_NOT_FOUND', `${image}: no such file. Check the path of the container to boot.`);
  }

  let container: Container | undefined;
  // A directory handed in is ours from here on: removed on failure as on exit.
  let runtimeDir: string | undefined = options.runtimeDir;
  let watcher: CleanupWatcher | undefined;
  let mounted: Mount | undefined;
  const cleanup = async (): Promise<string[]> => {
    const problems: string[] = [];
    if (mounted) {
      try {
        await mounted.unmount();
      } catch (err) {
        problems.push(`unmounting ${mounted.mountpoint}: ${(err as Error).message}`);
      }
      mounted = undefined;
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

  try {
    container = await stage('open', () => open(image), (c) => `${c.files.length} file${c.files.length === 1 ? '' : 's'}`);
    const meta = container.metadata as Record<string, unknown>;
    const metaArch = meta.arch === 'aarch64' || meta.arch === 'arm64' ? 'aarch64' : meta.arch === 'x86_64' ? 'x86_64' : undefined;
    const arch: BootArch = options.arch ?? metaArch ?? hostArch();
    // Before the slow stages: a missing QEMU or kernel is found in milliseconds.
    findQemu(arch);
    const files = findBootFiles(container, image);
    const cmdline = composeCmdline(typeof meta.cmdline === 'string' ? meta.cmdline : undefined, options, arch);

    if (options.noVerify) {
      emit('verify', 'skipped', performance.now(), '--no-verify');
    } else {
      const c = container;
      await stage('verify', () => verifyContainer(c, image), (d) => d);
    }

    runtimeDir ??= createRuntimeDir(runtimeRoot(), path.basename(image).replace(/\.rts\.png$|\.png$/i, ''));
    watcher = startCleanupWatcher(runtimeDir);
    const mountpoint = path.join(runtimeDir, 'mnt');
    const id = path.basename(runtimeDir);
    fs.mkdirSync(mountpoint, { mode: 0o700 });
    const c = container;
    mounted = await stage('mount', () => mount(c, mountpoint), () => mountpoint);
    const inMount = (name: string): string => {
      // The mount presents /kernel and /initrd (DIRECT-02); fall back to the segment's own name.
      const alias = path.join(mountpoint, name === files.kernel ? 'kernel' : 'initrd');
      return fs.existsSync(alias) ? alias : path.join(mountpoint, name);
    };

    const vm = await stage('qemu-start', () => launchVm({
      kernel: inMount(files.kernel),
      ...(files.initrd ? { initrd: inMount(files.initrd) } : {}),
      cmdline,
      memory: options.memory ?? '512M',
      cpus: options.cpus ?? 1,
      accel: options.accel ?? 'auto',
      arch,
      runtimeDir,
      ...(options.vnc !== undefined ? { vnc: options.vnc } : {}),
      ...(options.qemuArgs ? { qemuArgs: options.qemuArgs } : {}),
      ...(options.serialLog !== undefined ? { serialLog: options.serialLog } : {}),
      ...(options.network ? { network: true } : {}),
    }), (v) => `pid ${v.pid}`);
    emit('accel', 'done', performance.now(), `${vm.accel.accel}: ${vm.accel.reason}`);
    if (options.accel && options.accel !== 'auto' && vm.accel.accel !== options.accel) {
      vm.kill();
      await vm.exited.catch(() => undefined);
      throw new PixelrtsError('ERR_PIXELRTS_ACCEL',
        `--accel ${options.accel} is not usable here (${vm.accel.reason}). Use --accel auto, which falls back to one that works, or --accel tcg.`);
    }

    const consoleStarted = performance.now();
    emit('first-console-line', 'start', consoleStarted);
    vm.console.once('line', () => emit('first-console-line', 'done', consoleStarted));

    let shutdownReason: string | undefined;
    vm.on('qmp-event', (ev: { event: string; data?: { reason?: string } }) => {
      if (ev.event === 'SHUTDOWN' && ev.data?.reason) shutdownReason = ev.data.reason;
    });

    const exitStarted = performance.now();
    const exited: Promise<BootExit> = vm.exited.then(async (exit) => {
      const teardownErrors = await cleanup();
      const { exitCode, reason } = describeExit(exit, shutdownReason);
      emit('exit', teardownErrors.length === 0 ? 'done' : 'failed', exitStarted,
        `${reason}${teardownErrors.length ? `; teardown: ${teardownErrors.join('; ')}` : ''}`);
      return { ...exit, exitCode, reason, teardownErrors };
    });
    return Object.assign(vm, {
      id,
      image,
      mountpoint,
      cmdline,
      stages,
    }, { exited }) as unknown as BootedVm;
  } catch (err) {
    await cleanup();
    throw err;
  }
}
