/**
 * A cloud-init NoCloud seed: a small FAT volume labelled `cidata` holding `user-data` and
 * `meta-data`, which cloud-init in a cloud image finds on any block device and applies at first
 * boot (users, SSH keys, packages, commands). Made in the runtime directory with mkfs.vfat and
 * mcopy (dosfstools, mtools) and attached read-only.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { PixelrtsError } from '../errors';
import type { NetworkAddress } from '../net/addressing';
import { USER_NETWORK_MAC } from '../vm/qemu';

const run = promisify(execFile);

/** The user-data that installs `keys` (an OpenSSH public key file's lines) for the image's default user. */
export function sshKeyUserData(keys: string): string {
  const lines = keys.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (lines.length === 0 || !lines.every((l) => /^(ssh-|ecdsa-|sk-)[\w@.-]+ [A-Za-z0-9+/=]+( .*)?$/.test(l))) {
    throw new PixelrtsError('ERR_PIXELRTS_CLOUD_INIT', 'the --ssh-key file holds no OpenSSH public key (a line like "ssh-ed25519 AAAA… you@host"); give the .pub file.');
  }
  return `#cloud-config\nssh_authorized_keys:\n${lines.map((l) => `  - ${JSON.stringify(l)}`).join('\n')}\n`;
}

/**
 * The seed's `network-config` (version 2) for a VM on a private network: its card there, found
 * by its MAC, gets its static address; the user-mode network's card, when there is one, DHCP
 * (as cloud-init does by itself without a network-config).
 */
export function networkConfig(address: NetworkAddress, userNetwork: boolean): string {
  return [
    'version: 2',
    'ethernets:',
    '  private:',
    `    match: { macaddress: "${address.mac}" }`,
    `    addresses: ["${address.ip}/${address.prefix}"]`,
    ...(userNetwork ? ['  user:', `    match: { macaddress: "${USER_NETWORK_MAC}" }`, '    dhcp4: true'] : []),
    '',
  ].join('\n');
}

/**
 * Writes the seed for `userData` (and `network`, a network-config) to `<dir>/cidata.img` and
 * returns its path. The instance id changes with the user-data and the network-config, so
 * cloud-init applies a changed one on a kept (--persist) disk.
 */
export async function makeSeed(dir: string, userData: string, hostname: string, network?: string): Promise<string> {
  if (!/^#cloud-config\b|^#!|^#include\b|^Content-Type:/m.test(userData.split('\n')[0] ?? '')) {
    throw new PixelrtsError('ERR_PIXELRTS_CLOUD_INIT',
      'the user-data does not start with "#cloud-config" (or "#!" for a script): cloud-init would ignore it. Add the header line.');
  }
  const id = `pixelrts-${crypto.createHash('sha256').update(userData).update(network ?? '').digest('hex').slice(0, 12)}`;
  const files: Record<string, string> = { 'user-data': userData, 'meta-data': `instance-id: ${id}\nlocal-hostname: ${hostname}\n` };
  if (network !== undefined) files['network-config'] = network;
  const seed = path.join(dir, 'cidata.img');
  try {
    await run('mkfs.vfat', ['-n', 'CIDATA', '-C', seed, '1024']);
    for (const [name, text] of Object.entries(files)) {
      const src = path.join(dir, name);
      fs.writeFileSync(src, text, { mode: 0o600 });
      await run('mcopy', ['-i', seed, src, `::/${name}`]);
      fs.rmSync(src);
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new PixelrtsError('ERR_PIXELRTS_DEPENDENCY',
        `${e.path ?? 'mkfs.vfat'} not found: the cloud-init seed is made with mkfs.vfat and mcopy. Install them (Debian: apt-get install dosfstools mtools).`);
    }
    throw new PixelrtsError('ERR_PIXELRTS_CLOUD_INIT', `cannot make the cloud-init seed: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
  return seed;
}
