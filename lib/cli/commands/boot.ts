/** `pixelrts boot <file>`: boots a container in QEMU with one command. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from '../args';
import { UsageError } from '../../errors';
import type { BootAccel, BootArch, BootFirmware, BootOptions } from '../../boot/boot';
import { startDetached } from '../../boot/detach';
import { sshKeyUserData } from '../../boot/cloud-init';
import type { VmRecord } from '../../boot/registry';
import { runSession } from '../../boot/session';
import { memoryMiB } from '../../vm/resources';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';
import { checkNetworkName } from '../../net/addressing';

const usage = `Usage: pixelrts boot <file.rts.png|URL> [options]
       pixelrts boot <a.rts.png> <b.rts.png> … [options]

Boots a PixelRTS container in QEMU, straight from the container: it is verified, mounted
read-only with FUSE in a private runtime directory, and booted. A kernel (and initrd) boots
directly, with the container's disks attached; without a kernel the firmware boots its ISO or
first disk. Disks are copy-on-write: the guest's changes go to an overlay that is discarded at
exit unless --persist keeps it. When QEMU exits the mount and the directory go away.
An http(s) URL is read on demand: the guest starts at once and only the parts it reads
are fetched (range requests, retried and resumed; each block checked against the
container's hash tree), and kept in the cache for the next boot. A container without a
hash tree (the original encoder's) is fetched whole first.

Options:
  --memory SIZE          guest memory, e.g. 512M or 2G (default 512M)
  --cpus N               virtual CPUs (default 1)
  --accel A              auto|kvm|hvf|tcg (default auto: KVM or HVF only when they
                         really run guests, else TCG; an explicit choice must work)
  --arch A               x86_64|aarch64 (default: the container's arch, else the host's)
  --cmdline "..."        replace the kernel command line stored in the container
  --append "..."         append to the kernel command line
  --no-verify            boot without checking the container's hashes first
  --persist FILE.qcow2   keep the disk's changes in FILE.qcow2 (made on the first boot,
                         reused by the next; one per disk, in order; an overlay made for
                         another disk is refused). Default: changes are discarded
  --firmware F           auto|bios|uefi: firmware of a boot without a kernel (default
                         auto: UEFI for a disk with an EFI System Partition and no BIOS
                         boot code, else SeaBIOS)
  --vnc [:N]             show the guest's screen over VNC: alone, on a Unix socket in
                         the VM's private runtime directory (only you can connect);
                         :N for TCP display N on 127.0.0.1 (HOST:N elsewhere), which
                         asks for a random password printed at start (default: none)
  --screen               give the guest a screen, keyboard and pointer (then:
                         pixelrts screenshot | type | key | click); --vnc implies it
  --view                 --screen, and serve it in the browser: a page on 127.0.0.1
                         (random port, secret token in the URL) playing the screen
                         as H.264 with keyboard and mouse back; the URL is printed
                         (with --detach: pixelrts view <id>)
  --open                 --view, and open the page in your browser
  --network nat          give the guest a NATed network: it reaches the internet and
                         every service on this host's loopback (default: no network)
  --net NAME             put the VM on the private network NAME (made by its first VM,
                         gone with its last): only VMs on NAME reach it, it reaches
                         nothing else; its address follows from NAME and its index
                         (10.X.Y.2, .3, …; given to the guest as pixelrts.ip=, see
                         docs/net.md). Alone it is the VM's only network
  --forward HOST:GUEST   forward 127.0.0.1:HOST to the guest's TCP port GUEST (repeatable;
                         e.g. 2222:22 for ssh); the guest is reachable, reaches nothing
  --cloud-init FILE      give a cloud image this cloud-init user-data (#cloud-config)
  --ssh-key FILE.pub     give a cloud image this SSH public key (cloud-init user-data)
  --qemu-arg ARG         pass ARG to QEMU (repeatable; may start with '-')
  --serial-log FILE      also write the guest's console output to FILE
  --timeout SECONDS      shut the VM down after SECONDS and exit 1
  --json                 NDJSON events on stdout: stage, console, message, qmp-event, exit
  --prefix               print "VM: " before each console line (line mode)
  --detach               run in the background and print the VM's id (with --json: one
                         {"type":"detached", …} event with its record)
                         (then: pixelrts ps | stop | send | qmp)
  --frame-export [PORT]  serve H.264 frame export (HXFR) on 127.0.0.1:PORT (default
                         15937; 0 picks a free port); the guest reaches it at
                         10.0.2.100:PORT and nothing else (needs socat); with
                         --screen the VM's screen is its scanout 0

Several containers: booted one after another on one private network (a fresh one, or
--net NAME), each VM numbered on it in the order given. Their consoles print as lines,
each prefixed with its VM's id; Ctrl-C stops them all; the exit status is the first
non-zero one. With --detach, one id per line. Not with --json (unless --detach),
--persist, --forward, --frame-export, --serial-log or a TCP --vnc, which one VM at a
time can have.

Console: when stdin is a terminal the guest's serial console is interactive (keys go to
the guest, Ctrl-C included). Ctrl-a x quits (shuts the VM down; again to force it off),
Ctrl-a h shows the keys, Ctrl-a Ctrl-a sends Ctrl-a. Otherwise lines are printed as they
arrive; Ctrl-C or SIGTERM shuts the VM down gracefully, a second Ctrl-C forces it off.

Exit status: 0 the guest powered off; 1 a failure, a guest reset or panic, or --timeout;
QEMU's own status when QEMU failed; 2 a usage mistake; 130 / 143 after Ctrl-C / SIGTERM;
0 after Ctrl-a x or pixelrts stop; 141 when the output's reader went away (| head).

Examples:
  pixelrts boot alpine.rts.png
  pixelrts boot debian.rts.png --persist debian-changes.qcow2
  pixelrts boot demo.rts.png --append pixelrts.demo=oneshot --json
  pixelrts boot os.rts.png --memory 2G --cpus 2 --detach
  pixelrts boot web.rts.png db.rts.png            (two VMs, one private network)
  pixelrts boot db.rts.png --net lab --detach; pixelrts boot web.rts.png --net lab`;

/** Options of `boot` (and `demo`, which boots the same way). */
export const bootOptionSpec = {
  memory: { type: 'string' },
  cpus: { type: 'string' },
  accel: { type: 'string' },
  arch: { type: 'string' },
  cmdline: { type: 'string' },
  append: { type: 'string' },
  'no-verify': { type: 'boolean' },
  persist: { type: 'string', multiple: true },
  firmware: { type: 'string' },
  vnc: { type: 'string' },
  screen: { type: 'boolean' },
  network: { type: 'string' },
  forward: { type: 'string', multiple: true },
  'cloud-init': { type: 'string' },
  'ssh-key': { type: 'string' },
  'qemu-arg': { type: 'string', multiple: true },
  'serial-log': { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  prefix: { type: 'boolean' },
  detach: { type: 'boolean' },
  'frame-export': { type: 'string' },
  view: { type: 'boolean' },
  open: { type: 'boolean' },
  net: { type: 'string' },
} as const;

/** Options whose values may start with '-': `--qemu-arg -no-hpet` is joined to `--qemu-arg=-no-hpet`. */
const DASH_VALUES = new Set(['--qemu-arg', '--cmdline', '--append']);

/** The HXFR port `--frame-export` uses when none is given. */
export const FRAME_EXPORT_PORT = 15937;

/**
 * Rewrites what node's parser cannot read: `--opt value` becomes `--opt=value` for options
 * whose value may start with '-'; `--frame-export [PORT]` (an optional value) becomes
 * `--frame-export=PORT` with the default port when none follows, and `--vnc [DISPLAY]`
 * becomes `--vnc=unix` when no display follows.
 */
export function joinDashValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (DASH_VALUES.has(argv[i]) && i + 1 < argv.length) {
      out.push(`${argv[i]}=${argv[i + 1]}`);
      i++;
    } else if (argv[i] === '--frame-export') {
      const port = /^\d+$/.test(argv[i + 1] ?? '') ? argv[++i] : String(FRAME_EXPORT_PORT);
      out.push(`--frame-export=${port}`);
    } else if (argv[i] === '--vnc') {
      out.push(`--vnc=${VNC_DISPLAY.test(argv[i + 1] ?? '') || argv[i + 1] === 'unix' ? argv[++i] : 'unix'}`);
    } else {
      out.push(argv[i]);
    }
  }
  return out;
}

/** The text of a file an option names; a UsageError naming the option when it cannot be read. */
function readOptionFile(option: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${option} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`);
  }
}

/** A VNC display: `N`, `:N` or `HOST:N`. */
const VNC_DISPLAY = /^(?:[\w.-]*:)?\d{1,2}$/;

/** `--memory`: a size like 512M, 2G or 1.5G (a bare number means MiB); returns QEMU's `-m` value in MiB. */
export function parseMemory(value: string): number {
  return memoryMiB(value, '--memory');
}

function parseChoice<T extends string>(value: string | undefined, option: string, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`${option}: expected one of ${choices.join(', ')}, found '${value}'.`);
  }
  return value as T;
}

/** The parsed options of a boot-like command, checked; what `runSession` needs. */
export interface ParsedBoot {
  boot: Omit<BootOptions, 'onStage'>;
  timeoutSeconds?: number;
  json: boolean;
  prefix: boolean;
  detach: boolean;
  /** HXFR frame export port (`--frame-export [PORT]`). */
  frameExport?: number;
  /** `--view`: the screen in the browser; `--open`: and open it. */
  view: boolean;
  openView: boolean;
}

/** Turns the parsed option values into boot options; throws UsageError for bad values. */
export function bootOptionsFrom(o: Record<string, unknown>): ParsedBoot {
  const str = (k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const boot: Omit<BootOptions, 'onStage'> = {};
  const memory = str('memory');
  if (memory !== undefined) boot.memory = `${parseMemory(memory)}M`;
  const cpus = str('cpus');
  if (cpus !== undefined) {
    if (!/^\d+$/.test(cpus) || Number(cpus) < 1 || Number(cpus) > 255) {
      throw new UsageError(`--cpus: expected a whole number from 1 to 255, found '${cpus}'.`);
    }
    boot.cpus = Number(cpus);
  }
  const accel = parseChoice<BootAccel>(str('accel'), '--accel', ['auto', 'kvm', 'hvf', 'tcg']);
  if (accel) boot.accel = accel;
  const arch = parseChoice<BootArch>(str('arch'), '--arch', ['x86_64', 'aarch64']);
  if (arch) boot.arch = arch;
  if (str('cmdline') !== undefined) boot.cmdline = str('cmdline');
  if (str('append') !== undefined) boot.append = str('append');
  if (o['no-verify'] === true) boot.noVerify = true;
  const persist = o.persist;
  if (Array.isArray(persist) && persist.length > 0) boot.persist = persist as string[];
  const firmware = parseChoice<BootFirmware>(str('firmware'), '--firmware', ['auto', 'bios', 'uefi']);
  if (firmware) boot.firmware = firmware;
  if (o.screen === true) boot.screen = true;
  const vnc = str('vnc');
  if (vnc === 'unix') {
    boot.vnc = true;
  } else if (vnc !== undefined) {
    if (!VNC_DISPLAY.test(vnc)) throw new UsageError(`--vnc: expected nothing (a private Unix socket) or a display like :1 or 127.0.0.1:1, found '${vnc}'.`);
    // QEMU's ":N" listens on every interface; a guest's screen stays on this machine unless a
    // host is named.
    const display = vnc.includes(':') ? vnc : `:${vnc}`;
    boot.vnc = display.startsWith(':') ? `127.0.0.1${display}` : display;
  }
  if (parseChoice(str('network'), '--network', ['none', 'nat']) === 'nat') boot.network = true;
  if (str('net') !== undefined) boot.net = checkNetworkName(str('net'), '--net');
  const forward = o.forward;
  if (Array.isArray(forward) && forward.length > 0) {
    boot.forward = (forward as string[]).map((spec) => {
      const m = /^(\d{1,5}):(\d{1,5})$/.exec(spec);
      const [hostPort, guestPort] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
      if (!m || hostPort < 1 || hostPort > 65535 || guestPort < 1 || guestPort > 65535) {
        throw new UsageError(`--forward: expected HOSTPORT:GUESTPORT such as 2222:22, found '${spec}'.`);
      }
      return { hostPort, guestPort };
    });
  }
  const cloudInit = str('cloud-init');
  const sshKey = str('ssh-key');
  if (cloudInit !== undefined && sshKey !== undefined) throw new UsageError('--cloud-init and --ssh-key: give one (put the key in the user-data\'s ssh_authorized_keys).');
  if (cloudInit !== undefined) boot.cloudInit = readOptionFile('--cloud-init', cloudInit);
  if (sshKey !== undefined) boot.cloudInit = sshKeyUserData(readOptionFile('--ssh-key', sshKey));
  const qemuArgs = o['qemu-arg'];
  if (Array.isArray(qemuArgs) && qemuArgs.length > 0) boot.qemuArgs = qemuArgs as string[];
  if (str('serial-log') !== undefined) boot.serialLog = str('serial-log');
  let timeoutSeconds: number | undefined;
  const timeout = str('timeout');
  if (timeout !== undefined) {
    timeoutSeconds = Number(timeout);
    if (!/^\d+(\.\d+)?$/.test(timeout) || !(timeoutSeconds > 0)) {
      throw new UsageError(`--timeout: expected a number of seconds greater than 0, found '${timeout}'.`);
    }
  }
  let frameExport: number | undefined;
  const fe = str('frame-export');
  if (fe !== undefined) {
    frameExport = Number(fe);
    if (!/^\d+$/.test(fe) || frameExport > 65535) {
      throw new UsageError(`--frame-export: expected a TCP port from 0 (any free port) to 65535 (default ${FRAME_EXPORT_PORT}), found '${fe}'.`);
    }
  }
  const view = o.view === true || o.open === true;
  if (view) boot.screen = true;
  if (o.open === true && o.detach === true) throw new UsageError('--open needs a browser on this terminal\'s side: with --detach, run `pixelrts view <id> --open` instead.');
  return {
    boot,
    ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
    ...(frameExport !== undefined ? { frameExport } : {}),
    view,
    openView: o.open === true,
    json: o.json === true,
    prefix: o.prefix === true,
    detach: o.detach === true,
  };
}

/** Runs a parsed boot of `image`: detached, or in the foreground on this terminal. */
export async function runBoot(image: string, parsed: ParsedBoot): Promise<number> {
  if (parsed.detach) {
    let record: VmRecord;
    try {
      record = await startDetached(image, {
        boot: parsed.boot,
        ...(parsed.timeoutSeconds !== undefined ? { timeoutSeconds: parsed.timeoutSeconds } : {}),
        ...(parsed.frameExport !== undefined ? { frameExport: parsed.frameExport } : {}),
        ...(parsed.view ? { view: true } : {}),
      });
    } catch (err) {
      // Interrupted while starting: the VM is gone; exit as the signal would (130 for Ctrl-C).
      const signal = (err as { code?: string; signal?: NodeJS.Signals }).signal;
      if ((err as { code?: string }).code !== 'ERR_PIXELRTS_INTERRUPTED' || !signal) throw err;
      process.stderr.write(`pixelrts boot: ${(err as Error).message}\n`);
      return 128 + os.constants.signals[signal];
    }
    if (parsed.json) {
      new EventWriter().write('detached', { ...record });
    } else {
      process.stdout.write(`${record.id}\n`);
      if (process.stderr.isTTY) {
        process.stderr.write(`pixelrts: VM ${record.id} runs in the background (pid ${record.pid}, QEMU ${record.qemuPid}); ` +
          `console log ${record.consoleLog}. Stop it with \`pixelrts stop ${record.id}\`.\n`);
      }
    }
    return 0;
  }
  const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true && !parsed.json;
  return runSession(image, {
    boot: parsed.boot,
    console: interactive ? 'interactive' : 'lines',
    prefix: parsed.prefix,
    json: parsed.json,
    progress: parsed.json ? 'none' : process.stderr.isTTY ? 'tty' : 'plain',
    ...(parsed.timeoutSeconds !== undefined ? { timeoutSeconds: parsed.timeoutSeconds } : {}),
    ...(parsed.frameExport !== undefined ? { frameExport: parsed.frameExport } : {}),
    ...(parsed.view ? { view: true, openView: parsed.openView } : {}),
  });
}

/** Throws a UsageError when `parsed` asks for what only one VM at a time can have. */
function checkSeveral(parsed: ParsedBoot): void {
  const b = parsed.boot;
  const single: Array<[boolean, string]> = [
    [parsed.json && !parsed.detach, '--json (add --detach for one event per VM, or boot each with --net NAME)'],
    [(b.persist?.length ?? 0) > 0, '--persist'],
    [(b.forward?.length ?? 0) > 0, '--forward'],
    [parsed.frameExport !== undefined, '--frame-export'],
    [b.serialLog !== undefined, '--serial-log'],
    [typeof b.vnc === 'string', '--vnc with a TCP display'],
    [parsed.openView, '--open'],
  ];
  const clash = single.find(([asked]) => asked);
  if (clash) throw new UsageError(`${clash[1]}: not with several containers; boot them one per command with --net NAME.`);
}

/**
 * Boots several containers on one private network (a fresh one unless --net names it), one
 * after another so each gets the next index; detached (one id per line), or in the foreground
 * with each console line prefixed by its VM's id, until the last one exits.
 */
async function runSeveral(images: string[], parsed: ParsedBoot): Promise<number> {
  checkSeveral(parsed);
  const net = parsed.boot.net ?? `boot-${crypto.randomBytes(3).toString('hex')}`;
  const each: ParsedBoot = { ...parsed, boot: { ...parsed.boot, net } };
  if (parsed.detach) {
    for (const image of images) {
      const code = await runBoot(image, each);
      if (code !== 0) return code;
    }
    return 0;
  }
  const runs: Array<Promise<number>> = [];
  for (const image of images) {
    // The next VM starts once this one runs (its record written), so indexes follow the order.
    const ready = new Promise<void>((resolve, reject) => {
      const run = runSession(image, {
        boot: each.boot,
        console: 'lines',
        prefix: 'id',
        progress: process.stderr.isTTY ? 'tty' : 'plain',
        ...(parsed.timeoutSeconds !== undefined ? { timeoutSeconds: parsed.timeoutSeconds } : {}),
        ...(parsed.view ? { view: true } : {}),
        onReady: () => resolve(),
      });
      run.catch(reject);
      runs.push(run.catch((err: Error) => {
        process.stderr.write(`pixelrts boot ${image}: ${err.message}\n`);
        return err instanceof UsageError ? 2 : 1;
      }));
    });
    try {
      await ready;
    } catch {
      break;  // said above; the VMs already running go on until stopped
    }
  }
  const codes = await Promise.all(runs);
  return codes.find((c) => c !== 0) ?? 0;
}

export const boot: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(joinDashValues(argv), bootOptionSpec,
      { minPositionals: 1, positionalsName: '<file.rts.png> …' });
    const parsed = bootOptionsFrom(options as Record<string, unknown>);
    // URLs go to boot() as they are: the process that runs the VM (the supervisor, with
    // --detach) reads them, so their mounts live as long as the VMs.
    if (positionals.length > 1) return runSeveral(positionals, parsed);
    return runBoot(positionals[0], parsed);
  },
};
