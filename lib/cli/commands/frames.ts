/** `pixelrts frames serve`: run an HXFR frame-export server until interrupted. */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from './command';
import { UsageError } from '../../errors';
import { parseArgs, type OptionSpec } from '../args';
import { EventWriter } from '../../boot/events';
import {
  createFrameServer, DEFAULT_TCP, DEFAULT_VSOCK_PORT, FRAME_LIMITS, type FrameServerAddress, type FrameServerOptions,
} from '../../frames/server';

const usage = `Usage: pixelrts frames serve [options]

Runs an HXFR frame-export server: guests (GStreamer vsockenc, scanout clients) connect and
send frames; each comes back as H.264 (openh264). Runs until Ctrl-C (SIGINT) or SIGTERM.
With no transport option it listens on TCP ${DEFAULT_TCP.host}:${DEFAULT_TCP.port}
(a QEMU guest with user-mode networking reaches it as 10.0.2.2:${DEFAULT_TCP.port}).

Options:
  --tcp HOST:PORT         listen on TCP (PORT alone = ${DEFAULT_TCP.host}:PORT; port 0 = any free port)
  --unix PATH             listen on a Unix socket
  --vsock PORT            listen on AF_VSOCK (Linux; vsockenc's default port is ${DEFAULT_VSOCK_PORT})
  --record DIR            write each connection's H.264 stream to DIR/conn-N.h264
  --max-clients N         refuse clients beyond N (default ${FRAME_LIMITS.maxClients})
  --max-frame-bytes N     largest frame accepted, in bytes (default ${FRAME_LIMITS.maxFrameBytes}: 8192x8192
                          at 4 bytes a pixel); a larger one is answered ERROR, its pixels skipped
  --memory-budget N       bytes of frames and answers held for all clients together (default
                          ${FRAME_LIMITS.memoryBudget}; at least twice --max-frame-bytes)
  --stall-timeout MS      drop a client silent this long before its first whole message or in
                          the middle of one (default ${FRAME_LIMITS.stallTimeout}); never between messages
  --json                  NDJSON events on stdout ({"type":…,"time":…, …}): listening, connection,
                          disconnect, scanout, frame, error, close
  -h, --help              show this help

Examples:
  pixelrts frames serve
  pixelrts frames serve --tcp 0.0.0.0:15937 --record ./frames
  pixelrts frames serve --unix /run/hxfr.sock --vsock 5000 --json`;

const serveSpec = {
  tcp: { type: 'string' },
  unix: { type: 'string' },
  vsock: { type: 'integer', min: 0, max: 0xffffffff },
  record: { type: 'string' },
  'max-clients': { type: 'integer', min: 1, max: 65536 },
  'max-frame-bytes': { type: 'integer', min: 1, max: 2 ** 32 },
  'memory-budget': { type: 'integer', min: 1, max: Number.MAX_SAFE_INTEGER },
  'stall-timeout': { type: 'integer', min: 1, max: 0x7fffffff },
  json: { type: 'boolean' },
} as const satisfies OptionSpec;

function parseServe(argv: string[]): { options: FrameServerOptions; json: boolean } {
  const { options: o } = parseArgs(argv, serveSpec, { maxPositionals: 0 });
  if (o.tcp !== undefined && !/^(?:.+:)?\d+$/.test(o.tcp)) {
    throw new UsageError(`--tcp expects HOST:PORT or PORT, found '${o.tcp}'`);
  }
  // Messages name the flags a user of this command can change, not the API's option names.
  const options: FrameServerOptions = { settingNames: 'flags' };
  if (o.tcp !== undefined) options.tcp = o.tcp;
  if (o.unix !== undefined) options.unix = o.unix;
  if (o.vsock !== undefined) options.vsock = o.vsock;
  if (o.record !== undefined) options.record = o.record;
  if (o['max-clients'] !== undefined) options.maxClients = o['max-clients'];
  if (o['max-frame-bytes'] !== undefined) options.maxFrameBytes = o['max-frame-bytes'];
  if (o['memory-budget'] !== undefined) options.memoryBudget = o['memory-budget'];
  if (o['stall-timeout'] !== undefined) options.stallTimeout = o['stall-timeout'];
  return { options, json: o.json === true };
}

/** "1 client", "2 clients". */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function describe(a: FrameServerAddress): string {
  switch (a.transport) {
    case 'tcp': return `tcp ${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
    case 'unix': return `unix ${a.path}`;
    case 'vsock': return `vsock port ${a.port}`;
  }
}

async function serve(argv: string[]): Promise<number> {
  const { options, json } = parseServe(argv);
  if (options.record !== undefined) {
    options.record = path.resolve(options.record);
    fs.mkdirSync(options.record, { recursive: true, mode: 0o700 });
  }
  const server = await createFrameServer(options);
  const events = new EventWriter();
  const say = (line: string): void => { process.stderr.write(`pixelrts frames: ${line}\n`); };
  server.on('connection', (c) => {
    if (json) events.write('connection', { ...c });
    else say(`client ${c.id} connected over ${c.transport} from ${c.peer}`);
  });
  server.on('disconnect', (c) => {
    if (json) events.write('disconnect', { ...c });
    else say(`client ${c.id} left: ${c.reason}`);
  });
  server.on('error', (e) => {
    if (json) events.write('error', { code: e.code, connection: e.connection, message: e.message });
    else say(`error: ${e.message}`);
  });
  server.on('scanout', (s) => {
    if (json) events.write('scanout', { ...s });
    else say(`scanout ${s.scanout} ${s.enabled ? 'enabled' : 'disabled'}`);
  });
  if (json) server.on('frame', (f) => events.write('frame', { ...f }));
  // Announced only now: a client reacting to this line finds every listener in place.
  const addresses = server.addresses();
  if (json) events.write('listening', { addresses });
  else say(`listening on ${addresses.map(describe).join(', ')}${options.record ? `; recording to ${options.record}` : ''}`);

  // On a terminal, one status line a second; nothing when output goes to a file or pipe.
  const tty = !json && process.stderr.isTTY;
  const timer = tty
    ? setInterval(() => {
      const s = server.stats();
      process.stderr.write(`\r${count(s.clients, 'client')}, ${count(s.frames, 'frame')}, ${(s.bytesOut / 1e6).toFixed(1)} MB out, ` +
        `${s.encodeMs.toFixed(1)} ms/frame, ${s.drops} dropped   `);
    }, 1000)
    : null;

  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  if (timer) {
    clearInterval(timer);
    process.stderr.write('\n');
  }
  const stats = server.stats();
  await server.close();
  if (json) events.write('close', { stats });
  else say(`stopped after ${count(stats.connections, 'client')} and ${count(stats.frames, 'frame')}`);
  return 0;
}

export const frames: Command = {
  usage,
  async run(argv: string[]): Promise<number> {
    const [sub, ...rest] = argv;
    if (sub === 'serve') return serve(rest);
    throw new UsageError(sub === undefined ? 'missing subcommand (serve)' : `unknown subcommand '${sub}'`);
  },
};
