/**
 * A container argument as the commands take it: a path, or an http(s) URL, which is fetched
 * into the user's cache first (streamed, resumed and retried; lib/remote/fetch.ts), with a
 * progress line on a terminal and, with --json, a `fetched` event.
 */
import { EventWriter } from '../../boot/events';
import { fetchContainer, isUrl } from '../../remote/fetch';
import { Progress } from '../progress';

/** The local path of `source`: itself, or the cached copy of the URL. */
export async function localSource(source: string, command: string, json: boolean): Promise<string> {
  if (!isUrl(source)) return source;
  // Said once, so nobody waits for a lazy fetch that is not there yet.
  if (!json) process.stderr.write(`pixelrts ${command}: fetching ${source} whole into the cache first (reading only the parts a command needs is not implemented yet)\n`);
  const progress = new Progress('fetch');
  try {
    const got = await fetchContainer(source, { onProgress: ({ done, total }) => progress.update(done, total) });
    if (json) new EventWriter().write('fetched', { url: source, ...got });
    else if (got.cached) process.stderr.write(`pixelrts ${command}: the cached copy is current (${got.path})\n`);
    return got.path;
  } finally {
    progress.finish();
  }
}
