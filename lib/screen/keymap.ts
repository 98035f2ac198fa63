/**
 * Keys as QEMU names them (QKeyCode, the `qcode` of QMP's send-key and input-send-event), for
 * text typed on a US keyboard layout and for combinations such as `ctrl-alt-del`.
 */
import { PixelrtsError } from '../errors';

/** One character of text: the key that types it, and whether Shift is held. */
export interface TypedKey {
  qcode: string;
  shift: boolean;
}

// The US layout's punctuation: unshifted and shifted characters on the same key.
const PUNCTUATION: Array<[string, string, string]> = [
  ['minus', '-', '_'], ['equal', '=', '+'], ['bracket_left', '[', '{'], ['bracket_right', ']', '}'],
  ['backslash', '\\', '|'], ['semicolon', ';', ':'], ['apostrophe', "'", '"'], ['grave_accent', '`', '~'],
  ['comma', ',', '<'], ['dot', '.', '>'], ['slash', '/', '?'],
];
const SHIFTED_DIGITS = ')!@#$%^&*(';

const CHARACTERS: ReadonlyMap<string, TypedKey> = (() => {
  const map = new Map<string, TypedKey>();
  for (let c = 0; c < 26; c++) {
    const letter = String.fromCharCode(97 + c);
    map.set(letter, { qcode: letter, shift: false });
    map.set(letter.toUpperCase(), { qcode: letter, shift: true });
  }
  for (let d = 0; d < 10; d++) {
    map.set(String(d), { qcode: String(d), shift: false });
    map.set(SHIFTED_DIGITS[d], { qcode: String(d), shift: true });
  }
  for (const [qcode, plain, shifted] of PUNCTUATION) {
    map.set(plain, { qcode, shift: false });
    map.set(shifted, { qcode, shift: true });
  }
  map.set(' ', { qcode: 'spc', shift: false });
  map.set('\n', { qcode: 'ret', shift: false });
  map.set('\t', { qcode: 'tab', shift: false });
  return map;
})();

// Names a combination may use for keys that type no character, and their qcodes.
const NAMED_KEYS: Readonly<Record<string, string>> = {
  ctrl: 'ctrl', control: 'ctrl', alt: 'alt', altgr: 'alt_r', shift: 'shift',
  meta: 'meta_l', super: 'meta_l', win: 'meta_l', cmd: 'meta_l',
  del: 'delete', delete: 'delete', backspace: 'backspace', bs: 'backspace',
  enter: 'ret', return: 'ret', ret: 'ret', esc: 'esc', escape: 'esc', tab: 'tab', space: 'spc', spc: 'spc',
  up: 'up', down: 'down', left: 'left', right: 'right',
  home: 'home', end: 'end', pgup: 'pgup', pageup: 'pgup', pgdn: 'pgdn', pagedown: 'pgdn',
  ins: 'insert', insert: 'insert', capslock: 'caps_lock', sysrq: 'sysrq', print: 'print', pause: 'pause',
  minus: 'minus', plus: 'equal', equal: 'equal', comma: 'comma', dot: 'dot', slash: 'slash',
  ...Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`f${i + 1}`, `f${i + 1}`])),
};

/** How `ch` is described in an error: itself when printable, and its code point. */
function describe(ch: string): string {
  const cp = `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
  return /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(ch) ? `"${ch}" (${cp})` : cp;
}

/**
 * The keys that type `text`, one per character; throws ERR_PIXELRTS_INPUT naming every
 * character the US layout has no key for (before anything is typed).
 */
export function keysForText(text: string): TypedKey[] {
  const keys: TypedKey[] = [];
  const missing = new Set<string>();
  for (const ch of text) {
    const key = CHARACTERS.get(ch);
    if (key) keys.push(key);
    else missing.add(ch);
  }
  if (missing.size > 0) {
    throw new PixelrtsError('ERR_PIXELRTS_INPUT',
      `cannot type ${[...missing].map(describe).join(', ')}: the US keyboard layout has no key for ${missing.size === 1 ? 'it' : 'them'}. ` +
      'Type ASCII text (letters, digits, punctuation, space, tab, newline), or send keys one by one with `pixelrts key`.');
  }
  return keys;
}

/**
 * The qcodes of a combination such as `ctrl-alt-del`, `shift-tab`, `f2` or `a` (keys joined
 * by `-` or `+`, pressed in order and released in reverse); throws ERR_PIXELRTS_INPUT for a
 * name it does not know, listing the names it does.
 */
export function keysForCombo(combo: string): string[] {
  const parts = combo.trim().toLowerCase().split(/(?<=.)[-+]/);
  if (combo.trim() === '' || parts.some((p) => p === '')) {
    throw new PixelrtsError('ERR_PIXELRTS_INPUT', `"${combo}" is not a key combination: give keys joined by "-", e.g. ctrl-alt-del, shift-tab, f2, enter.`);
  }
  return parts.map((name) => {
    const named = NAMED_KEYS[name];
    if (named) return named;
    const typed = [...name].length === 1 ? CHARACTERS.get(name) : undefined;
    if (typed && !typed.shift) return typed.qcode;
    throw new PixelrtsError('ERR_PIXELRTS_INPUT',
      `unknown key "${name}" in "${combo}": use a letter, a digit, unshifted punctuation, or one of ${Object.keys(NAMED_KEYS).join(', ')}.`);
  });
}

// KeyboardEvent.code (the physical key, whatever the browser's layout) → qcode, for keys
// whose names differ; letters, digits and F-keys follow a pattern (see qcodeForKeyCode).
const KEY_CODES: Readonly<Record<string, string>> = {
  Enter: 'ret', NumpadEnter: 'kp_enter', Escape: 'esc', Backspace: 'backspace', Tab: 'tab', Space: 'spc',
  Minus: 'minus', Equal: 'equal', BracketLeft: 'bracket_left', BracketRight: 'bracket_right',
  Backslash: 'backslash', Semicolon: 'semicolon', Quote: 'apostrophe', Backquote: 'grave_accent',
  Comma: 'comma', Period: 'dot', Slash: 'slash', CapsLock: 'caps_lock', IntlBackslash: 'less',
  ShiftLeft: 'shift', ShiftRight: 'shift_r', ControlLeft: 'ctrl', ControlRight: 'ctrl_r',
  AltLeft: 'alt', AltRight: 'alt_r', MetaLeft: 'meta_l', MetaRight: 'meta_r', ContextMenu: 'menu',
  ArrowUp: 'up', ArrowDown: 'down', ArrowLeft: 'left', ArrowRight: 'right',
  Home: 'home', End: 'end', PageUp: 'pgup', PageDown: 'pgdn', Insert: 'insert', Delete: 'delete',
  PrintScreen: 'print', ScrollLock: 'scroll_lock', Pause: 'pause', NumLock: 'num_lock',
  NumpadSubtract: 'kp_subtract', NumpadAdd: 'kp_add', NumpadMultiply: 'kp_multiply',
  NumpadDivide: 'kp_divide', NumpadDecimal: 'kp_decimal', NumpadEqual: 'kp_equals',
};

/** The qcode of a browser's KeyboardEvent.code (`KeyA`, `Digit1`, `Enter`, …), or undefined. */
export function qcodeForKeyCode(code: string): string | undefined {
  const letter = /^Key([A-Z])$/.exec(code);
  if (letter) return letter[1].toLowerCase();
  const digit = /^(?:Digit|Numpad)([0-9])$/.exec(code);
  if (digit) return code.startsWith('Numpad') ? `kp_${digit[1]}` : digit[1];
  const fn = /^F([1-9]|1[0-2])$/.exec(code);
  if (fn) return `f${fn[1]}`;
  return Object.prototype.hasOwnProperty.call(KEY_CODES, code) ? KEY_CODES[code] : undefined;
}
