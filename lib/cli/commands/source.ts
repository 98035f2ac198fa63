/**
 * A container argument as the commands take it: a path, or an http(s) URL. A URL is read on
 * demand through a private mount (lib/boot/remote-source.ts), or fetched whole into the cache
 * when it cannot be checked block by block, with a progress line on a terminal. The command says
 * which on stderr, or with --json in a `remote` event.
 */
import type { PixelrtsWarning } from '../../codec/codec';
import { open, type Container } from '../../codec/container';
import { EventWriter } from '../../boot/events';
import { openRemoteSource } from '../../boot/remote-source';
import { isUrl } from '../../remote/fetch';
import { formatBytes } from '../../format';
import { Progress } from '../progress';

/** The container a command was given, opened, and what to close afterwards. */
export interface CommandSource {
  container: Container;
  /** Releases a URL's mount, after saying what was fetched (nothing for a local path). */
  close(): Promise<void>;
}

/**
 * Opens the container `source` names (its warnings go to `onWarning`). Close it when the
 * command is done.
 */
export async function commandSource(source: string, command: string, json: boolean,
  onWarning?: (warning: PixelrtsWarning) => void): Promise<CommandSource> {
  if (!isUrl(source)) return { container: await open(source, { onWarning }), close: async () => undefined };
  const events = json ? new EventWriter() : undefined;
  const say = (text: string): void => { if (!json) process.stderr.write(`pixelrts ${command}: ${text}\n`); };
  const progress = new Progress('fetch');
  let remote;
  try {
    remote = await openRemoteSource(source, {
      onWarning: (message) => (events ? events.write('warning', { message }) : say(`warning: ${message}`)),
      onProgress: ({ done, total }) => progress.update(done, total),
      onContainerWarning: onWarning,
    });
  } finally {
    progress.finish();
  }
  const opened = remote;
  if (events) events.write('remote', { url: source, mode: opened.mode, path: opened.path, ...(opened.reason ? { reason: opened.reason } : {}) });
  else say(opened.mode === 'on-demand' ? `reading ${source} on demand` : `fetched ${source} whole: ${opened.reason ?? ''}`);
  return {
    container: opened.container,
    close: async () => {
      const s = opened.stats();
      await opened.close();
      if (opened.mode !== 'on-demand') return;
      if (events) events.write('fetched', { url: source, bytes: s.bytesFetched, requests: s.requests, retries: s.retries });
      else say(`fetched ${formatBytes(s.bytesFetched)} in ${s.requests} request${s.requests === 1 ? '' : 's'}${s.retries ? ` (${s.retries} retried)` : ''}`);
    },
  };
}
