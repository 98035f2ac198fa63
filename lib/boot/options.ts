/**
 * BootOptions checked before a boot starts anything (accelerator probe, decode, mount, QEMU):
 * a mistake in them is found in milliseconds, named by its option, and leaves nothing to undo.
 * The CLI checks its flags first with its own wording; this holds for API callers, whose
 * values TypeScript cannot always vouch for (`memory: 5` from JavaScript).
 */
import fs from 'node:fs';
import path from 'node:path';
import { isUrl } from '../remote/fetch';
import { PixelrtsError, UsageError } from '../errors';
import { cpuCount, memoryMiB } from '../vm/resources';
import { checkNetworkName } from '../net/addressing';
import type { BootOptions } from './boot';

function oneOf(value: unknown, option: string, choices: readonly string[]): void {
  if (value !== undefined && !choices.includes(value as string)) {
    throw new UsageError(`${option}: expected one of ${choices.join(', ')}, found ${JSON.stringify(value)}.`);
  }
}

function port(value: unknown, option: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new UsageError(`${option}: expected a TCP port from 1 to 65535, found ${JSON.stringify(value)}.`);
  }
}

/** Throws unless the directory a file is to be written in exists. */
function writableHome(file: unknown, option: string): void {
  if (typeof file !== 'string' || file === '') throw new UsageError(`${option}: expected a file path, found ${JSON.stringify(file)}.`);
  const dir = path.dirname(path.resolve(file));
  if (!fs.existsSync(dir)) throw new UsageError(`${option} ${file}: the directory ${dir} does not exist; create it or name a file elsewhere.`);
}

/**
 * Checks the container path and every option of `boot(file, options)`; throws
 * ERR_PIXELRTS_NOT_FOUND for a missing container and a UsageError (ERR_PIXELRTS_USAGE) naming
 * the option.
 */
export function checkBootOptions(file: string, options: BootOptions): void {
  const image = path.resolve(file);
  if (!isUrl(file) && !fs.existsSync(image)) {
    throw new PixelrtsError('ERR_PIXELRTS_NOT_FOUND', `${image}: no such file. Check the path of the container to boot.`);
  }
  if (options.memory !== undefined) memoryMiB(options.memory, 'memory');
  if (options.cpus !== undefined) cpuCount(options.cpus, 'cpus');
  oneOf(options.accel, 'accel', ['auto', 'kvm', 'hvf', 'tcg']);
  oneOf(options.arch, 'arch', ['x86_64', 'aarch64']);
  oneOf(options.firmware, 'firmware', ['auto', 'bios', 'uefi']);
  for (const p of options.expose ?? []) port(p, 'expose');
  for (const f of options.forward ?? []) {
    port(f?.hostPort, 'forward hostPort');
    port(f?.guestPort, 'forward guestPort');
  }
  if (options.vnc !== undefined && options.vnc !== true && !/^(?:[\w.-]*:)?\d{1,2}$/.test(String(options.vnc))) {
    throw new UsageError(`vnc: expected true (a private Unix socket) or a display like '127.0.0.1:1', found ${JSON.stringify(options.vnc)}.`);
  }
  if (options.qemuArgs !== undefined && !(Array.isArray(options.qemuArgs) && options.qemuArgs.every((a) => typeof a === 'string'))) {
    throw new UsageError('qemuArgs: expected an array of strings, one QEMU argument each.');
  }
  if (options.serialLog !== undefined) writableHome(options.serialLog, 'serialLog');
  for (const p of options.persist ?? []) writableHome(p, 'persist');
  if (options.net !== undefined) checkNetworkName(options.net, 'net');
  if (options.runtimeDir !== undefined && !fs.existsSync(options.runtimeDir)) {
    throw new UsageError(`runtimeDir ${options.runtimeDir}: no such directory; give an existing, empty, private (0700) one, or leave it out.`);
  }
}
