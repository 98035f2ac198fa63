/** `pixelrts serve <file>`: a container's files over HTTP with byte ranges, an iPXE script to net-boot it, and (--nbd) over NBD. */
import { parseArgs } from '../args';
import { EventWriter } from '../../boot/events';
import { serveContainer } from '../../serve/server';
import type { Command } from './command';

const usage = `Usage: pixelrts serve <file.rts.png> [--host ADDR] [--port N] [--nbd [--nbd-port N] [--nbd-cow]] [--json]

Serves the container's files over HTTP until Ctrl-C (or SIGTERM), read-only and straight
from the container: it is mounted in a private directory and every byte sent is checked as
it is read, as for a boot.

  /files/NAME      each file, with byte ranges (Range: bytes=A-B → 206), ETag its sha256
  /boot.ipxe       an iPXE script that boots the kernel and initrd with the stored command line
  /metadata.json   the container's metadata

Options:
  --host ADDR   address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for every
                interface: anyone who reaches it can read the container)
  --port N      TCP port (default 0: a free one, printed)
  --nbd         also serve every file as an NBD export of its name (nbd://HOST:PORT/NAME; a
                client that names none gets the first disk), through nbdkit (on PATH) and the
                pixelrts plugin: read-only, each block checked as it is read, many clients
  --nbd-port N  NBD's TCP port (default 0: a free one, printed); implies --nbd
  --nbd-cow     let NBD clients write, to a copy-on-write overlay (nbdkit's cow filter) shared
                by them and dropped when serve stops; the container is never written;
                implies --nbd
  --json        NDJSON: listening {url, files, ipxe, nbd: [{name, size, type, uri}]}, then
                request {method, path, status, bytes, range} per request, warning, and closed

Net boot: a machine (or QEMU with user networking, which reaches this host's 127.0.0.1 as
10.0.2.2) whose iPXE fetches /boot.ipxe boots the container:
  qemu-system-x86_64 -m 512M -netdev user,id=n,bootfile=http://10.0.2.2:PORT/boot.ipxe \\
    -device virtio-net-pci,netdev=n -boot n -serial stdio

Disks over NBD (QEMU, nbdcopy, nbdinfo, nbd-client reach them):
  pixelrts serve debian.rts.png --nbd --nbd-port 10809
  qemu-system-x86_64 ... -drive file=nbd://127.0.0.1:10809/disk,format=raw,readonly=on

Examples:
  pixelrts serve demo.rts.png --port 8080
  curl -r 0-511 http://127.0.0.1:8080/files/kernel | xxd | head
  nbdinfo --list nbd://127.0.0.1:10809`;

export const serve: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv,
      { host: { type: 'string' }, port: { type: 'integer', min: 0, max: 65535 }, json: { type: 'boolean' },
        nbd: { type: 'boolean' }, 'nbd-port': { type: 'integer', min: 0, max: 65535 }, 'nbd-cow': { type: 'boolean' } },
      { minPositionals: 1, maxPositionals: 1, positionalsName: '<file.rts.png>' });
    const events = options.json ? new EventWriter() : undefined;
    const server = await serveContainer(positionals[0], {
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.port !== undefined ? { port: options.port } : {}),
      ...(options.nbd || options['nbd-port'] !== undefined || options['nbd-cow']
        ? { nbd: { ...(options['nbd-port'] !== undefined ? { port: options['nbd-port'] } : {}), cow: options['nbd-cow'] === true } } : {}),
    });
    const nbd = server.nbd?.exports;
    const ipxe = `${server.url}boot.ipxe`;
    if (events) {
      events.write('listening', { url: server.url, ipxe, files: server.files, ...(nbd ? { nbd } : {}) });
      server.on('request', (r) => events.write('request', { ...r }));
    } else {
      process.stderr.write(`pixelrts: serving ${positionals[0]} at ${server.url} (files under ${server.url}files/, iPXE script ${ipxe}); Ctrl-C stops\n`);
      for (const e of nbd ?? []) process.stderr.write(`pixelrts: NBD ${e.uri} (${e.type}, ${e.size} bytes)\n`);
    }
    server.on('warning', (err) => {
      if (events) events.write('warning', { code: err.code, message: err.message });
      else process.stderr.write(`pixelrts serve: ${err.message}\n`);
    });
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, () => resolve(s));
    });
    await server.close();
    if (events) events.write('closed', { signal });
    return 0;
  },
};
