/** `pixelrts convert`: packs one file, or several (a boot bundle), into a .rts.png. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from '../args';
import { withProgress } from '../progress';
import { formatBytes } from '../../format';
import { writeContainer, WriteInput, WriteOptions } from '../../codec/writer';
import { UsageError } from '../../errors';
import { classifyName } from '../../codec/metadata';
import type { Command } from './command';

const usage = `Usage: pixelrts convert <input>... <out.rts.png> [options]

Packs files into a PixelRTS v2 container and writes its sidecar <out.rts.png>.meta.json.
One input makes a single-file container (named by --name or the input's stem). Several inputs,
or any --segment, make a segment table: each input is a segment named after its file name;
inputs named kernel/vmlinuz/vmlinux/bzImage get type "kernel", initrd/initramfs/initrd.img
type "initrd", others "data".

Options:
  --segment NAME=PATH  add PATH as the segment NAME (repeatable; after the positional inputs)
  --type TYPE          the container's "type" (default "boot-bundle" when there is a kernel)
  --name NAME          the container's "name"
  --cmdline TEXT       kernel command line to store with a boot bundle
  --level N            deflate level 0-12 (default 6)
  --compress           store the payload as a zlib stream (skipped when it does not shrink)
  --grid N             grid side (a power of two; default the smallest that fits)
  --json               print the metadata written as JSON

Examples:
  pixelrts convert hello.wasm hello.rts.png
  pixelrts convert --segment kernel=bzImage --segment initrd=initramfs.cpio.gz \\
      --cmdline "console=ttyS0" boot.rts.png`;

export const convert: Command = {
  summary: 'pack files into a .rts.png container',
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv, {
      segment: { type: 'string', multiple: true },
      type: { type: 'string' },
      name: { type: 'string' },
      cmdline: { type: 'string' },
      level: { type: 'integer', min: 0, max: 12 },
      compress: { type: 'boolean' },
      grid: { type: 'integer', min: 1 },
      json: { type: 'boolean' },
    }, { minPositionals: 1, positionalsName: '<input>... <out.rts.png>' });
    const out = positionals[positionals.length - 1];
    const inputs = positionals.slice(0, -1);
    if (!out.toLowerCase().endsWith('.png')) {
      throw new UsageError(`the last argument is the output and must end in .rts.png, found "${out}".`);
    }
    const named = options.segment.map((spec) => {
      const eq = spec.indexOf('=');
      if (eq <= 0 || eq === spec.length - 1) throw new UsageError(`--segment: expected NAME=PATH, found "${spec}".`);
      return { name: spec.slice(0, eq), path: spec.slice(eq + 1) };
    });
    if (inputs.length + named.length === 0) throw new UsageError('no input: give at least one input file or --segment NAME=PATH.');

    const writeOptions: WriteOptions = { level: options.level, compress: options.compress, grid: options.grid, cmdline: options.cmdline };
    let input: WriteInput;
    let files: string;
    if (inputs.length === 1 && named.length === 0) {
      input = { path: inputs[0] };
      files = '1 file';
      writeOptions.name = options.name ?? path.parse(inputs[0]).name;
      writeOptions.type = options.type ?? classifyName(path.basename(inputs[0])) ?? undefined;
    } else {
      const all = [...inputs.map((p) => ({ name: path.basename(p), path: p })), ...named];
      const seen = new Set<string>();
      for (const s of all) {
        if (seen.has(s.name)) throw new UsageError(`segment name "${s.name}" is given twice; use --segment NAME=PATH to rename one.`);
        seen.add(s.name);
      }
      const segments = all.map((s) => ({ name: s.name, path: s.path, type: classifyName(s.name) ?? 'data' }));
      input = segments;
      files = `${segments.length} segments`;
      writeOptions.type = options.type ?? (segments.some((s) => s.type === 'kernel') ? 'boot-bundle' : undefined);
      writeOptions.name = options.name ?? path.basename(out).replace(/(\.rts)?\.png$/i, '');
    }
    const labels = { hash: 'hashing the inputs', compress: 'compressing the payload', encode: `writing ${out}` };
    const metadata = await withProgress(labels.hash, (progress) => writeContainer(out, input, {
      ...writeOptions,
      onProgress: (p) => progress.update(p.done, p.total, labels[p.phase]),
    }));
    const total = Number(metadata.data_size);
    if (options.json) {
      process.stdout.write(`${JSON.stringify(metadata, null, 2)}\n`);
    } else {
      const size = (await fs.stat(out)).size;
      process.stdout.write(`wrote ${out} (${files}, payload ${formatBytes(total)}, grid ${metadata.grid_size}x${metadata.grid_size}` +
        `${metadata.compression ? ', zlib-compressed' : ''}, ${formatBytes(size)}) and ${out}.meta.json\n`);
    }
    return 0;
  },
};
