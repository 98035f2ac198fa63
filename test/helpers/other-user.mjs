// A second, unprivileged local user for the hostile-local-user tests (#16): scripts/setup.sh
// --dev creates `pixelrts-other` when it runs as root. A test runs code as that user by starting
// this same Node binary as root and dropping to the user's uid and gid (no supplementary groups)
// before the script runs, so nothing under the test's own home has to be readable by the user.
import { spawn, spawnSync } from 'node:child_process';

export const OTHER_USER = 'pixelrts-other';

let cached;

/** The other user's uid and gid, or null when it does not exist. */
export function otherUser() {
  if (cached === undefined) {
    const uid = spawnSync('id', ['-u', OTHER_USER], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', OTHER_USER], { encoding: 'utf8' });
    cached = uid.status === 0 && gid.status === 0
      ? { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
      : null;
  }
  return cached;
}

/** null when tests can act as the other user, else why not (for needs()). */
export function otherUserMissing() {
  if (process.getuid?.() !== 0) return 'acting as a second local user needs root (to switch to it)';
  if (!otherUser()) return `the test user ${OTHER_USER} does not exist (scripts/setup.sh --dev creates it when run as root)`;
  return null;
}

/**
 * Runs `script` (CommonJS, for `node -e`) as the other user. The script sees `process.argv.slice(1)`
 * = `args`, and reports by printing. Resolves with { code, signal, stdout, stderr }; the child is
 * killed after `timeoutMs`.
 */
export function runAsOtherUser(script, args = [], { timeoutMs = 30_000, env = {} } = {}) {
  const { uid, gid } = otherUser();
  const drop = `process.setgroups([]); process.setgid(${gid}); process.setuid(${uid});\n` +
    `if (process.getuid() !== ${uid} || process.geteuid() !== ${uid}) { console.error('could not drop to uid ${uid}'); process.exit(99); }\n`;
  const child = spawn(process.execPath, ['-e', drop + script, '--', ...args], {
    cwd: '/', env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
