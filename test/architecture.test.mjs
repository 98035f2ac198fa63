// The layering of lib/ (docs/architecture.md): imports point only down the data flow
// file → codec → mount → QEMU → console/channel/frames, or into the shared top.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './helpers/prereq.mjs';
import { importViolations, strayTopLevelFiles, PARTS } from './helpers/imports.mjs';

const libDir = path.join(repoRoot, 'lib');

test('every import in lib/ points down the data flow or into the shared top', (t) => {
  const violations = importViolations(libDir);
  t.deepEqual(violations, [], violations.map((v) => `lib/${v.file}.ts imports '${v.specifier}': ${v.reason}`).join('\n'));
});

test('lib/ has one folder per part and only shared modules at its top', (t) => {
  const folders = fs.readdirSync(libDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  t.deepEqual(folders.sort(), [...PARTS].sort());
  t.deepEqual(strayTopLevelFiles(libDir), []);
});

test('the check catches wrong imports: a part importing a later one, the shared top importing a part, the CLI from the entry', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-arch-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (rel, text) => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };
  write('errors.ts', "import { boot } from './boot/boot';\n");
  write('index.ts', "export { main } from './cli/main';\nexport { decode } from './codec/codec';\n");
  write('codec/codec.ts', "import { PixelrtsError } from '../errors';\nimport type { VM } from '../vm/vm';\n");
  write('frames/server.ts', "import { boot } from '../boot/boot';\nimport { open } from '../codec/container';\n");
  write('boot/boot.ts', "import { mount } from '../fuse/mount';\nconst x = require('../cli/progress');\n");
  write('cli/main.ts', "import { boot } from '../boot/boot';\nconst v = require('../../package.json');\n");
  write('vm/vm.ts', "declare module '../frames/binding' {}\nimport fs from 'node:fs';\n");
  const found = importViolations(dir).map((v) => `${v.file} -> ${v.specifier}`).sort();
  t.deepEqual(found, [
    'boot/boot -> ../cli/progress',
    'codec/codec -> ../vm/vm',
    'errors -> ./boot/boot',
    'frames/server -> ../boot/boot',
    'index -> ./cli/main',
    'vm/vm -> ../frames/binding',
  ]);
});
