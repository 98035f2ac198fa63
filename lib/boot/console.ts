/**
 * The guest's serial console on this process's terminal.
 *
 * Interactive (stdin is a terminal): the terminal goes into raw mode, every key goes to the
 * guest (Ctrl-C too, so it interrupts the guest's shell, not pixelrts), the guest's bytes go
 * to stdout unchanged, and Ctrl-a is the escape key, as in QEMU: Ctrl-a x quits (again to
 * force), Ctrl-a h prints help, Ctrl-a Ctrl-a sends a literal Ctrl-a. The terminal is restored
 * on every way out this process has (detach, exit, uncaught exception; not SIGKILL, which
 * no process can catch: run `reset` then).
 * Line-streamed (otherwise): each guest line is printed as it arrives, optionally with the
 * original's `VM:` prefix.
 */
import type { Readable, Writable } from 'node:stream';
import type tty from 'node:tty';
import { colorAllowed } from '../format';

/** What the console UI needs from the VM's console. */
export interface ConsoleSource {
  on(event: 'line', listener: (line: string) => void): unknown;
  off(event: 'line', listener: (line: string) => void): unknown;
  /** The guest's raw output bytes (from the moment this is first read). */
  readonly raw: Readable;
  /** Writes bytes to the guest's serial console. */
  write(data: string | Buffer): unknown;
}

export interface ConsoleUiOptions {
  /** `interactive`: raw terminal both ways; `lines`: print lines; `none`: print nothing. */
  mode: 'interactive' | 'lines' | 'none';
  /** Prefix each line with `VM: ` (lines mode); a string: with that label instead of `VM`. */
  prefix?: boolean | string;
  /** Where the guest's output goes (default process.stdout). */
  output?: Writable & { isTTY?: boolean };
  /** The terminal to read keys from in interactive mode (default process.stdin). */
  input?: tty.ReadStream;
  /** Called on Ctrl-a x. */
  onQuit?: () => void;
}

/** The escape key: Ctrl-a, as in QEMU's `-nographic` console. */
export const ESCAPE_KEY = 0x01;

/** The help Ctrl-a h prints. */
export const ESCAPE_HELP = [
  '',
  'pixelrts console keys (Ctrl-a, then):',
  '  x       quit: shut the VM down (press again to force it off)',
  '  h       this help',
  '  Ctrl-a  send Ctrl-a to the guest',
  '',
].join('\r\n');

/** An attached console; `detach()` stops forwarding and restores the terminal. */
export interface AttachedConsole {
  detach(): void;
}

/** Sets the terminal back to how it was. Kept module-level so the exit hook can find it. */
let restoreTerminal: (() => void) | undefined;
process.on('exit', () => restoreTerminal?.());

/** Attaches the guest's console to the terminal (or prints its lines) as `options.mode` says. */
export function attachConsole(source: ConsoleSource, options: ConsoleUiOptions): AttachedConsole {
  const output = options.output ?? process.stdout;
  if (options.mode === 'none') return { detach: () => undefined };

  if (options.mode === 'lines') {
    const color = colorAllowed(output);
    const label = typeof options.prefix === 'string' ? options.prefix : 'VM';
    const tag = options.prefix ? (color ? `\x1b[36m${label}:\x1b[0m ` : `${label}: `) : '';
    const onLine = (line: string): void => { output.write(`${tag}${line}\n`); };
    source.on('line', onLine);
    return { detach: () => source.off('line', onLine) };
  }

  const input = options.input ?? (process.stdin as tty.ReadStream);
  const onOutput = (chunk: Buffer): void => { output.write(chunk); };
  source.raw.on('data', onOutput);

  let escaped = false;
  const onInput = (chunk: Buffer): void => {
    const forward: number[] = [];
    for (const byte of chunk) {
      if (escaped) {
        escaped = false;
        if (byte === 0x78 /* x */ || byte === 0x58 /* X */) {
          output.write('\r\n[pixelrts: quitting]\r\n');
          options.onQuit?.();
        } else if (byte === 0x68 /* h */ || byte === 0x3f /* ? */) {
          output.write(ESCAPE_HELP);
        } else if (byte === ESCAPE_KEY || byte === 0x61 /* a */) {
          forward.push(ESCAPE_KEY);
        }
        // Any other key after the escape is dropped, as QEMU does.
      } else if (byte === ESCAPE_KEY) {
        escaped = true;
      } else {
        forward.push(byte);
      }
    }
    if (forward.length > 0) source.write(Buffer.from(forward));
  };

  const wasRaw = input.isRaw === true;
  if (input.isTTY) input.setRawMode(true);
  input.on('data', onInput);
  input.resume();

  let detached = false;
  const detach = (): void => {
    if (detached) return;
    detached = true;
    source.raw.off('data', onOutput);
    input.off('data', onInput);
    input.pause();
    if (input.isTTY) input.setRawMode(wasRaw);
    restoreTerminal = undefined;
  };
  restoreTerminal = detach;
  return { detach };
}
