/** Formatting shared by the parts and the CLI. */

/** Formats a byte count for humans, e.g. 16.0 MiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/**
 * Whether to colour what goes to `stream`: only a terminal, and never when the user set
 * NO_COLOR (https://no-color.org: any non-empty value).
 */
export function colorAllowed(stream: { isTTY?: boolean }): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR;
}
