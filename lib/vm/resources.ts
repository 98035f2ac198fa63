/**
 * A guest's memory and CPUs, checked before anything starts. QEMU takes `-m 5` as 5 MiB, a guest
 * that cannot boot and fails late with an obscure message; a size is read here with its unit
 * (a bare number means MiB, as QEMU reads it) and refused below MIN_MEMORY_MIB.
 */
import { UsageError } from '../errors';

/** The least memory a guest is given: a kernel does not boot in less. */
export const MIN_MEMORY_MIB = 16;
/** The most (16 TiB): beyond what QEMU maps on the hosts pixelrts runs on. */
const MAX_MEMORY_MIB = 16 * 1024 * 1024;
const UNITS: Record<string, number> = { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 };

/**
 * Guest memory in MiB from a size like `512M`, `2G`, `1.5G` or `512` (MiB); throws a
 * UsageError (ERR_PIXELRTS_USAGE) naming `option` for anything else, a number included (`memory: 5`).
 */
export function memoryMiB(value: unknown, option: string): number {
  const m = typeof value === 'string' ? /^(\d+(?:\.\d+)?)\s*([KMGT])?(?:i?B)?$/i.exec(value.trim()) : null;
  const mib = m ? Number(m[1]) * UNITS[(m[2] ?? 'M').toUpperCase()] : NaN;
  if (!m || !Number.isInteger(mib) || mib < MIN_MEMORY_MIB || mib > MAX_MEMORY_MIB) {
    const found = typeof value === 'string' ? `'${value}'` : `${String(value)} (a ${typeof value}; sizes are strings with a unit)`;
    throw new UsageError(
      `${option}: expected a size like 512M or 2G (whole MiB, at least ${MIN_MEMORY_MIB}M; a bare number means MiB), found ${found}.`);
  }
  return mib;
}

/** Virtual CPUs: a whole number from 1 to 255; throws ERR_PIXELRTS_USAGE naming `option`. */
export function cpuCount(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 255) {
    throw new UsageError(`${option}: expected a whole number from 1 to 255, found ${JSON.stringify(value) ?? String(value)}.`);
  }
  return value;
}
