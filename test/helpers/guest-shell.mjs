// Commands typed into a booted demo guest's console shell.

/**
 * Returns `run(command)`, which types `command` into `vm`'s console shell and resolves with what
 * the guest printed for it: the text between the command's echo and a marker only the shell's
 * arithmetic produces (so the echoed command line itself never matches it).
 */
export function guestShell(vm) {
  let text = '';
  vm.console.on('line', (l) => { text += `${l}\n`; });
  let n = 0;
  return async (command) => {
    const tag = `done-${++n}`;
    const start = text.length;
    vm.console.write(`${command}; echo "${tag}-$((6*7))"\r`);
    await vm.console.waitFor(new RegExp(`${tag}-42`), { timeout: 60_000 });
    return text.slice(start);
  };
}
