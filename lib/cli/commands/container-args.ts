/** What `info` and `verify` share: `<file.rts.png> [--json]`, opened with its warnings collected. */
import { parseArgs } from '../args';
import type { PixelrtsWarning } from '../../codec/codec';
import { Container, open } from '../../codec/container';
import { localSource } from './source';

export interface OpenedFromArgs {
  container: Container;
  json: boolean;
  /** Warnings found while opening; later ones also land in container.warnings. */
  warnings: PixelrtsWarning[];
}

/** Parses `<file.rts.png> [--json]` (usage errors exit 2) and opens the container. */
export async function openFromArgs(argv: string[], command: string): Promise<OpenedFromArgs> {
  const { options, positionals } = parseArgs(argv, { json: { type: 'boolean' } },
    { minPositionals: 1, maxPositionals: 1, positionalsName: '<file.rts.png|URL>' });
  const container = await open(await localSource(positionals[0], command, options.json === true));
  return { container, json: options.json === true, warnings: container.warnings };
}

/** Prints warnings to stderr as `pixelrts <command>: warning: ...`. */
export function printWarnings(command: string, warnings: PixelrtsWarning[]): void {
  for (const w of warnings) process.stderr.write(`pixelrts ${command}: warning: ${w.message}\n`);
}
