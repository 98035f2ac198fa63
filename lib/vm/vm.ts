/**
 * A running virtual machine: QEMU with a direct kernel boot, its console, QMP and command
 * channel, and a lifecycle that leaves nothing behind (runtime directory, sockets, process).
 *
 * ```ts
 * const vm = await launchVm({ kernel: 'vmlinuz', initrd: 'initrd.gz', cmdline: 'quiet' });
 * vm.console.on('line', (l) => console.log('VM:', l));
 * console.log(await vm.qmp.execute('query-status'));         // { status: 'running', ... }
 * console.log(await vm.request({ data: { message: 'ping' } })); // the agent's reply
 * const { poweredOff } = await vm.shutdown({ timeout: 10000 });
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Channel, type LivenessEvent, type RequestOptions } from './channel';
import { Console } from './console';
import { PixelrtsError } from '../errors';
import type { InvalidMessage, OutgoingMessage, VmMessage } from './messages';
import { QmpClient, type QmpEvent } from './qmp';
import { cpuCount, memoryMiB } from './resources';
import {
  cmdlineConfigText, detectAccel, hostArch, qemuArgs, requireQemu, spawnQemu, withConsole,
  type Accel, type AccelPreference, type Arch, type ChannelKind, type DatagramNetwork, type Drive, type FirmwareChoice, type NetworkOptions,
} from './qemu';

/** A stage of launching, reported through `onStage` (boot-cli prints them with timings). */
export interface LaunchStage {
  stage: 'accel' | 'spawn' | 'qmp';
  /** Milliseconds the stage took. */
  ms: number;
  detail?: string;
}

export interface LaunchOptions {
  /** The kernel of a direct kernel boot; without one the firmware boots the first of `drives`. */
  kernel?: string;
  initrd?: string;
  /** Disks (copy-on-write overlays over read-only bases) and CD-ROMs, in boot order. */
  drives?: Drive[];
  /** Firmware: SeaBIOS by default on x86, UEFI (OVMF) or a firmware file. */
  firmware?: FirmwareChoice;
  /** A device tree blob for the guest (-dtb). */
  dtb?: string;
  /** Kernel command line; `console=` for the architecture is added unless present. */
  cmdline?: string;
  /** Guest memory, e.g. '512M' or '2G' (default '512M'; at least 16M, see resources.ts). */
  memory?: string;
  cpus?: number;
  accel?: AccelPreference;
  arch?: Arch;
  /**
   * Show the guest's screen over VNC. `true`: on the Unix socket `vnc.sock` in the runtime
   * directory, which only this user can open. A display (`'127.0.0.1:1'`, `':1'` for
   * 127.0.0.1:1, `'0.0.0.0:1'` to listen beyond this machine): over TCP, with a random
   * password QEMU asks every client for (`vm.vnc.password`). Default: no display.
   */
  vnc?: true | string;
  /**
   * Give the guest a screen (a display device, a keyboard and an absolute pointer) without
   * serving it over VNC: for screenshots and input through QMP. `vnc` implies it.
   */
  screen?: boolean;
  /** Extra QEMU arguments, appended verbatim. */
  qemuArgs?: string[];
  /** Also append everything the guest prints on its console to this file. */
  serialLog?: string;
  network?: NetworkOptions;
  /** A card on a private switch (lib/net/), the guest's first. */
  datagramNetwork?: DatagramNetwork;
  /** The command channel's transport (default: a second UART on x86_64, virtio on aarch64). */
  channel?: ChannelKind;
  /** A private 0700 directory for the sockets; default: a fresh one under $XDG_RUNTIME_DIR or the temp dir. It is removed on exit either way. */
  runtimeDir?: string;
  /** How long to wait for QMP (ms, default 10000). */
  startTimeout?: number;
  /**
   * Build the machine but keep its CPUs stopped until `vm.qmp.execute('cont')`: QEMU's own
   * start-up (loading the kernel, the firmware) then overlaps work the caller still has to
   * finish before the guest may run, such as verifying the image.
   */
  paused?: boolean;
  /** Heartbeat silence that makes the guest `unresponsive` (ms, default 3000). */
  heartbeatTimeout?: number;
  onStage?: (stage: LaunchStage) => void;
}

/** Where the guest's screen is served (see LaunchOptions.vnc). */
export type VncEndpoint =
  | { socket: string }
  | { host: string; port: number; password: string };

/** How the VM ended. */
export interface VmExit {
  /** QEMU's exit status (null when killed by a signal). */
  code: number | null;
  signal: string | null;
  /** The guest powered itself off (QMP SHUTDOWN with guest=true, reason guest-shutdown). */
  poweredOff: boolean;
  /** The reason of QEMU's last SHUTDOWN event, if any (guest-shutdown, guest-reset, host-qmp-quit, ...). */
  shutdownReason: string | null;
  /** The tail of QEMU's own stderr (its error messages). */
  stderr: string;
}

export interface ShutdownOptions {
  /** Total budget in ms (default 10000): the guest gets 70% of it to power off after system_powerdown, `quit` 20%, SIGKILL the rest. */
  timeout?: number;
}

function runtimeBase(): string {
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg) {
    try {
      fs.accessSync(xdg, fs.constants.W_OK);
      return xdg;
    } catch { /* fall through */ }
  }
  return os.tmpdir();
}

/** Creates a fresh private (0700) runtime directory for one VM. */
export function makeRuntimeDir(): string {
  const dir = fs.mkdtempSync(path.join(runtimeBase(), 'pixelrts-vm-'));
  fs.chmodSync(dir, 0o700);
  return dir;
}

/**
 * Removes `dir` when this process dies, however it dies (SIGKILL included): a `sh` that blocks
 * reading a pipe from us; the kernel closes the pipe when we die, `read` returns, `rm -rf`
 * runs. On a normal exit we remove the directory ourselves and close the pipe; the janitor
 * then finds nothing to remove and exits. (QEMU itself dies by its parent-death signal.)
 */
export function startJanitor(dir: string): ChildProcess {
  const child = spawn('sh', ['-c', 'read -r _; rm -rf -- "$0"', dir], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  child.on('error', () => { /* no sh: the normal-exit cleanup still runs */ });
  child.stdin?.on('error', () => undefined);
  return child;
}

/** The events of a VM and their arguments (VM.on is typed by them). */
export interface VmEvents {
  /** The guest's agent announced itself: the command channel is ready. */
  agent: [message: VmMessage];
  /** A structured message from the console or the command channel. */
  message: [message: VmMessage];
  /** A JSON line that does not fit the message schema. */
  'invalid-message': [invalid: InvalidMessage];
  /** The guest's heartbeats stopped / came back. */
  unresponsive: [event: LivenessEvent];
  responsive: [event: LivenessEvent];
  /** An event QEMU sent on QMP (SHUTDOWN, RESET, STOP, ...). */
  'qmp-event': [event: QmpEvent];
  /** Trouble that does not stop the VM (the serial log cannot be written, the mount went away). */
  warning: [error: PixelrtsError];
  /** QEMU exited and everything was cleaned up. */
  exit: [exit: VmExit];
  /** Every EventEmitter's own: a listener is being added / was removed. */
  newListener: [event: string | symbol, listener: (...args: unknown[]) => void];
  removeListener: [event: string | symbol, listener: (...args: unknown[]) => void];
}

/** A running VM; its events are VmEvents. */
export class VM extends EventEmitter {
  readonly pid: number;
  readonly runtimeDir: string;
  readonly qmpSocket: string;
  readonly channelSocket: string;
  readonly accel: Accel;
  /** Why this accelerator was chosen. */
  readonly accelReason: string;
  readonly arch: Arch;
  /** The full QEMU command line (binary first). */
  readonly commandLine: string[];
  /** Where the guest's screen is served, or null without a display. */
  readonly vnc: VncEndpoint | null;
  readonly console: Console;
  readonly channel: Channel;
  /** Settles when QEMU has exited and everything is cleaned up. */
  readonly exited: Promise<VmExit>;
  private qmpClient: QmpClient | null = null;
  private readonly child: ChildProcess;
  private exitInfo: VmExit | null = null;
  private childGone = false;
  private shutdownEvent: QmpEvent | null = null;
  private stderrTail = '';

  /** @internal use launchVm */
  constructor(init: {
    child: ChildProcess; runtimeDir: string; ownsRuntimeDir: boolean; qmpSocket: string; channelSocket: string;
    accel: Accel; accelReason: string; arch: Arch; commandLine: string[]; serialLog?: string; heartbeatTimeout?: number;
    vnc: VncEndpoint | null; files: string[];
  }) {
    super();
    this.child = init.child;
    this.pid = init.child.pid as number;
    this.runtimeDir = init.runtimeDir;
    this.qmpSocket = init.qmpSocket;
    this.channelSocket = init.channelSocket;
    this.accel = init.accel;
    this.accelReason = init.accelReason;
    this.arch = init.arch;
    this.commandLine = init.commandLine;
    this.vnc = init.vnc;
    const janitor = init.ownsRuntimeDir ? startJanitor(init.runtimeDir) : null;
    // Console output is held until someone listens to it (or to the VM's messages), so
    // listeners attached after `await launchVm(...)` still see the first lines.
    this.console = new Console({
      input: init.child.stdin,
      hold: true,
      forward: { message: (m) => this.emit('message', m), invalid: (m) => this.emit('invalid-message', m) },
    });
    this.on('newListener', (event) => {
      if (event === 'message' || event === 'invalid-message') setImmediate(() => this.console.release());
    });
    init.child.stdin?.on('error', () => { /* QEMU gone: writes fail, `exit` tells why */ });
    const log = init.serialLog ? fs.createWriteStream(init.serialLog, { flags: 'a' }) : null;
    log?.on('error', (err) => this.emit('warning', new PixelrtsError('ERR_PIXELRTS_SERIAL_LOG', `cannot write serial log ${init.serialLog}: ${err.message}`)));
    init.child.stdout?.on('data', (chunk: Buffer) => {
      log?.write(chunk);
      this.console.push(chunk);
    });
    init.child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-8192);
    });
    this.channel = new Channel({
      socketPath: init.channelSocket,
      heartbeatTimeout: init.heartbeatTimeout,
      shouldReconnect: () => !this.childGone,
    });
    this.channel.on('agent', (m: VmMessage) => this.emit('agent', m));
    this.channel.on('message', (m: VmMessage) => this.emit('message', m));
    this.channel.on('invalid-message', (m: InvalidMessage) => this.emit('invalid-message', m));
    this.channel.on('unresponsive', (e: LivenessEvent) => this.emit('unresponsive', e));
    this.channel.on('responsive', (e: LivenessEvent) => this.emit('responsive', e));

    this.exited = new Promise<VmExit>((resolve) => {
      // 'close' (not 'exit'): stdout has been drained, so the console saw every byte.
      init.child.once('close', (code, signal) => {
        this.childGone = true;
        this.console.end();
        log?.end();
        this.channel.close('the VM has exited');
        const finish = () => {
          const reason = this.shutdownEvent?.data?.reason;
          const info: VmExit = {
            code,
            signal,
            poweredOff: this.shutdownEvent?.data?.guest === true && reason === 'guest-shutdown',
            shutdownReason: typeof reason === 'string' ? reason : null,
            stderr: this.stderrTail,
          };
          this.exitInfo = info;
          if (init.ownsRuntimeDir) fs.rmSync(init.runtimeDir, { recursive: true, force: true });
          janitor?.stdin?.end();
          if (!init.ownsRuntimeDir) for (const s of init.files) fs.rmSync(s, { force: true });
          this.emit('exit', info);
          resolve(info);
        };
        // QEMU may exit before we have read its last QMP messages (the SHUTDOWN event that
        // tells a guest power-off from a kill): read the QMP socket to its end first.
        if (this.qmpClient) this.qmpClient.close().then(finish, finish);
        else finish();
      });
    });
  }

  /**
   * Resolves once the guest's agent has announced itself on the command channel (what `send`
   * and `request` wait for before they write); rejects after `timeout` ms (default 30000).
   */
  ready(options: { timeout?: number } = {}): Promise<void> {
    return this.channel.ready(options);
  }

  /** The QMP session (connected before launchVm resolves). */
  get qmp(): QmpClient {
    if (!this.qmpClient) throw new PixelrtsError('ERR_PIXELRTS_QMP_CLOSED', 'QMP is not connected yet');
    return this.qmpClient;
  }

  /** True while QEMU runs. */
  get running(): boolean {
    return !this.childGone;
  }

  /** The tail of QEMU's stderr so far. */
  get stderr(): string {
    return this.stderrTail;
  }

  /** @internal */
  attachQmp(qmp: QmpClient): void {
    this.qmpClient = qmp;
    qmp.on('event', (ev: QmpEvent) => {
      if (ev.event === 'SHUTDOWN') this.shutdownEvent = ev;
      this.emit('qmp-event', ev);
    });
  }

  /** Sends one message on the command channel (see Channel.send). */
  send(message: OutgoingMessage): VmMessage {
    return this.channel.send(message);
  }

  /** Sends a request on the command channel and resolves with the guest's reply (see Channel.request). */
  request(message: OutgoingMessage, options?: RequestOptions): Promise<VmMessage> {
    return this.channel.request(message, options);
  }

  /**
   * Shuts the VM down gracefully: ACPI `system_powerdown` over QMP and wait; then QMP `quit`
   * and wait; then SIGKILL. Resolves with how it ended.
   */
  async shutdown(options: ShutdownOptions = {}): Promise<VmExit> {
    if (this.exitInfo) return this.exitInfo;
    const total = options.timeout ?? 10000;
    // The timer is cleared when QEMU exits first: left pending it would keep the process alive
    // for the rest of the step (up to 7 s) after a guest that powered off at once.
    const waitExit = (ms: number) => new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      void this.exited.then(() => { clearTimeout(timer); resolve(true); });
    });
    const tryQmp = async (cmd: string) => {
      try { await this.qmpClient?.execute(cmd, undefined, { timeout: 1000 }); } catch { /* QEMU may be gone or hung: the next step handles it */ }
    };
    await tryQmp('system_powerdown');
    if (await waitExit(total * 0.7)) return this.exited;
    await tryQmp('quit');
    if (await waitExit(total * 0.2)) return this.exited;
    return this.kill();
  }

  /** Kills QEMU at once (SIGKILL) and resolves when it is gone and cleaned up. */
  kill(): Promise<VmExit> {
    if (!this.childGone) this.child.kill('SIGKILL');
    return this.exited;
  }
}

/**
 * A VNC password: 8 characters (all the VNC protocol's DES challenge uses) from 62, drawn
 * from the system's CSPRNG, about 47 bits.
 */
function vncPassword(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  while (out.length < 8) {
    for (const b of crypto.randomBytes(16)) {
      if (b < 248 && out.length < 8) out += alphabet[b % 62];  // 248 = 4 × 62: no bias
    }
  }
  return out;
}


// Typed on/once/off/emit: the events above, with their arguments.
export interface VM {
  on<E extends keyof VmEvents>(event: E, listener: (...args: VmEvents[E]) => void): this;
  once<E extends keyof VmEvents>(event: E, listener: (...args: VmEvents[E]) => void): this;
  off<E extends keyof VmEvents>(event: E, listener: (...args: VmEvents[E]) => void): this;
  emit<E extends keyof VmEvents>(event: E, ...args: VmEvents[E]): boolean;
}

/**
 * Starts QEMU for a direct kernel boot and resolves, with a VM, once QMP is connected (the
 * command channel connects in the background). On failure QEMU is killed, the runtime
 * directory removed, and the error carries QEMU's own message.
 */
export async function launchVm(options: LaunchOptions): Promise<VM> {
  const arch = options.arch ?? hostArch() ?? 'x86_64';
  // Checked before anything starts (qemuArgs checks them again as it writes them).
  memoryMiB(options.memory ?? '512M', 'memory');
  cpuCount(options.cpus ?? 1, 'cpus');
  if (options.kernel === undefined && !options.drives?.length) {
    throw new PixelrtsError('ERR_PIXELRTS_VM_INPUT', 'nothing to boot: give a kernel, or drives for the firmware to boot');
  }
  for (const [what, file] of [['kernel', options.kernel], ['initrd', options.initrd], ['device tree', options.dtb]] as const) {
    if (file === undefined) continue;
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch (err) {
      throw new PixelrtsError('ERR_PIXELRTS_VM_INPUT', `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code}; check the path`);
    }
  }
  requireQemu(arch);
  let t = Date.now();
  const accel = await detectAccel(options.accel ?? 'auto', arch);
  options.onStage?.({ stage: 'accel', ms: Date.now() - t, detail: `${accel.accel}: ${accel.reason}` });

  const ownsRuntimeDir = options.runtimeDir === undefined;
  const runtimeDir = options.runtimeDir ?? makeRuntimeDir();
  if (!ownsRuntimeDir) fs.mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
  const qmpSocket = path.join(runtimeDir, 'qmp.sock');
  const channelSocket = path.join(runtimeDir, 'channel.sock');
  const vncSocket = path.join(runtimeDir, 'vnc.sock');
  const fail = (err: Error): never => {
    if (ownsRuntimeDir) fs.rmSync(runtimeDir, { recursive: true, force: true });
    throw err;
  };
  if ([qmpSocket, channelSocket, vncSocket].some((s) => Buffer.byteLength(s) > 107)) {
    fail(new PixelrtsError('ERR_PIXELRTS_VM_INPUT', `runtime directory path ${runtimeDir} is too long for Unix sockets (max 107 bytes per socket path): choose a shorter runtimeDir`));
  }
  const files = [qmpSocket, channelSocket];
  let vnc: VncEndpoint | null = null;
  let vncArg: string | undefined;
  if (options.vnc === true) {
    vnc = { socket: vncSocket };
    vncArg = `unix:${vncSocket.replace(/,/g, ',,')}`;
    files.push(vncSocket);
  } else if (options.vnc !== undefined) {
    const m = /^([\w.-]*):(\d{1,4})$/.exec(options.vnc.includes(':') ? options.vnc : `:${options.vnc}`);
    if (!m || Number(m[2]) > 99) {
      fail(new PixelrtsError('ERR_PIXELRTS_VM_INPUT', `vnc: expected true (a Unix socket) or a display like '127.0.0.1:1', found '${options.vnc}'`));
    }
    const host = (m as RegExpExecArray)[1] || '127.0.0.1';
    const display = Number((m as RegExpExecArray)[2]);
    vnc = { host, port: 5900 + display, password: vncPassword() };
    vncArg = `${host}:${display},password=on`;
  }
  // The kernel command line may hold secrets: it goes to QEMU in a private file, not in argv.
  const cmdline = withConsole(options.cmdline ?? '', arch);
  const config = options.kernel === undefined ? null : cmdlineConfigText(cmdline);
  const cmdlineFile = config === null ? undefined : path.join(runtimeDir, 'cmdline.cfg');
  if (cmdlineFile) {
    fs.writeFileSync(cmdlineFile, config as string, { mode: 0o600, flag: 'wx' });
    files.push(cmdlineFile);
  }
  const args = qemuArgs({
    arch, accel: accel.accel, kernel: options.kernel, initrd: options.initrd,
    cmdline, cmdlineConfig: cmdlineFile, memory: options.memory, cpus: options.cpus,
    drives: options.drives, firmware: options.firmware, dtb: options.dtb,
    qmpSocket, channelSocket, channel: options.channel, vnc: vncArg, network: options.network, datagramNetwork: options.datagramNetwork, paused: options.paused,
    screen: options.screen,
    extra: options.qemuArgs,
  });

  t = Date.now();
  const child = spawnQemu(arch, args);
  let spawnError: Error | null = null;
  child.once('error', (err) => { spawnError = err; });
  const commandLine = [child.spawnfile, ...child.spawnargs.slice(1)];
  const vm = new VM({
    child, runtimeDir, ownsRuntimeDir, qmpSocket, channelSocket, accel: accel.accel, accelReason: accel.reason,
    arch, commandLine, serialLog: options.serialLog, heartbeatTimeout: options.heartbeatTimeout, vnc, files,
  });
  options.onStage?.({ stage: 'spawn', ms: Date.now() - t, detail: `pid ${child.pid}` });
  if (child.pid === undefined) {
    await vm.exited;
    throw new PixelrtsError('ERR_PIXELRTS_QEMU_FAILED', `cannot start QEMU: ${(spawnError as Error | null)?.message ?? 'spawn failed'}`);
  }

  t = Date.now();
  const abort = () => (vm.running ? null : 'QEMU exited');
  try {
    const qmp = await QmpClient.connect(qmpSocket, { timeout: options.startTimeout ?? 10000, abort });
    vm.attachQmp(qmp);
    // Until a password is set QEMU refuses every VNC client; set it before anyone is told the port.
    if (vnc && 'password' in vnc) await qmp.execute('set_password', { protocol: 'vnc', password: vnc.password });
  } catch (err) {
    await vm.kill();
    const stderr = vm.stderr.trim();
    throw new PixelrtsError('ERR_PIXELRTS_QEMU_FAILED',
      stderr ? `QEMU failed to start: ${stderr.split('\n').slice(-3).join(' / ')}` : `QEMU did not come up: ${(err as Error).message}`,
      { cause: err });
  }
  options.onStage?.({ stage: 'qmp', ms: Date.now() - t });
  vm.channel.connect({ timeout: 5000, abort }).catch((err: unknown) => {
    if (!vm.running) return;
    vm.emit('warning', err instanceof PixelrtsError ? err
      : new PixelrtsError('ERR_PIXELRTS_CONNECT', `the command channel did not connect: ${(err as Error).message}`, { cause: err }));
  });
  return vm;
}
