/** `pixelrts convert`: packs one file, or several (a boot bundle), into a .rts.png. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from '../args';
import { withProgress } from '../progress';
import { formatBytes } from '../../format';
import { writeContainer, WriteInput, WriteOptions } from '../../codec/writer';
import { UsageError } from '../../errors';
import { classifyName, SEGMENT_KINDS, segmentKindFromName, type SegmentKind } from '../../codec/metadata';
import { parseMemory } from './boot';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';

const usage = `Usage: pixelrts convert <input>... <out.rts.png> [options]

Packs files into a PixelRTS v2 container and writes its sidecar <out.rts.png>.meta.json.
One input makes a single-file container (named by --name or the input's stem). Several inputs,
or any --segment, make a segment table: each input is a segment named after its file name.
A segment's type tells boot what it is: kernel, initrd, disk (raw or qcow2), iso (a CD-ROM),
firmware, dtb, or data. It comes from --type after the segment, else from its name (kernel,
vmlinuz, bzImage; initrd, initramfs; disk, disk2; iso, cdrom, *.iso; *.qcow2; firmware; *.dtb).

Options:
  --segment KIND=PATH  add PATH as a segment of that kind, named after it (kernel, initrd,
                       disk, iso, firmware, dtb; a second disk is named disk2, …)
  --segment NAME=PATH  add PATH as the segment NAME (repeatable; after the positional inputs)
      --type KIND      right after a --segment: that segment's type
  --type TYPE          elsewhere: the container's "type" (default "boot-bundle" when it has
                       a kernel, "disk-image" when it has disks or ISOs and no kernel)
  --name NAME          the container's "name"
  --arch A             x86_64|aarch64: the architecture boot uses (default: from the kernel)
  --cmdline TEXT       kernel command line to store with a boot bundle
  --memory SIZE        guest memory boot uses by default, e.g. 1G
  --cpus N             virtual CPUs boot uses by default
  --meta KEY=VALUE     a metadata entry of your own (repeatable; under "meta")
  --level N            deflate level 0-12 (default 6)
  --compress           store the payload as a zlib stream (skipped when it does not shrink)
  --grid N             grid side (a power of two; default the smallest that fits)
  --json               one NDJSON event: {"type":"written","time":…, path, sidecar, metadata}

Examples:
  pixelrts convert hello.wasm hello.rts.png
  pixelrts convert --segment kernel=bzImage --segment initrd=initramfs.cpio.gz \\
      --cmdline "console=ttyS0" boot.rts.png
  pixelrts convert --segment kernel=vmlinuz --segment initrd=initrd.img \\
      --segment disk=rootfs.ext4 --cmdline "console=ttyS0 root=/dev/vda rw" debian.rts.png
  pixelrts convert --segment installer=debian.iso --type iso --memory 2G iso.rts.png`;

/**
 * Takes the segment types out of `argv`: a `--type KIND` right after a `--segment` (its value
 * included) types that segment. Returns the rest of argv and the types by segment position.
 */
export function takeSegmentTypes(argv: string[]): { argv: string[]; types: Array<SegmentKind | undefined> } {
  const out: string[] = [];
  const types: Array<SegmentKind | undefined> = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    out.push(a);
    const isSegment = a === '--segment' || a.startsWith('--segment=');
    if (!isSegment) continue;
    if (a === '--segment' && i + 1 < argv.length) out.push(argv[++i]);
    types.push(undefined);
    const next = argv[i + 1];
    const kind = next === '--type' ? argv[i + 2] : next?.startsWith('--type=') ? next.slice('--type='.length) : undefined;
    if (kind === undefined) continue;
    if (!(SEGMENT_KINDS as readonly string[]).includes(kind)) {
      throw new UsageError(`--type after a --segment gives its type: expected one of ${SEGMENT_KINDS.join(', ')}, found '${kind}'.`);
    }
    types[types.length - 1] = kind as SegmentKind;
    i += next === '--type' ? 2 : 1;
  }
  return { argv: out, types };
}

/** `--meta KEY=VALUE` pairs as an object; throws UsageError for a malformed or repeated one. */
function metaEntries(specs: string[]): Record<string, string> | undefined {
  if (specs.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new UsageError(`--meta: expected KEY=VALUE, found "${spec}".`);
    const key = spec.slice(0, eq);
    if (key in out) throw new UsageError(`--meta: "${key}" is given twice.`);
    out[key] = spec.slice(eq + 1);
  }
  return out;
}

export const convert: Command = {
  usage,
  async run(argv) {
    const typed = takeSegmentTypes(argv);
    const { options, positionals } = parseArgs(typed.argv, {
      segment: { type: 'string', multiple: true },
      type: { type: 'string' },
      name: { type: 'string' },
      arch: { type: 'string' },
      cmdline: { type: 'string' },
      memory: { type: 'string' },
      cpus: { type: 'integer', min: 1, max: 255 },
      meta: { type: 'string', multiple: true },
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
    const kindCount = new Map<string, number>();
    const named = options.segment.map((spec, i) => {
      const eq = spec.indexOf('=');
      if (eq <= 0 || eq === spec.length - 1) throw new UsageError(`--segment: expected NAME=PATH or KIND=PATH, found "${spec}".`);
      let name = spec.slice(0, eq);
      // A kind word names the segment after its kind, numbered from the second one on.
      if ((SEGMENT_KINDS as readonly string[]).includes(name) && name !== 'data') {
        const n = (kindCount.get(name) ?? 0) + 1;
        kindCount.set(name, n);
        if (n > 1) name = `${name}${n}`;
      }
      return { name, path: spec.slice(eq + 1), type: typed.types[i] };
    });
    if (inputs.length + named.length === 0) throw new UsageError('no input: give at least one input file or --segment NAME=PATH.');
    if (options.arch !== undefined && !['x86_64', 'aarch64'].includes(options.arch)) {
      throw new UsageError(`--arch: expected one of x86_64, aarch64, found '${options.arch}'.`);
    }
    const defaults: Record<string, unknown> = {
      ...(options.arch !== undefined ? { arch: options.arch } : {}),
      ...(options.memory !== undefined ? { memory: `${parseMemory(options.memory)}M` } : {}),
      ...(options.cpus !== undefined ? { cpus: options.cpus } : {}),
    };
    const meta = metaEntries(options.meta);
    if (meta) defaults.meta = meta;

    const writeOptions: WriteOptions = {
      level: options.level, compress: options.compress, grid: options.grid, cmdline: options.cmdline,
      ...(Object.keys(defaults).length > 0 ? { metadata: defaults } : {}),
    };
    let input: WriteInput;
    let files: string;
    if (inputs.length === 1 && named.length === 0) {
      input = { path: inputs[0] };
      files = '1 file';
      writeOptions.name = options.name ?? path.parse(inputs[0]).name;
      writeOptions.type = options.type ?? classifyName(path.basename(inputs[0])) ?? undefined;
    } else {
      const all: Array<{ name: string; path: string; type?: SegmentKind }> = [...inputs.map((p) => ({ name: path.basename(p), path: p })), ...named];
      const seen = new Set<string>();
      for (const s of all) {
        if (seen.has(s.name)) throw new UsageError(`segment name "${s.name}" is given twice; use --segment NAME=PATH to rename one.`);
        seen.add(s.name);
      }
      const segments = all.map((s) => ({
        name: s.name, path: s.path, type: s.type ?? segmentKindFromName(s.name) ?? 'data',
      }));
      input = segments;
      files = `${segments.length} segments`;
      const has = (t: string) => segments.some((s) => s.type === t);
      writeOptions.type = options.type ?? (has('kernel') ? 'boot-bundle' : has('disk') || has('iso') ? 'disk-image' : undefined);
      writeOptions.name = options.name ?? path.basename(out).replace(/(\.rts)?\.png$/i, '');
    }
    const labels = { hash: 'hashing the inputs', compress: 'compressing the payload', encode: `writing ${out}` };
    const metadata = await withProgress(labels.hash, (progress) => writeContainer(out, input, {
      ...writeOptions,
      onProgress: (p) => progress.update(p.done, p.total, labels[p.phase]),
    }));
    const total = Number(metadata.data_size);
    if (options.json) {
      new EventWriter().write('written', { path: out, sidecar: `${out}.meta.json`, metadata });
    } else {
      const size = (await fs.stat(out)).size;
      process.stdout.write(`wrote ${out} (${files}, payload ${formatBytes(total)}, grid ${metadata.grid_size}x${metadata.grid_size}` +
        `${metadata.compression ? ', zlib-compressed' : ''}, ${formatBytes(size)}) and ${out}.meta.json\n`);
    }
    return 0;
  },
};
