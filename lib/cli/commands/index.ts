/** Every CLI command, by name, in the order `pixelrts --help` lists them. */
import type { Command } from './command';
import { boot } from './boot';
import { cache } from './cache';
import { commit } from './commit';
import { convert } from './convert';
import { demo } from './demo';
import { extract } from './extract';
import { frames } from './frames';
import { info } from './info';
import { mount } from './mount';
import { ps } from './ps';
import { qmp } from './qmp';
import { send } from './send';
import { snapshot } from './snapshot';
import { stop } from './stop';
import { unmount } from './unmount';
import { verify } from './verify';

export const commands: Record<string, Command> = {
  info,
  extract,
  convert,
  verify,
  cache,
  boot,
  demo,
  ps,
  stop,
  commit,
  snapshot,
  send,
  qmp,
  mount,
  unmount,
  frames,
};
