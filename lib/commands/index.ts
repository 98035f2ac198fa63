/** Every CLI command, by name, in the order `pixelrts --help` lists them. */
import type { Command } from './command';
import { boot } from './boot';
import { ps } from './ps';
import { qmp } from './qmp';
import { send } from './send';
import { stop } from './stop';

export const commands: Record<string, Command> = {
  boot,
  ps,
  stop,
  send,
  qmp,
};
