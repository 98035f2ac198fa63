/** Every CLI command, by name, in the order `pixelrts --help` lists them. */
import type { Command } from './command';
import { convert } from './convert';
import { extract } from './extract';
import { frames } from './frames';
import { info } from './info';
import { mount } from './mount';
import { unmount } from './unmount';
import { verify } from './verify';

export const commands: Record<string, Command> = {
  info,
  extract,
  convert,
  verify,
  mount,
  unmount,
  frames,
};
