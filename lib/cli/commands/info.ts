/** `pixelrts info <file> [--json]`: what a container holds. */
import type { PixelrtsWarning } from '../../codec/codec';
import type { Container, Footprint } from '../../codec/container';
import { formatBytes } from '../../format';
import { printable } from '../printable';
import { tableLines } from '../table';
import type { Command } from './command';
import { openFromArgs, printWarnings, type OpenedFromArgs } from './container-args';
import { EventWriter } from '../../boot/events';

const usage = `Usage: pixelrts info <file.rts.png> [--json]

Shows a PixelRTS v2 container's format, grid, payload, compression, user metadata and files.
A file cut short (an interrupted copy or download) is shown as far as it can be read, and
the command then exits 1 saying so.
<file.rts.png> may be an http(s) URL: the container is then read on demand (only the
parts this command reads are fetched, with range requests, and kept in the cache), or
fetched whole first when it has no hash tree.

Options:
  --json   one NDJSON event: {"type":"container","time":…, path, kind, grid, payloadSize,
           encoding, compression, metadata, files, footprint, warnings}

Examples:
  pixelrts info boot.rts.png
  pixelrts info boot.rts.png --json | jq -r '.files[].name'`;

/** The fields of `info --json`'s `container` event. */
export function describeContainer(c: Container, warnings: PixelrtsWarning[], footprint: Footprint): Record<string, unknown> {
  return {
    path: c.path,
    kind: c.kind,
    grid: c.grid,
    payloadSize: c.payloadSize,
    encoding: c.metadata?.encoding?.type ?? null,
    compression: c.metadata?.compression ?? null,
    metadata: c.metadata,
    files: c.files,
    footprint,
    ...(c.infiniteMap ? { infiniteMap: { superblock: c.infiniteMap.superblock, vat: c.infiniteMap.vat } } : {}),
    warnings,
  };
}

/** The command's work on the opened container. */
async function infoOpened({ container: c, json, warnings, source }: OpenedFromArgs): Promise<number> {
  // A truncated file is a failure, not a remark: said last, where it is seen, and exit 1.
  const truncated = warnings.find((w) => w.code === 'WARN_PIXELRTS_TRUNCATED');
  const done = (): number => {
    if (!truncated) return 0;
    process.stderr.write(`pixelrts info: ${truncated.message}\n`);
    return 1;
  };
  if (json) {
    new EventWriter().write('container', describeContainer(c, warnings, await c.footprint()));
    return done();
  }
  printWarnings('info', warnings.filter((w) => w !== truncated));
  const m = c.metadata ?? {};
  const lines = [`${printable(source)}: ${c.kind === 'infinite-map' ? 'Infinite Map v2 container' : `${printable(String(m.format ?? 'PixelRTS'))} container`}`];
  const field = (k: string, v: unknown) => { if (v !== undefined && v !== null && v !== '') lines.push(`  ${k.padEnd(11)} ${printable(String(v))}`); };
  field('grid', `${c.grid}x${c.grid} (${c.grid * c.grid * 4} bytes)`);
  field('payload', `${c.payloadSize} bytes${m.data_hash ? `, sha256 ${m.data_hash}` : ''}`);
  field('encoding', m.encoding?.type ?? (c.kind === 'infinite-map' ? 'superblock + VAT clusters' : 'unknown (no metadata)'));
  if (m.compression) {
    field('compression', `${m.compression.type} level ${m.compression.level}: ${m.encoded_size ?? m.compression.compressed_size} bytes stored`);
  }
  for (const k of ['name', 'type', 'description', 'content_version', 'arch', 'cmdline']) field(k, typeof m[k] === 'string' ? m[k] : undefined);
  // What `boot` uses unless told otherwise.
  field('boot memory', typeof m.memory === 'string' || typeof m.memory === 'number' ? m.memory : undefined);
  field('boot cpus', typeof m.cpus === 'number' ? m.cpus : undefined);
  // Keys set with `convert --meta KEY=VALUE`.
  for (const [k, v] of Object.entries((m as Record<string, unknown>).meta ?? {})) field(`meta ${k}`, typeof v === 'string' ? v : JSON.stringify(v));
  const fp = await c.footprint();
  if (fp.cache) {
    field('decode', `on demand into the decoded cache, ${formatBytes(fp.cache.diskBytes)} of ${formatBytes(fp.cache.payloadSize)} decoded so far`);
    field('cache', fp.cache.entry);
  } else {
    field('decode', fp.decode === 'metadata' ? 'from the metadata (code mode)' : 'into memory, whole');
  }
  field('memory', `about ${formatBytes(fp.memoryBytes)} to read it`);
  if (c.infiniteMap) {
    const sb = c.infiniteMap.superblock;
    field('superblock', `version ${sb.version}, cluster ${sb.clusterSize} bytes, center (${sb.center.join(', ')})`);
  }
  lines.push('', `files (${c.files.length}):`);
  const rows = [['NAME', 'TYPE', 'SIZE', 'OFFSET', 'SHA256']];
  for (const f of c.files) rows.push([printable(f.name), printable(f.type), String(f.size), String(f.offset), printable(f.sha256 ?? '-')]);
  for (const l of tableLines(rows, [2, 3])) lines.push(`  ${l}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return done();
}

export const info: Command = {
  usage,
  async run(argv) {
    const opened = await openFromArgs(argv, 'info');
    try {
      return await infoOpened(opened);
    } finally {
      await opened.close();
    }
  },
};
