// The fuzzers' smoke run (#16): each libFuzzer target is built with ASan + UBSan and run for
// 60 s (the range-response target 30 s) over its seed corpus, as fuzz/run*.sh do for longer
// runs. A crash, a leak, undefined behaviour or a timeout fails the test and leaves its input in
// fuzz/artifacts.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { commandMissing, needs, repoRoot } from '../helpers/prereq.mjs';

const SECONDS = 60;

/** null when clang's libFuzzer runtime is installed (Debian: /usr/lib/llvm-N/lib/clang/V/lib/linux). */
function libFuzzerMissing() {
  const found = (dir, depth) => {
    let entries;
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return false; }
    return entries.some((e) => (e.isFile() && /^libclang_rt\.fuzzer-/.test(e.name)) || (e.isDirectory() && depth > 0 && found(path.join(dir, e.name), depth - 1)));
  };
  return fs.readdirSync('/usr/lib').some((d) => d.startsWith('llvm-') && found(path.join('/usr/lib', d, 'lib', 'clang'), 3))
    ? null : 'libFuzzer not found (install the Debian package libclang-rt-14-dev: scripts/install-deps.sh --dev)';
}

const ftest = needs(test, commandMissing('clang++', 'clang') ?? libFuzzerMissing());

function artifacts() {
  try {
    return fs.readdirSync(path.join(repoRoot, 'fuzz', 'artifacts')).filter((f) => !f.startsWith('.'));
  } catch {
    return [];
  }
}

// The range-response target is small (one class, no threads): half the time covers it.
for (const [script, target, seconds] of [['run.sh', 'png_decode_fuzzer', SECONDS], ['run-hxfr.sh', 'hxfr_parser_fuzzer', SECONDS],
  ['run-rfb.sh', 'rfb_client_fuzzer', SECONDS], ['run-range.sh', 'range_response_fuzzer', SECONDS / 2]]) {
  ftest.serial(`${target}: ${seconds} s under ASan and UBSan, no finding`, async (t) => {
    t.timeout((seconds + 240) * 1000);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), `pixelrts-fuzz-${target}-`));
    t.teardown(() => fs.rmSync(out, { recursive: true, force: true }));
    const before = new Set(artifacts());
    const child = spawn('bash', [path.join(repoRoot, 'fuzz', script), String(seconds)], {
      cwd: repoRoot, env: { ...process.env, FUZZ_OUT: out }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { log += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { log += d; });
    const code = await new Promise((resolve) => child.once('close', resolve));
    const tail = log.split('\n').slice(-25).join('\n');
    t.is(code, 0, tail);
    const runs = Number(/stat::number_of_executed_units:\s*(\d+)/.exec(log)?.[1] ?? 0);
    t.true(runs > 1000, `only ${runs} runs:\n${tail}`);
    t.deepEqual(artifacts().filter((f) => !before.has(f)), [], 'no crash, leak or timeout input');
    t.log(`${runs} runs in ${seconds} s`);
  });
}
