/**
 * Keyboard and pointer input to a VM through QMP. Keys go through QEMU's keyboard queue
 * (`send-key`, which paces them 10 ms apart so a guest's keyboard buffer never overflows, and
 * keeps them in order); the pointer is absolute (`input-send-event`), in screen pixels, and
 * reaches the guest through the tablet devices a VM with a screen has (virtio and USB).
 */
import { PixelrtsError } from '../errors';
import type { QmpExecutor } from '../vm/qmp';
import { keysForCombo, keysForText } from './keymap';
import type { Screen } from './screen';

/** A pointer button. */
export type PointerButton = 'left' | 'right' | 'middle';

export interface ClickOptions {
  /** Default 'left'. */
  button?: PointerButton;
  /** Two clicks in a row. */
  double?: boolean;
}

/** Input to one VM (see createInput). */
export interface Input {
  /** Types `text` (US layout; `\n` is Enter). Resolves once QEMU has queued every key. */
  type(text: string): Promise<void>;
  /** Presses a combination such as `ctrl-alt-del` or `enter`, then releases it. */
  key(combo: string): Promise<void>;
  /** Moves the pointer to pixel (x, y) of the screen and clicks there. */
  click(x: number, y: number, options?: ClickOptions): Promise<void>;
  /** Moves the pointer to pixel (x, y) of the screen. */
  move(x: number, y: number): Promise<void>;
}

/** QEMU's absolute pointer range: 0 to this, whatever the screen's size (INPUT_EVENT_ABS_MAX). */
const ABS_MAX = 0x7fff;
const BUTTONS: readonly PointerButton[] = ['left', 'right', 'middle'];

const qcode = (data: string) => ({ type: 'qcode', data });

/**
 * The input-send-event events that put the absolute pointer at pixel (x, y) of a screen
 * `width` × `height`: QEMU's range is 0 to 32767 on each axis whatever the screen's size.
 */
export function pointerEvents(x: number, y: number, width: number, height: number): object[] {
  const scale = (v: number, size: number) => (size > 1 ? Math.round((Math.min(Math.max(v, 0), size - 1) * ABS_MAX) / (size - 1)) : 0);
  return [
    { type: 'abs', data: { axis: 'x', value: scale(x, width) } },
    { type: 'abs', data: { axis: 'y', value: scale(y, height) } },
  ];
}

/**
 * Input through `qmp` for a VM whose screen is `screen` (its size maps pixels to the pointer's
 * range). `onInput` runs after each call (to tell the screen's frame source to look now).
 */
export function createInput(qmp: QmpExecutor, screen: Screen, onInput?: () => void): Input {
  const pointAt = async (x: number, y: number): Promise<void> => {
    const { width, height } = await screen.size();
    for (const [name, v, max] of [['x', x, width], ['y', y, height]] as const) {
      if (!Number.isInteger(v) || v < 0 || v >= max) {
        throw new PixelrtsError('ERR_PIXELRTS_INPUT', `${name} = ${v} is off the screen, which is ${width}×${height} now: give whole pixels from 0 to ${max - 1}.`);
      }
    }
    await qmp.execute('input-send-event', { events: pointerEvents(x, y, width, height) });
  };
  const button = async (which: PointerButton, down: boolean): Promise<void> => {
    await qmp.execute('input-send-event', { events: [{ type: 'btn', data: { down, button: which } }] });
  };
  return {
    async type(text) {
      for (const key of keysForText(text)) {
        await qmp.execute('send-key', { keys: key.shift ? [qcode('shift'), qcode(key.qcode)] : [qcode(key.qcode)] });
      }
      onInput?.();
    },
    async key(combo) {
      await qmp.execute('send-key', { keys: keysForCombo(combo).map(qcode) });
      onInput?.();
    },
    async click(x, y, options = {}) {
      const which = options.button ?? 'left';
      if (!BUTTONS.includes(which)) {
        throw new PixelrtsError('ERR_PIXELRTS_INPUT', `unknown button "${String(which)}": use ${BUTTONS.join(', ')}.`);
      }
      await pointAt(x, y);
      for (let i = 0; i < (options.double ? 2 : 1); i++) {
        await button(which, true);
        await button(which, false);
      }
      onInput?.();
    },
    async move(x, y) {
      await pointAt(x, y);
      onInput?.();
    },
  };
}
