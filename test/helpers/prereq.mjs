// Prerequisites of tests that need real parts (FUSE, QEMU, ffmpeg, the golden vectors).
// On a user's machine a missing prerequisite skips the test with the reason printed;
// in CI (CI=true) it fails the test, because CI must exercise everything.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const inCI = process.env.CI === 'true';

/** Directory of the golden vectors, ../shared/vectors beside the checkout (or PIXELRTS_VECTORS). */
export const vectorsDir = process.env.PIXELRTS_VECTORS ??
  path.resolve(repoRoot, '..', 'shared', 'vectors');

/**
 * Returns a `test` replacement: the real `test` when `reason` is null, otherwise a
 * function that registers a skipped test (printing why) or, in CI, a failing one.
 */
export function needs(test, reason) {
  if (reason === null) return test;
  const wrapped = (title, ...rest) => {
    if (inCI) {
      return test(title, (t) => t.fail(`prerequisite missing in CI: ${reason}`));
    }
    console.warn(`skipping "${title}": ${reason}`);
    return test.skip(title, ...rest);
  };
  wrapped.serial = (title, ...rest) => wrapped(title, ...rest);
  return wrapped;
}

/** null when the golden vectors are present, else the reason they are not. */
export function vectorsMissing() {
  return fs.existsSync(path.join(vectorsDir, 'MANIFEST.md'))
    ? null
    : `golden vectors not found at ${vectorsDir} (set PIXELRTS_VECTORS or check out shared/ beside the repo)`;
}

/** null when `cmd` is on PATH, else the reason (with the package that provides it). */
export function commandMissing(cmd, pkg) {
  const dirs = (process.env.PATH ?? '').split(path.delimiter);
  return dirs.some((d) => fs.existsSync(path.join(d, cmd)))
    ? null
    : `${cmd} not found on PATH (install the Debian package ${pkg}: scripts/install-deps.sh --dev)`;
}
