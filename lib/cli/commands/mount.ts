/** `pixelrts mount <file> <mountpoint>`: serve a container's files until Ctrl-C or SIGTERM. */
import { parseArgs } from '../args';
import { printable } from '../printable';
import { tableLines } from '../table';
import { formatBytes } from '../../format';
import { mount as mountContainer, type Mount } from '../../fuse/mount';
import { commandSource } from './source';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';

const usage = `Usage: pixelrts mount [options] <file.rts.png> <mountpoint>

Mounts the files inside a PixelRTS v2 container read-only at <mountpoint> (an existing, empty
directory) and stays in the foreground; Ctrl-C or SIGTERM unmounts it. The mount shows every
file under its own name, /kernel and /initrd when the container holds them, and /metadata.json.
If this process is killed, the mount is removed anyway (fusermount3 auto_unmount).
<file.rts.png> may be an http(s) URL: the container is then read on demand (only the
parts this command reads are fetched, with range requests, and kept in the cache), or
fetched whole first when it has no hash tree.

Options:
  --json          NDJSON events: {"type":"mounted","time":…, file, mountpoint, files,
                  warnings} once mounted, {"type":"unmounted", …, mountpoint, reason} at the end
  --workers <n>   FUSE worker threads (1-64, default 4)

Examples:
  mkdir -p /mnt/boot && pixelrts mount boot.rts.png /mnt/boot
  qemu-system-x86_64 -kernel /mnt/boot/kernel -initrd /mnt/boot/initrd …
  pixelrts unmount /mnt/boot      (from another shell, or press Ctrl-C)`;

export const mount: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv, {
      json: { type: 'boolean' },
      workers: { type: 'integer', min: 1, max: 64 },
    }, { minPositionals: 2, maxPositionals: 2, positionalsName: '<file.rts.png|URL> <mountpoint>' });
    const [file, mountpoint] = positionals;
    const events = options.json === true ? new EventWriter() : undefined;
    const json = events !== undefined;
    const warn = (message: string): void => { process.stderr.write(`pixelrts mount: warning: ${message}\n`); };

    const source = await commandSource(file, 'mount', json, (w) => warn(w.message));
    try {
      return await serveMount(await mountContainer(source.container, mountpoint, { workers: options.workers, onWarning: warn }), file, events);
    } finally {
      await source.close();
    }
  },
};

/** Keeps the mount `m` of `file` in the foreground until a signal or an unmount ends it. */
async function serveMount(m: Mount, file: string, events: EventWriter | undefined): Promise<number> {
  const json = events !== undefined;
  // The mount does not hold the event loop open by itself; the foreground command does.
  const keepAlive = setInterval(() => {}, 1 << 30);
  m.on('error', (err: Error) => process.stderr.write(`pixelrts mount: ${err.message}\n`));
  // Signal handlers go in before anything is printed: a script that reacts to the output
  // with a signal must find them there.
  const ended = new Promise<string>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (!json) process.stdout.write(`\n${signal}: unmounting ${m.mountpoint}\n`);
      m.unmount().catch((err: Error) => process.stderr.write(`pixelrts mount: ${err.message}\n`));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    m.once('unmount', (why: string) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(why);
    });
  });
  if (json) {
    events.write('mounted', { file, mountpoint: m.mountpoint, files: m.files, warnings: m.warnings });
  } else {
    const rows = m.files.map((f) => [printable(f.path), formatBytes(f.size)]);
    process.stdout.write(`Mounted ${printable(file)} at ${printable(m.mountpoint)}:\n` +
      (rows.length > 0 ? tableLines(rows).map((l) => `  ${l}\n`).join('') : '') +
      'Press Ctrl-C to unmount.\n');
  }
  const reason = await ended;
  clearInterval(keepAlive);
  if (events) events.write('unmounted', { mountpoint: m.mountpoint, reason });
  else process.stdout.write(`${m.mountpoint}: ${reason}\n`);
  return 0;
}
