/**
 * Names and addresses on a private network. Everything follows from the network's name and a
 * VM's index on it (1 for the first VM to join, 2 for the next, …; a freed index is reused):
 *
 * - the network's /24 is 10.X.Y.0/24, X and Y the first two bytes of SHA-256(name) (with Y
 *   moved off 10.0.2.0/24, the user-mode network's, should the hash land there);
 * - VM number N is 10.X.Y.(N+1): the first is .2; .1 is kept back (no host side yet) and .255 is
 *   the broadcast, so a network holds MAX_VMS = 253 VMs;
 * - its MAC is 52:54:0a:XX:YY:HH, the IPv4 address in hex behind a locally administered prefix.
 */
import crypto from 'node:crypto';
import { UsageError } from '../errors';

/** The VMs one network holds (.2 to .254). */
export const MAX_VMS = 253;

/** A network name: letters, digits, `_` and `-`, up to 32 characters (it names a directory). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

/** Throws a UsageError naming `option` unless `name` is a valid network name. */
export function checkNetworkName(name: unknown, option = 'net'): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new UsageError(`${option}: expected a network name of letters, digits, '_' and '-' (up to 32, starting with a letter or digit), found ${JSON.stringify(name)}.`);
  }
  return name;
}

/** Where a VM sits on its network. */
export interface NetworkAddress {
  /** The network's name. */
  network: string;
  /** The VM's index on it (1…MAX_VMS). */
  index: number;
  /** Its IPv4 address, e.g. `10.77.4.2`. */
  ip: string;
  /** The prefix length (24). */
  prefix: number;
  /** The network, e.g. `10.77.4.0/24`. */
  subnet: string;
  /** Its MAC address, e.g. `52:54:0a:4d:04:02`. */
  mac: string;
}

/** The two middle octets of the network's 10.X.Y.0/24. */
function subnetOctets(name: string): [number, number] {
  const h = crypto.createHash('sha256').update(name).digest();
  return [h[0], h[0] === 0 && h[1] === 2 ? 3 : h[1]];
}

/** The address of VM number `index` on network `name`. */
export function networkAddress(name: string, index: number): NetworkAddress {
  if (!Number.isInteger(index) || index < 1 || index > MAX_VMS) {
    throw new UsageError(`a VM's index on a network is 1 to ${MAX_VMS}, found ${index}.`);
  }
  const [x, y] = subnetOctets(name);
  const host = index + 1;
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return {
    network: name,
    index,
    ip: `10.${x}.${y}.${host}`,
    prefix: 24,
    subnet: `10.${x}.${y}.0/24`,
    mac: `52:54:0a:${hex(x)}:${hex(y)}:${hex(host)}`,
  };
}
