/** Plain-text tables for the CLI's listings (info, ps, cache). */

/**
 * The lines of a table: each column padded to its widest cell (right-aligned for the columns in
 * `rightAligned`), two spaces between columns, the last column left as it is. Widths are found
 * without spreading the cells into Math.max, so a table of any length prints (a container can
 * list 200,000 segments).
 */
export function tableLines(rows: string[][], rightAligned: number[] = []): string[] {
  const widths = rows[0].map((_, i) => rows.reduce((w, r) => Math.max(w, r[i].length), 0));
  return rows.map((r) => r.map((cell, i) => {
    if (i === r.length - 1) return cell;
    return rightAligned.includes(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]);
  }).join('  ').trimEnd());
}
