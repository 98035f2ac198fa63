/**
 * Text from a container (names, metadata, Infinite Map paths) made safe to print on a terminal:
 * control characters would otherwise move the cursor, clear the screen or forge lines (an
 * escape sequence in a segment name). They are shown escaped instead: \n, \t, \r, \x1b, \x7f…
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}
