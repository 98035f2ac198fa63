/**
 * Every CLI command, by name, in the order `pixelrts --help` lists them. A command's module is
 * loaded only when it runs: start-up time is paid by every command (`boot` spawns QEMU after it),
 * and most of the library is needed by one command or two.
 */
import type { Command } from './command';

export interface CommandEntry {
  /** One line for `pixelrts --help`. */
  summary: string;
  /** Loads the command's module. */
  load(): Promise<Command>;
}

export const commands: Record<string, CommandEntry> = {
  info: { summary: 'show what a .rts.png container holds', load: async () => (await import('./info')).info },
  extract: { summary: 'write a container\'s payload or files to disk', load: async () => (await import('./extract')).extract },
  convert: { summary: 'pack files into a .rts.png container', load: async () => (await import('./convert')).convert },
  verify: { summary: 'check every hash recorded in a container', load: async () => (await import('./verify')).verify },
  cache: { summary: 'list or prune the decoded cache of large containers', load: async () => (await import('./cache')).cache },
  boot: { summary: 'boot a container in QEMU (verify, mount, boot; nothing extracted)', load: async () => (await import('./boot')).boot },
  demo: { summary: 'build (once) and boot the demo container', load: async () => (await import('./demo')).demo },
  ps: { summary: 'list running VMs (id, pid, uptime, image, sockets)', load: async () => (await import('./ps')).ps },
  stop: { summary: 'shut a running VM down (graceful; --force to kill)', load: async () => (await import('./stop')).stop },
  commit: { summary: 'write a new container with a VM\'s disk changes (running VM or --persist overlay)', load: async () => (await import('./commit')).commit },
  snapshot: { summary: 'save, load, list or delete live snapshots of a running VM', load: async () => (await import('./snapshot')).snapshot },
  view: { summary: 'the address of a running VM\'s screen in the browser (keyboard and mouse back)', load: async () => (await import('./view')).view },
  screenshot: { summary: 'write a running VM\'s screen to a PNG file', load: async () => (await import('./screenshot')).screenshot },
  type: { summary: 'type text on a running VM\'s keyboard', load: async () => (await import('./type')).type },
  key: { summary: 'press a key combination (ctrl-alt-del) on a running VM', load: async () => (await import('./key')).key },
  click: { summary: 'click at a pixel of a running VM\'s screen', load: async () => (await import('./click')).click },
  send: { summary: 'send a JSON message to a running VM\'s guest (--wait for the reply)', load: async () => (await import('./send')).send },
  qmp: { summary: 'run a QMP command on a running VM and print the result', load: async () => (await import('./qmp')).qmp },
  serve: { summary: 'serve a container\'s files over HTTP (byte ranges) with an iPXE script to net-boot it', load: async () => (await import('./serve')).serve },
  pull: { summary: 'update a local copy to the version at a URL, fetching only the bands that changed', load: async () => (await import('./pull')).pull },
  mount: { summary: 'mount a container\'s files read-only (FUSE) until Ctrl-C', load: async () => (await import('./mount')).mount },
  unmount: { summary: 'unmount a container mounted with `pixelrts mount`', load: async () => (await import('./unmount')).unmount },
  frames: { summary: 'serve H.264 frame export (HXFR) to guests', load: async () => (await import('./frames')).frames },
};
