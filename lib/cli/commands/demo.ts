/** `pixelrts demo`: builds (once) and boots the built-in demo container. */
import { parseArgs } from '../args';
import { buildDemoContainer, defaultCacheDir } from '../../demo/image';
import { bootOptionSpec, bootOptionsFrom, joinDashValues, runBoot } from './boot';
import type { Command } from './command';

const usage = `Usage: pixelrts demo [--build-only] [--oneshot] [boot options]

Builds the demo container once and boots it. The demo guest is a Debian kernel
(downloaded with apt-get download the first time) and a busybox initrd; its init prints a
banner, a JSON status line and "pixelrts-demo: init reached", then gives a shell.
The container is cached in $XDG_CACHE_HOME/pixelrts (default ~/.cache/pixelrts).

On a terminal the demo is interactive: you get the guest's shell (Ctrl-a x quits,
Ctrl-a h lists the keys); with --detach it stays up in the background. Otherwise, or
with --oneshot, it boots one-shot (pixelrts.demo=oneshot on the kernel command line):
the guest powers off at once and the exit status is 0.

Options:
  --build-only   build the container (if needed) and print its path; do not boot
  --oneshot      boot one-shot even on a terminal
  and every option of \`pixelrts boot\` (--json, --prefix, --memory, --timeout, ...)

Examples:
  pixelrts demo
  pixelrts demo --json | jq -c 'select(.type=="stage")'
  pixelrts boot "$(pixelrts demo --build-only)" --detach
  pixelrts demo --net lab --detach; pixelrts demo --net lab   (then: ping 10.X.Y.2)`;

export const demo: Command = {
  usage,
  async run(argv) {
    const { options } = parseArgs(joinDashValues(argv),
      { ...bootOptionSpec, 'build-only': { type: 'boolean' }, oneshot: { type: 'boolean' } },
      { maxPositionals: 0 });
    const parsed = bootOptionsFrom(options as Record<string, unknown>);
    const { containerPath: file } = await buildDemoContainer({
      cacheDir: defaultCacheDir(),
      onProgress: (line) => process.stderr.write(`pixelrts demo: ${line}\n`),
    });
    if (options['build-only']) {
      process.stdout.write(`${file}\n`);
      return 0;
    }
    // One-shot unless someone can use the shell: a terminal, or a detached VM (reached with send/qmp).
    const terminal = process.stdin.isTTY === true && process.stdout.isTTY === true && !parsed.json;
    if (options.oneshot || (!terminal && !parsed.detach)) {
      parsed.boot.append = [parsed.boot.append, 'pixelrts.demo=oneshot'].filter(Boolean).join(' ');
    }
    return runBoot(file, parsed);
  },
};
