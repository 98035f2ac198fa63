// Loaded by ava in every test worker before its tests (package.json "ava.require"): large
// containers opened by tests, and by the CLI children they spawn, decode into a decoded cache of
// this worker's own, removed when the worker exits, never into the user's ~/.cache.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

if (!process.env.PIXELRTS_CACHE_DIR) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-test-cache-'));
  process.env.PIXELRTS_CACHE_DIR = dir;
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
}
