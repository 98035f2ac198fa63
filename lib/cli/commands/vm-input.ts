/** The screen and input of a running VM, reached through its owner's control socket (for screenshot, type, key and click). */
import { controlQmp } from '../../boot/control';
import { findVm } from '../../boot/registry';
import { createInput, type Input } from '../../screen/input';
import { createScreen, type Screen } from '../../screen/screen';

export function vmScreen(idOrPrefix: string): { id: string; screen: Screen; input: Input } {
  const vm = findVm(idOrPrefix);
  const qmp = controlQmp(vm.controlSocket, 30_000);
  const screen = createScreen(qmp, vm.runtimeDir, vm.id);
  return { id: vm.id, screen, input: createInput(qmp, screen) };
}
