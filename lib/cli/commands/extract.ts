/** `pixelrts extract`: writes a container's payload, one file, or every file to disk. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from '../args';
import { printable } from '../printable';
import { withProgress } from '../progress';
import { Container, type ReadOptions } from '../../codec/container';
import { PixelrtsError, UsageError } from '../../errors';
import { containerStem } from '../../codec/metadata';
import { commandSource } from './source';
import type { Command } from './command';
import { printWarnings } from './container-args';
import { EventWriter } from '../../boot/events';

const usage = `Usage: pixelrts extract <file.rts.png> [-o OUT] [--segment NAME]
       pixelrts extract <file.rts.png> --all [-d DIR]

Writes the decoded payload (default OUT: <stem>.bin), one file of the container (--segment;
default OUT: the file's own name), or every file into a directory (--all; default DIR: <stem>).
Every file is checked against its recorded sha256. OUT "-" writes to standard output.
<file.rts.png> may be an http(s) URL: the container is then read on demand (only the
parts this command reads are fetched, with range requests, and kept in the cache), or
fetched whole first when it has no hash tree.

Options:
  -o, --out OUT        where to write the payload or the --segment file
  --segment NAME       extract only the file (segment) called NAME
  --all                extract every file
  -d, --dir DIR        directory for --all (Infinite Map paths keep their directories)
  --json               one NDJSON event per file: {"type":"written","time":…, container,
                       name, path, size}

Examples:
  pixelrts extract boot.rts.png --segment kernel -o vmlinuz
  pixelrts extract boot.rts.png --all -d boot/`;

/** Rejects names that would escape the output directory. */
function safeRelative(name: string, source: string): string {
  const norm = path.posix.normalize(name);
  if (name === '' || path.posix.isAbsolute(name) || norm === '..' || norm.startsWith('../') || name.includes('\0')) {
    throw new PixelrtsError('ERR_PIXELRTS_UNSAFE_NAME',
      `${source}: file name "${name}" would be written outside the output directory; refusing. Extract it with --segment and -o instead.`);
  }
  return norm;
}

/** Writes one file (or the whole payload) to `out`, or to standard output for '-'. */
async function writeOut(c: Container, out: string, name: string | undefined, options: ReadOptions): Promise<number> {
  if (out === '-') {
    const bytes = name === undefined ? await c.readPayload() : await c.read(name);
    await new Promise<void>((resolve, reject) => process.stdout.write(bytes, (err) => (err ? reject(err) : resolve())));
    return bytes.length;
  }
  return (await c.extractTo(out, name, options)).size;
}

export const extract: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv, {
      out: { type: 'string', short: 'o' },
      segment: { type: 'string' },
      all: { type: 'boolean' },
      dir: { type: 'string', short: 'd' },
      json: { type: 'boolean' },
    }, { minPositionals: 1, maxPositionals: 1, positionalsName: '<file.rts.png|URL>' });
    if (options.all && (options.segment !== undefined || options.out !== undefined)) {
      throw new UsageError('--all writes every file into -d DIR; it cannot be combined with --segment or -o.');
    }
    if (options.dir !== undefined && !options.all) throw new UsageError('-d/--dir is only used with --all.');
    if (options.json && options.out === '-') throw new UsageError('--json and -o - both write to standard output; choose one.');
    const source = await commandSource(positionals[0], 'extract', options.json === true, (w) => printWarnings('extract', [w]));
    try {
      return await extractFrom(source.container, options, positionals[0]);
    } finally {
      await source.close();
    }
  },
};

/** The options extract takes. */
interface ExtractOptions {
  out?: string;
  segment?: string;
  all?: boolean;
  dir?: string;
  json?: boolean;
}

/** Writes what the options ask for out of the opened container (`name`: as the user named it). */
async function extractFrom(c: Container, options: ExtractOptions, name: string): Promise<number> {
  const written: Array<{ name: string; path: string; size: number }> = [];
  await withProgress(`extracting ${name}`, async (progress) => {
    // One bar for all the files: each file's progress counts from what the ones before wrote.
    const files = options.all ? c.files : options.segment !== undefined ? [c.file(options.segment)] : [];
    const total = files.length > 0 ? files.reduce((n, f) => n + f.size, 0) : c.payloadSize;
    let before = 0;
    const write = async (out: string, name?: string): Promise<number> => {
      const size = await writeOut(c, out, name, { onProgress: (done) => progress.update(before + done, total) });
      before += size;
      return size;
    };
    if (options.all) {
      const dir = options.dir ?? containerStem(c.path);
      for (const f of files) {
        const target = path.join(dir, safeRelative(f.name, c.path));
        await fs.mkdir(path.dirname(target), { recursive: true }).catch((err: Error) => {
          throw new PixelrtsError('ERR_PIXELRTS_IO', `cannot create ${path.dirname(target)}: ${err.message}.`, { cause: err });
        });
        written.push({ name: f.name, path: target, size: await write(target, f.name) });
      }
    } else if (options.segment !== undefined) {
      const f = files[0];
      const out = options.out ?? path.posix.basename(safeRelative(f.name, c.path));
      written.push({ name: f.name, path: out, size: await write(out, f.name) });
    } else {
      const out = options.out ?? `${containerStem(c.path)}.bin`;
      written.push({ name: '(payload)', path: out, size: await write(out) });
    }
  });
  if (options.json) {
    const events = new EventWriter();
    for (const w of written) events.write('written', { container: c.path, ...w });
  } else if (options.out !== '-') {
    for (const w of written) process.stdout.write(`wrote ${printable(w.path)} (${printable(w.name)}, ${w.size} bytes)\n`);
  }
  return 0;
}
