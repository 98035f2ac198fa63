// A small file that declares a huge image (#16, finding 4): 256 MiB of all-zero scanlines in a
// few hundred KiB of deflate, a payload size to match and a hash that does not. Its decode goes
// to the decoded cache, and so does the second decode verify tries along the legacy curve
// (the hash could not tell the curve): memory stays bounded, never the payload's size.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawn } from 'node:child_process';
import { repoRoot } from '../helpers/prereq.mjs';
import { PEAK_KIB } from '../helpers/child.mjs';

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(Buffer.concat([Buffer.from(type, 'latin1'), data])) >>> 0);
  return Buffer.concat([head, data, crc]);
}

/** A grid x grid RGBA PNG of zeros whose metadata claims a payload filling it, with a wrong hash. */
function zeroBomb(grid) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(grid, 0);
  ihdr.writeUInt32BE(grid, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  const size = grid * grid * 4;
  const meta = `PixelRTS${JSON.stringify({
    format: 'PixelRTS-2.0', format_version: 2, grid_size: grid,
    encoding: { type: 'RGBA-dense', bytes_per_pixel: 4, mapping: 'Hilbert space-filling curve' },
    offsets: { disk: { start: 0, end: size, size, sha256: '0'.repeat(64) } }, data_size: size, data_hash: '0'.repeat(64),
  })}`;
  const rows = Buffer.alloc((1 + grid * 4) * grid);
  const idat = zlib.deflateSync(rows, { level: 9 });
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('tEXt', Buffer.from(`PixelRTS\0${meta}`, 'latin1')), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0)),
  ]);
}

test('verify of a 256 KiB file declaring a 256 MiB payload: a clear mismatch, in bounded memory', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-bomb-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'bomb.rts.png');
  fs.writeFileSync(file, zeroBomb(8192));
  t.true(fs.statSync(file).size < 1 << 20);
  const script = `require(${JSON.stringify(path.join(repoRoot, 'dist/cli/main.js'))}).main(['verify', process.argv[1]])
    .then((code) => console.log(JSON.stringify({ code, peakKiB: ${PEAK_KIB} })));`;
  const child = spawn(process.execPath, ['-e', script, '--', file], {
    env: { ...process.env, PIXELRTS_CACHE_DIR: path.join(dir, 'cache') }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  await new Promise((r) => child.once('close', r));
  const { code, peakKiB } = JSON.parse(stdout.trim().split('\n').at(-1));
  t.is(code, 1, stderr);
  t.regex(stderr, /"disk" does not match its sha256/);
  // Both curves' decodes together would be 512 MiB in memory; the cache keeps them on disk.
  t.true(peakKiB < 160 * 1024, `peak RSS ${Math.round(peakKiB / 1024)} MiB`);
  t.log(`peak RSS ${Math.round(peakKiB / 1024)} MiB for a 256 MiB payload`);
});
