/** What `info` and `verify` share: `<file.rts.png> [--json]`, opened with its warnings collected. */
import { parseArgs } from '../args';
import type { PixelrtsWarning } from '../../codec/codec';
import { Container } from '../../codec/container';
import { commandSource } from './source';

export interface OpenedFromArgs {
  container: Container;
  json: boolean;
  /** Warnings found while opening; later ones also land in container.warnings. */
  warnings: PixelrtsWarning[];
  /** The container as the user named it (a path, or a URL whose local path is a private mount). */
  source: string;
  /** Releases what opening a URL set up; call when the command is done. */
  close(): Promise<void>;
}

/** Parses `<file.rts.png> [--json]` (usage errors exit 2) and opens the container. */
export async function openFromArgs(argv: string[], command: string): Promise<OpenedFromArgs> {
  const { options, positionals } = parseArgs(argv, { json: { type: 'boolean' } },
    { minPositionals: 1, maxPositionals: 1, positionalsName: '<file.rts.png|URL>' });
  const { container, close } = await commandSource(positionals[0], command, options.json === true);
  return { container, json: options.json === true, warnings: container.warnings, source: positionals[0], close };
}

/** Prints warnings to stderr as `pixelrts <command>: warning: ...`. */
export function printWarnings(command: string, warnings: PixelrtsWarning[]): void {
  for (const w of warnings) process.stderr.write(`pixelrts ${command}: warning: ${w.message}\n`);
}
