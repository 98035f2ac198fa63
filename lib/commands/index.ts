/** Every CLI command, by name, in the order `pixelrts --help` lists them. */
import type { Command } from './command';
import { boot } from './boot';
import { demo } from './demo';
import { frames } from './frames';
import { mount } from './mount';
import { ps } from './ps';
import { qmp } from './qmp';
import { send } from './send';
import { stop } from './stop';
import { unmount } from './unmount';

export const commands: Record<string, Command> = {
  boot,
  demo,
  ps,
  stop,
  send,
  qmp,
  mount,
  unmount,
  frames,
};
