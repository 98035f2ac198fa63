/** Every CLI command, by name, in the order `pixelrts --help` lists them. */
import type { Command } from './command';
import { frames } from './frames';

export const commands: Record<string, Command> = {
  frames,
};
