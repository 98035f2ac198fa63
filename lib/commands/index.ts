/** Every CLI command, by name, in the order `pixelrts --help` lists them. */
import type { Command } from './command';

export const commands: Record<string, Command> = {
};
