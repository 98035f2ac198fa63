/**
 * The structured message schema spoken between host and guest (spec: vm-channel.md).
 *
 * ```json
 * {"type": "status", "data": {"message": "pixelrts demo ready", "details": {}},
 *  "timestamp": "2025-01-26T10:30:00Z", "direction": "vm-to-host", "id": "h7"}
 * ```
 *
 * `type` and `data.message` are required; `details`, `timestamp`, `direction` and `id` are
 * optional (the original's guests omit the timestamp; the host stamps arrival itself). Anything
 * that parses as a JSON object but does not fit is reported as invalid, with the reason, rather
 * than dropped; text that is not JSON stays a plain line.
 */
import { PixelrtsError } from '../errors';

/** The message types of the schema. */
export const MESSAGE_TYPES = ['status', 'command', 'graphics', 'error', 'heartbeat'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];
export type MessageDirection = 'vm-to-host' | 'host-to-vm';

/** A message that passed validation. */
export interface VmMessage {
  type: MessageType;
  data: { message: string; details?: Record<string, unknown> };
  timestamp?: string;
  direction?: MessageDirection;
  /** Correlates a request with its reply (`Channel.request`). */
  id?: string;
}

/** What `send`/`request` accept: `type` defaults to `command`, `data` may be just the text. */
export interface OutgoingMessage {
  type?: MessageType;
  data: { message: string; details?: Record<string, unknown> } | string;
  id?: string;
}

/** The outcome of validating a parsed value against the schema. */
export type ValidationResult =
  | { ok: true; message: VmMessage }
  | { ok: false; error: string; value: unknown };

/** A line that looked like a message but failed validation (the `invalid-message` event). */
export interface InvalidMessage {
  line: string;
  error: string;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks `value` against the schema; the error names the field, what was expected and what was found. */
export function validateMessage(value: unknown): ValidationResult {
  const fail = (error: string): ValidationResult => ({ ok: false, error, value });
  if (!isPlainObject(value)) return fail(`expected a JSON object, found ${Array.isArray(value) ? 'an array' : typeof value}`);
  const { type, data, timestamp, direction, id } = value;
  if (typeof type !== 'string') return fail(`field "type": expected one of ${MESSAGE_TYPES.join('|')}, found ${JSON.stringify(type) ?? 'nothing'}`);
  if (!(MESSAGE_TYPES as readonly string[]).includes(type)) {
    return fail(`field "type": unknown message type ${JSON.stringify(type)}; expected one of ${MESSAGE_TYPES.join('|')}`);
  }
  if (!isPlainObject(data)) return fail(`field "data": expected an object {"message": string, "details"?: object}, found ${JSON.stringify(data) ?? 'nothing'}`);
  if (typeof data.message !== 'string') return fail(`field "data.message": expected a string, found ${JSON.stringify(data.message) ?? 'nothing'}`);
  if (data.details !== undefined && !isPlainObject(data.details)) {
    return fail(`field "data.details": expected an object, found ${JSON.stringify(data.details)}`);
  }
  if (timestamp !== undefined && typeof timestamp !== 'string') return fail(`field "timestamp": expected an ISO 8601 string, found ${JSON.stringify(timestamp)}`);
  if (direction !== undefined && direction !== 'vm-to-host' && direction !== 'host-to-vm') {
    return fail(`field "direction": expected "vm-to-host" or "host-to-vm", found ${JSON.stringify(direction)}`);
  }
  if (id !== undefined && typeof id !== 'string' && typeof id !== 'number') return fail(`field "id": expected a string, found ${JSON.stringify(id)}`);
  const message: VmMessage = { type: type as MessageType, data: { message: data.message } };
  if (data.details !== undefined) message.data.details = data.details as Record<string, unknown>;
  if (timestamp !== undefined) message.timestamp = timestamp;
  if (direction !== undefined) message.direction = direction;
  if (id !== undefined) message.id = String(id);
  return { ok: true, message };
}

// CSI (ESC [ ... final), OSC (ESC ] ... BEL/ST), and two-byte ESC sequences; plus stray C0 controls.
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]/g;

/** Removes terminal escape sequences and control characters (for parsing, not for display). */
export function stripEscapes(text: string): string {
  return text.replace(ESCAPES, '');
}

/**
 * Interprets one line of guest output: null when it is plain text (including text that merely
 * starts with `{` but is not valid JSON), otherwise the validation result of the JSON object.
 * A valid message after other text (a shell prompt printed without a newline just before it)
 * is found too; JSON after other text that does not validate stays plain text.
 */
export function parseMessageLine(line: string): ValidationResult | null {
  const text = stripEscapes(line).trim();
  if (text.length < 2 || text[text.length - 1] !== '}') return null;
  const start = text.indexOf('{');
  if (start < 0) return null;
  let value: unknown;
  try {
    value = JSON.parse(text.slice(start));
  } catch {
    return null;
  }
  const result = validateMessage(value);
  return start === 0 || result.ok ? result : null;
}

/** Builds the wire form of a host → guest message (direction and timestamp filled in). */
export function toWireMessage(msg: OutgoingMessage, id?: string): VmMessage {
  const data = typeof msg.data === 'string' ? { message: msg.data } : msg.data;
  const out: VmMessage = {
    type: msg.type ?? 'command',
    data,
    timestamp: new Date().toISOString(),
    direction: 'host-to-vm',
  };
  const theId = id ?? msg.id;
  if (theId !== undefined) out.id = theId;
  const checked = validateMessage(out);
  if (!checked.ok) {
    throw new PixelrtsError('ERR_PIXELRTS_MESSAGE', `invalid message to send: ${checked.error}`);
  }
  return out;
}
