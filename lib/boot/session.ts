/**
 * One VM run by the CLI, from boot to teardown: `boot()`, the registry record and control
 * socket (so `pixelrts ps/send/qmp/stop` reach it), the console on the terminal or in a log,
 * stage progress or NDJSON events, stop requests (signals, escape key, --timeout, `stop`).
 * Used by `pixelrts boot` in the foreground and by the detached supervisor alike.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { boot, EXPOSED_ADDRESS, type BootOptions, type BootedVm, type BootExit } from './boot';
import { PixelrtsError, UsageError, errorCode } from '../errors';
import type { FrameServer } from '../frames/server';
import type { Display } from '../screen/display';
import type { ViewServer } from '../view/server';
import type { FrameServerEndpoint } from '../frames/subscriber';
import { attachConsole, type AttachedConsole } from './console';
import { EventWriter, markReported, StageReporter } from './events';
import { StopController } from './lifecycle';
import type { OutgoingMessage } from '../vm/messages';
import type { LineInfo } from '../vm/console';
import { serveControl } from './control';
import { processStartTime, writeRecord, type VmRecord } from './registry';

export interface SessionOptions {
  /** Passed to boot() (onStage is set by the session). */
  boot: Omit<BootOptions, 'onStage'>;
  /** Where the guest's console goes: the terminal both ways, printed lines, or a log file. */
  console: 'interactive' | 'lines' | { log: string };
  /** `VM: ` before each console line (lines mode); `'id'`: the VM's id instead (several VMs on one terminal). */
  prefix?: boolean | 'id';
  /** NDJSON events on stdout instead of progress and console text. */
  json?: boolean;
  /** Stage progress on stderr (ignored with json). */
  progress: 'tty' | 'plain' | 'none';
  /** Stop gracefully after this many seconds; the exit code is then 1. */
  timeoutSeconds?: number;
  /** True for the detached supervisor (recorded in the registry). */
  detached?: boolean;
  /**
   * Serve HXFR frame export on 127.0.0.1:PORT while the VM runs. The guest reaches the server
   * at 10.0.2.100:PORT and, unless `boot.network` asks for more, nothing else (BootOptions.expose).
   */
  frameExport?: number;
  /**
   * Serve the screen in the browser (lib/view/): a page on 127.0.0.1 with a random port and
   * token, its URL in a `view` event or note. Needs `boot.screen`. Without `frameExport` the
   * frame server behind it listens only on a Unix socket in the VM's private runtime directory.
   */
  view?: boolean;
  /** With `view`: open the page in the user's browser. */
  openView?: boolean;
  /** Budget of a graceful stop in ms (default 10000; see StopController). */
  shutdownTimeoutMs?: number;
  /** Told once the VM runs and its record is written (the supervisor reports to its parent). */
  onReady?: (record: VmRecord) => void;
  /** Aborting it forces the VM off (as soon as QEMU is up, when it comes during the boot). */
  abort?: AbortSignal;
  /** Where console text or NDJSON goes (default process.stdout). */
  stdout?: Writable;
  /** Where progress and notes go (default process.stderr). */
  stderr?: Writable;
}

/** Boots `image` and runs it until it exits; resolves with the CLI's exit code. */
export async function runSession(image: string, options: SessionOptions): Promise<number> {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const events = options.json ? new EventWriter(stdout) : undefined;
  const reporter = new StageReporter(options.json ? 'none' : options.progress, stderr);
  const say = (text: string): void => {
    if (events) events.write('note', { message: text });
    else reporter.note(`pixelrts: ${text}`);
  };

  // Stop requests that arrive while boot() is still running: remembered, acted on once the VM
  // exists. A second one means "now": exit, and let the safety nets (cleanup watcher,
  // parent-death signal, auto_unmount) remove what was set up so far.
  let early: string | undefined;
  const earlyHandler = (sig: NodeJS.Signals): void => {
    if (early) process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    early = sig;
    say(`${sig} received while starting: stopping as soon as QEMU is up (again to quit at once)`);
  };
  const earlySignals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const sig of earlySignals) process.on(sig, earlyHandler);

  // A failed boot's NDJSON stream ends as every boot's does, with an exit event; nothing else
  // follows the error, and the CLI does not print the error again.
  const reportFailure = (err: unknown, exit: { exitCode: number; code: number | null; signal: string | null; reason: string; teardownErrors: string[] }): void => {
    if (!events) return;
    events.write('error', { code: (err as { code?: string }).code ?? 'ERR_PIXELRTS_BOOT', message: (err as Error).message });
    events.write('exit', { exitCode: exit.exitCode, code: exit.code, signal: exit.signal, poweredOff: false, reason: exit.reason, teardownErrors: exit.teardownErrors });
    markReported(err);
  };

  // Whoever read our output went away (`pixelrts boot x --json | head`): nobody sees the VM any
  // more, so it is shut down (and the exit status is 141, as SIGPIPE would make it).
  let outputClosed = false;
  let stopper: StopController | undefined;
  const onOutputError = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EPIPE' || outputClosed) return;
    outputClosed = true;
    stopper?.stop('output', 'the output was closed');
  };
  stdout.on('error', onOutputError);
  stderr.on('error', () => { /* progress is best effort: a closed stderr must not stop anything */ });

  // The owner gave the session up (a detached VM whose starter died before reporting it).
  const abortReason = (): string => (options.abort?.reason as Error | undefined)?.message ?? 'aborted';
  options.abort?.addEventListener('abort', () => {
    if (stopper) stopper.force('abort', abortReason());
    else say(`${abortReason()}: stopping as soon as QEMU is up`);
  }, { once: true });

  let frames: FrameServer | undefined;
  let framesPort: number | undefined;
  let vm: BootedVm;
  try {
    // The frame server listens before the guest can look for it.
    if (options.frameExport !== undefined) {
      // Loaded only when asked for: most boots need no frame server, and start-up time counts.
      const { startFrameExport } = await import('../frames/server');
      const { server, port } = await startFrameExport(options.frameExport).catch((err: Error & { code?: string }) => {
        throw new PixelrtsError(errorCode(err.code, 'ERR_PIXELRTS_FRAMES_LISTEN'),
          `--frame-export ${options.frameExport}: ${err.message.replace(/: choose another.*$/, '')}; choose another port (--frame-export 0 picks a free one).`,
          { cause: err });
      });
      frames = server;
      framesPort = port;
      if (events) events.write('frame-export', { host: '127.0.0.1', port, guest: `${EXPOSED_ADDRESS}:${port}` });
      else reporter.note(`frame export: HXFR on 127.0.0.1:${port}; the guest reaches it at ${EXPOSED_ADDRESS}:${port} (and nothing else${options.boot.network ? ' but the NATed network' : ''})`);
    }
    vm = await boot(image, {
      ...options.boot,
      ...(framesPort !== undefined ? { expose: [...(options.boot.expose ?? []), framesPort] } : {}),
      onStage: (ev) => {
        if (events) events.write('stage', { ...ev });
        else reporter.stage(ev);
      },
    });
  } catch (err) {
    reporter.clear();
    await frames?.close();
    reportFailure(err, { exitCode: err instanceof UsageError ? 2 : 1, code: null, signal: null, reason: 'the boot failed before the guest ran', teardownErrors: [] });
    throw err;
  } finally {
    for (const sig of earlySignals) process.off(sig, earlyHandler);
  }

  // What the VM was booted with cannot be served (the view): the boot fails, and the VM goes.
  const failStarted = async (err: unknown): Promise<never> => {
    await vm.kill();
    const exit = await vm.exited;
    await frames?.close();
    reportFailure(err, { exitCode: 1, code: exit.code, signal: exit.signal, reason: 'killed: the boot failed', teardownErrors: exit.teardownErrors });
    throw err;
  };
  // A frame server only for the view is not the guest's: on a Unix socket in the private
  // runtime directory, neither exposed nor announced.
  let viewFrames: FrameServer | undefined;
  if (!frames && options.view) {
    const { createFrameServer } = await import('../frames/server');
    viewFrames = await createFrameServer({ unix: path.join(vm.runtimeDir, 'frames.sock') }).catch(failStarted);
  }
  const framesEndpoint: FrameServerEndpoint | undefined = framesPort !== undefined ? { port: framesPort }
    : viewFrames ? { path: path.join(vm.runtimeDir, 'frames.sock') } : undefined;
  const screenServer = frames ?? viewFrames;
  const display = screenServer ? await exportScreen(vm, screenServer, say, frames !== undefined) : undefined;
  // The browser view: started now with --view, or on the first `pixelrts view <id>`.
  let view: Promise<ViewServer> | undefined;
  const startViewOnce = (): Promise<ViewServer> => {
    if (!display || framesEndpoint === undefined) {
      return Promise.reject(new PixelrtsError('ERR_PIXELRTS_NO_DISPLAY',
        `VM ${vm.id} shows no screen to view: boot it with --view (or --screen --frame-export).`));
    }
    view ??= import('../view/server').then(async ({ startView }) => {
      const server = await startView({ frames: framesEndpoint, qmp: vm.qmp, onInput: () => display.nudge() });
      server.on('warning', (err) => say(err.message));
      if (events) events.write('view', { url: server.url });
      else say(`view the screen at ${server.url} (the token in it is the key: share it with nobody)`);
      return server;
    });
    return view;
  };
  if (options.view) {
    const server = await startViewOnce().catch(async (err: unknown) => {
      display?.close();
      await viewFrames?.close();
      return failStarted(err);
    });
    if (options.openView) openInBrowser(server.url, say);
  }

  stopper = new StopController(vm, {
    shutdownTimeoutMs: options.shutdownTimeoutMs,
    onStop: ({ reason, detail, forced }) => {
      if (events) {
        events.write('stopping', { reason, detail, forced });
        return;
      }
      const why = reason === 'signal' ? detail : reason === 'timeout' ? `--timeout ${detail} reached` :
        reason === 'escape' ? 'Ctrl-a x' : reason === 'output' || reason === 'abort' ? detail : 'stop requested';
      const line = forced ? `${why}: forcing the VM off` :
        `${why}: shutting the VM down (${reason === 'escape' ? 'Ctrl-a x' : 'Ctrl-C'} again to force)`;
      reporter.clear();
      stderr.write(`${options.console === 'interactive' ? '\r\n' : ''}pixelrts: ${line}\n`);
    },
  });
  stopper.handleSignals();
  if (options.timeoutSeconds !== undefined) stopper.armTimeout(options.timeoutSeconds);
  if (early) stopper.force('signal', early);
  else if (options.abort?.aborted) stopper.force('abort', abortReason());
  else if (outputClosed) stopper.stop('output', 'the output was closed');

  // The console: terminal, printed lines, NDJSON events, or a log file (detached).
  let logStream: fs.WriteStream | undefined;
  let attached: AttachedConsole;
  if (typeof options.console === 'object') {
    logStream = fs.createWriteStream(options.console.log, { flags: 'a', mode: 0o600 });
    attached = attachConsole(vm.console, { mode: 'lines', output: logStream });
  } else if (events) {
    // The line as a terminal shows it; what the guest printed too, when that differs.
    const onLine = (line: string, info: LineInfo): void => events.write('console', { line, ...(info.raw !== line ? { raw: info.raw } : {}) });
    vm.console.on('line', onLine);
    attached = { detach: () => vm.console.off('line', onLine) };
  } else {
    attached = attachConsole(vm.console, {
      mode: options.console,
      prefix: options.prefix === 'id' ? vm.id : options.prefix,
      output: stdout,
      onQuit: () => stopper.stop('escape', 'Ctrl-a x'),
    });
  }
  vm.on('warning', (err: Error & { code?: string }) => {
    if (events) events.write('warning', { code: err.code ?? 'ERR_PIXELRTS_WARNING', message: err.message });
    else say(err.message);
  });
  if (events) {
    vm.on('message', (message: unknown) => events.write('message', { message }));
    vm.on('qmp-event', (ev: { event: string; data?: unknown; timestamp?: unknown }) =>
      events.write('qmp-event', { event: ev.event, data: ev.data ?? {} }));
    vm.on('unresponsive', () => events.write('liveness', { state: 'unresponsive' }));
    vm.on('responsive', () => events.write('liveness', { state: 'responsive' }));
  }

  // Registry record and control socket, so other pixelrts commands reach this VM.
  const controlSocket = path.join(vm.runtimeDir, 'control.sock');
  const record: VmRecord = {
    id: vm.id,
    image: vm.remote?.url ?? vm.image,
    pid: process.pid,
    pidStart: processStartTime(process.pid),
    qemuPid: vm.pid,
    started: new Date().toISOString(),
    detached: options.detached === true,
    runtimeDir: vm.runtimeDir,
    qmpSocket: vm.qmpSocket,
    channelSocket: vm.channelSocket,
    controlSocket,
    consoleLog: typeof options.console === 'object' ? options.console.log : null,
    accel: vm.accel,
    cmdline: vm.cmdline,
    vnc: vm.vnc,
    disks: vm.disks.map((d) => ({ segment: d.segment, overlay: d.overlay, persistent: d.persistent })),
    network: vm.network,
  };
  const control = await serveControl(controlSocket, {
    // The channel validates the message (ERR_PIXELRTS_MESSAGE names the bad field).
    send: (message) => { vm.send(message as unknown as OutgoingMessage); },
    request: (message, timeoutMs) => vm.request(message as unknown as OutgoingMessage, { timeout: timeoutMs }),
    qmp: async (command, args) => {
      const result = await vm.qmp.execute(command, args);
      // Input (pixelrts type/key/click) shows at once: QEMU's VNC server is told to look.
      if (command === 'send-key' || command === 'input-send-event') display?.nudge();
      return result;
    },
    stop: (force) => (force ? stopper.force('control', 'pixelrts stop --force') : stopper.stop('control', 'pixelrts stop')),
    status: () => ({ ...record, stages: vm.stages }),
    view: async () => ({ url: (await startViewOnce()).url }),
  }).catch((err: Error) => {
    say(`control socket unavailable (${err.message}); pixelrts send/qmp/stop will not reach this VM`);
    return undefined;
  });
  writeRecord(record);
  if (events) {
    events.write('ready', {
      id: record.id, pid: record.qemuPid, runtimeDir: record.runtimeDir, mountpoint: vm.mountpoint,
      qmpSocket: record.qmpSocket, channelSocket: record.channelSocket, controlSocket: record.controlSocket,
      accel: record.accel, cmdline: record.cmdline, ...(vm.vnc ? { vnc: vm.vnc } : {}),
      ...(options.boot.forward?.length ? { forward: options.boot.forward } : {}),
      ...(vm.network ? { network: vm.network } : {}),
    });
  } else {
    if (vm.vnc) {
      say('socket' in vm.vnc
        ? `the screen: VNC on the Unix socket ${vm.vnc.socket} (only you can open it; e.g. remote-viewer vnc+unix://${vm.vnc.socket})`
        : `the screen: VNC on ${vm.vnc.host}:${vm.vnc.port} (display :${vm.vnc.port - 5900}), password ${vm.vnc.password}`);
    }
    if (vm.network) say(`on the private network ${vm.network.network}: ${vm.network.ip}/${vm.network.prefix}, MAC ${vm.network.mac}`);
    for (const f of options.boot.forward ?? []) {
      say(`127.0.0.1:${f.hostPort} forwards to the guest's port ${f.guestPort}${f.guestPort === 22 ? ` (ssh -p ${f.hostPort} localhost)` : ''}`);
    }
  }
  options.onReady?.(record);

  let exit: BootExit;
  try {
    exit = await vm.exited;
  } finally {
    attached.detach();
    stopper.dispose();
    control?.close();
    await (await view?.catch(() => undefined))?.close();
    display?.close();
    await viewFrames?.close();
    if (frames) {
      const stats = frames.stats();
      await frames.close();
      if (events) events.write('frame-export', { closed: true, stats });
    }
    reporter.clear();
    await new Promise<void>((resolve) => (logStream ? logStream.end(resolve) : resolve()));
  }
  const code = stopper.exitCode(exit.exitCode);
  if (events) {
    events.write('exit', {
      exitCode: code, code: exit.code, signal: exit.signal, poweredOff: exit.poweredOff,
      reason: exit.reason, teardownErrors: exit.teardownErrors,
    });
  } else {
    const line = stopper.reason === 'timeout'
      ? `stopped after --timeout ${stopper.detail}: ${exit.reason}`
      : exit.reason;
    // The exit stage line already said how it ended; say more only when the exit code is not 0.
    if (code !== 0) {
      stderr.write(`pixelrts: ${line}${exit.teardownErrors.length ? `; teardown problems: ${exit.teardownErrors.join('; ')}` : ''} (exit ${code})\n`);
    }
  }
  return code;
}

/**
 * Opens `url` in the user's browser (xdg-open, or `open` on macOS), detached from this process;
 * when there is none the URL printed already is what to open.
 */
export function openInBrowser(url: string, say: (text: string) => void): void {
  const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
  const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => say(`cannot start a browser (${opener} is missing): open the URL above yourself`));
  child.unref();
}

/**
 * With a screen on the private VNC socket: the screen is published as scanout 0 of the frame
 * server (native, damage-driven; docs/screen.md), for --frame-export's subscribers (`announce`)
 * or only for the view. A VNC display on TCP (`--vnc :1`) has a password the display cannot
 * give: said, not exported.
 */
async function exportScreen(vm: BootedVm, frames: FrameServer, say: (text: string) => void, announce: boolean): Promise<Display | undefined> {
  if (!vm.vnc) return undefined;
  if (!('socket' in vm.vnc)) {
    say('the screen is not exported with --vnc on TCP (use --screen or --vnc without a display)');
    return undefined;
  }
  const { startDisplay } = await import('../screen/display');
  try {
    const display = startDisplay({ vncSocket: vm.vnc.socket, server: frames, scanout: 0 });
    display.on('error', (err) => say(`the screen's frames stopped: ${err.message}`));
    if (announce) say('frame export: the screen is scanout 0 (SUBSCRIBE 0)');
    return display;
  } catch (err) {
    // The VM runs: it goes on without its screen's frames rather than being left behind.
    say(`the screen's frames are not available: ${(err as Error).message}`);
    return undefined;
  }
}
