// Shared by the benches that time commands (not a part: bench/run.mjs runs *.bench.mjs only).
import { spawn } from 'node:child_process';

/** ms from spawning `cmd` to the first stdout line matching `re`; waits for the process to exit. */
export function timeTo(cmd, args, re, env = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let at;
    let buf = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop();
      if (at === undefined && lines.some((l) => re.test(l))) at = Number(process.hrtime.bigint() - t0) / 1e6;
    });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (at === undefined) reject(new Error(`${cmd}: no line matching ${re} (exit ${code})\n${stderr.slice(-2000)}`));
      else resolve(at);
    });
  });
}
