// Waiting on a child process's output without hanging: a wait that only listens for output has
// no live handle once the child has exited, so ava would end the test with "Promise returned by
// test never resolved" instead of saying what the child did.

/**
 * Resolves with the first line `child` writes to stdout (without its newline); rejects naming
 * the exit status (and the stderr seen, when piped) if the child exits before a whole line.
 */
export function firstLine(child) {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const onData = (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) { cleanup(); resolve(out.slice(0, nl)); }
    };
    const onErr = (d) => { err += d; };
    const onClose = (code, signal) => {
      cleanup();
      reject(new Error(`the child exited (${signal ?? `code ${code}`}) before printing a line; stdout: ${JSON.stringify(out)}${err ? `; stderr:\n${err}` : ''}`));
    };
    const cleanup = () => {
      child.stdout.off('data', onData);
      child.stderr?.off('data', onErr);
      child.off('close', onClose);
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr?.setEncoding('utf8').on('data', onErr);
    child.once('close', onClose);
  });
}

/**
 * An expression for `node -e` scripts: the process's own peak RSS in KiB (VmHWM). Not
 * process.resourceUsage().maxRSS: Linux carries ru_maxrss across fork and exec, so a child of
 * a large test worker would report the worker's peak.
 */
export const PEAK_KIB = "Number(/VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1])";
