// npm's prepack and prepare hooks (package.json). npm runs both for `npm pack` and `npm publish`
// (prepack first), and only prepare for an install from a git URL or a clone.
//   prepack: refuses to pack a package without the prebuilt addon for every platform that
//            package.json's os × cpu claims, then builds dist/ from a clean slate, so what is
//            packed is exactly what lib/ compiles to (nothing stale from a renamed module).
//   prepare: builds dist/, unless prepack of this same pack or publish just did.
// Set PIXELRTS_PACK_WITHOUT_PREBUILDS=1 to pack a source-only package on purpose: installing it
// then compiles the addon with node-gyp (see README, "Install from npm").
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

/** The file node-gyp-build loads on a platform: prebuildify's name, tagged by libc on Linux. */
function prebuildFile(platform, arch) {
  const file = platform === 'linux' ? `${pkg.name}.glibc.node` : `${pkg.name}.node`;
  return path.join('prebuilds', `${platform}-${arch}`, file);
}

function checkPrebuilds() {
  if (process.env.PIXELRTS_PACK_WITHOUT_PREBUILDS === '1') {
    console.warn('pixelrts: packing without prebuilt binaries (PIXELRTS_PACK_WITHOUT_PREBUILDS=1); installs will compile with node-gyp.');
    return;
  }
  const missing = [];
  for (const platform of pkg.os ?? []) {
    for (const arch of pkg.cpu ?? []) {
      const file = prebuildFile(platform, arch);
      if (!fs.existsSync(path.join(root, file))) missing.push(file);
    }
  }
  if (missing.length === 0) return;
  console.error(`pixelrts: refusing to pack: package.json claims os ${JSON.stringify(pkg.os)} × cpu ${JSON.stringify(pkg.cpu)}, ` +
    `but these prebuilt binaries are missing:\n  ${missing.join('\n  ')}\n` +
    'Build them with `npm run build:prebuild` on an x64 Debian/Ubuntu machine (linux-x64, and linux-arm64 cross compiled; ' +
    'see docs/packaging.md) and pack again, ' +
    'or set PIXELRTS_PACK_WITHOUT_PREBUILDS=1 to pack a source-only package whose installs compile with node-gyp.');
  process.exit(1);
}

function buildDist() {
  fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' });
}

const event = process.env.npm_lifecycle_event;
if (event === 'prepack') {
  checkPrebuilds();
  buildDist();
} else if (event === 'prepare') {
  if (!['pack', 'publish'].includes(process.env.npm_command ?? '')) buildDist();
} else {
  console.error(`pixelrts: scripts/pack.mjs is npm's prepack/prepare hook; run \`npm pack\` (this was "${event ?? 'no npm event'}").`);
  process.exit(2);
}
