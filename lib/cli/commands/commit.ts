/** `pixelrts commit`: a new container with a VM's disk changes in it. */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from '../args';
import { withProgress } from '../progress';
import { formatBytes } from '../../format';
import { PixelrtsError } from '../../errors';
import { commitDisks, pausedFor, type CommitDisk } from '../../boot/commit';
import { controlQmp } from '../../boot/control';
import { findVm, listVms } from '../../boot/registry';
import { readOverlayIdentity } from '../../boot/overlay';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';

const usage = `Usage: pixelrts commit <id> -o <out.rts.png>
       pixelrts commit <overlay.qcow2>... -o <out.rts.png> [--container FILE]

Writes a new container whose disks include the changes made to them, with the container's
other segments and metadata; it boots like any other, without the overlay. The old container
is not changed.

  <id>              a running VM (pixelrts ps): its guest is paused while its disks are
                    copied (QEMU flushes them when it stops), then resumed
  <overlay.qcow2>   overlays kept with boot --persist: merged with the container each
                    was made for (it records where that was)

Options:
  -o, --output FILE   the new container (required)
  --container FILE    the container the overlays belong to, when it moved since
  --json              one NDJSON event: {"type":"written","time":…, path, metadata}

Examples:
  pixelrts commit debian-3f2a -o debian-v2.rts.png
  pixelrts commit changes.qcow2 -o debian-v2.rts.png`;

export const commit: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv, {
      output: { type: 'string', short: 'o' },
      container: { type: 'string' },
      json: { type: 'boolean' },
    }, { minPositionals: 1, positionalsName: '<id> or <overlay.qcow2>...' });
    if (!options.output) throw new PixelrtsError('ERR_PIXELRTS_USAGE', 'the new container is missing: give it with -o out.rts.png.');
    const output = options.output;
    let image: string;
    let disks: CommitDisk[];
    let note: string;
    const looksLikeId = positionals.length === 1 && !fs.existsSync(positionals[0]) && !positionals[0].endsWith('.qcow2');
    const running = looksLikeId ? findVm(positionals[0]) : undefined;
    const progress = (p: { done: number; total: number; phase: string; detail?: string }, bar: { update(done: number, total?: number, label?: string): void }) =>
      bar.update(p.done, p.total, p.phase === 'merge' ? `merging the disks${p.detail ? ` (${p.detail})` : ''}` : p.phase === 'hash' ? 'hashing the new container\'s segments' : `writing ${output}`);
    let metadata: Record<string, unknown>;
    if (running) {
      if (!running.disks?.length) throw new PixelrtsError('ERR_PIXELRTS_COMMIT', `VM ${running.id} (${running.image}) has no disks: there is nothing to commit.`);
      image = running.image;
      disks = running.disks;
      metadata = await withProgress(`committing ${running.id}`, (bar) => pausedFor(controlQmp(running.controlSocket, 30_000), () =>
        commitDisks(image, disks, output, { mountpoint: `${running.runtimeDir}/mnt`, onProgress: (p) => progress(p, bar) })));
      note = `the guest was paused while its disks were copied, and resumed`;
    } else {
      const origins: string[] = [];
      disks = positionals.map((overlay) => {
        const identity = fs.existsSync(overlay) ? readOverlayIdentity(overlay) : null;
        if (!identity) {
          const vms = listVms().map((v) => v.id);
          throw new PixelrtsError('ERR_PIXELRTS_OVERLAY',
            `${overlay} is neither a running VM${vms.length ? ` (running: ${vms.join(', ')})` : ''} nor an overlay made by pixelrts boot --persist.`);
        }
        origins.push(identity.container);
        return { segment: identity.segment, overlay };
      });
      const from = new Set(origins);
      if (options.container === undefined && from.size > 1) {
        throw new PixelrtsError('ERR_PIXELRTS_OVERLAY', `the overlays belong to different containers (${[...from].join(', ')}): commit them one container at a time.`);
      }
      image = options.container ?? [...from][0];
      if (!fs.existsSync(image)) {
        throw new PixelrtsError('ERR_PIXELRTS_NOT_FOUND', `${image}, the container the overlay was made for, is not there any more: name it with --container FILE.`);
      }
      const inUse = listVms().find((v) => v.disks?.some((d) => disks.some((x) => path.resolve(x.overlay) === path.resolve(d.overlay))));
      if (inUse) {
        throw new PixelrtsError('ERR_PIXELRTS_COMMIT', `VM ${inUse.id} is running on this overlay: commit it by its id instead (pixelrts commit ${inUse.id} -o ${output}; its guest is paused while its disks are copied).`);
      }
      metadata = await withProgress(`committing ${positionals.join(', ')}`, (bar) => commitDisks(image, disks, output, { onProgress: (p) => progress(p, bar) }));
      note = 'from the overlay file';
    }
    if (options.json) {
      new EventWriter().write('written', { path: output, metadata });
    } else {
      process.stdout.write(`wrote ${output} (${formatBytes(fs.statSync(output).size)}): ${image} with the changes of ${disks.map((d) => `disk "${d.segment}"`).join(', ')}; ${note}.\n`);
    }
    return 0;
  },
};
