/** Every CLI command, by name, in the order `pixelrts --help` lists them. */
import type { Command } from './command';
import { frames } from './frames';
import { mount } from './mount';
import { unmount } from './unmount';

export const commands: Record<string, Command> = {
  mount,
  unmount,
  frames,
};
