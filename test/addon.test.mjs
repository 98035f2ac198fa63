// The addon loads through node-gyp-build from a local build.
import test from 'ava';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

test('native addon loads and reports its ABI version', (t) => {
  const { native } = require('../dist/native.js');
  t.is(native().abiVersion, 1);
});
