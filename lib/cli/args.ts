/**
 * Argument parsing shared by the CLI commands: a typed layer over `node:util` parseArgs that
 * adds integer options and turns every mistake into a UsageError (exit code 2) whose message
 * names the option and what was expected.
 */
import { parseArgs as nodeParseArgs } from 'node:util';
import { UsageError } from '../errors';

/** One option: `--name` (and `-s` when `short` is set). */
export interface OptionDef {
  type: 'boolean' | 'string' | 'integer';
  /** One-letter alias, e.g. 'o' for `-o`. */
  short?: string;
  /** Repeatable: the value is an array of every occurrence, in order. */
  multiple?: boolean;
  /** For integers: inclusive bounds. */
  min?: number;
  max?: number;
}

export type OptionSpec = Record<string, OptionDef>;

type ValueOf<D extends OptionDef> = D['type'] extends 'boolean' ? boolean
  : D['type'] extends 'integer' ? number : string;

/** The parsed options: arrays for `multiple`, else the value or undefined when absent. */
export type ParsedOptions<S extends OptionSpec> = {
  [K in keyof S]: S[K]['multiple'] extends true ? Array<ValueOf<S[K]>> : ValueOf<S[K]> | undefined;
};

export interface ParsedArgs<S extends OptionSpec> {
  options: ParsedOptions<S>;
  positionals: string[];
}

export interface ParseLimits {
  /** Fewest positional arguments accepted (default 0). */
  minPositionals?: number;
  /** Most positional arguments accepted (default unlimited). */
  maxPositionals?: number;
  /** Names the positionals in the "missing argument" message, e.g. '<file>'. */
  positionalsName?: string;
}

/**
 * Parses `argv` (the arguments after the command name) against `spec`.
 * Throws UsageError for unknown options, missing values, bad integers and a wrong number of
 * positional arguments. `--` ends the options.
 */
export function parseArgs<S extends OptionSpec>(argv: string[], spec: S, limits: ParseLimits = {}): ParsedArgs<S> {
  const nodeSpec: Record<string, { type: 'boolean' | 'string'; short?: string; multiple?: boolean }> = {};
  for (const [name, def] of Object.entries(spec)) {
    nodeSpec[name] = { type: def.type === 'boolean' ? 'boolean' : 'string' };
    if (def.short !== undefined) nodeSpec[name].short = def.short;
    if (def.multiple) nodeSpec[name].multiple = true;
  }
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = nodeParseArgs({ args: argv, options: nodeSpec, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (err) {
    // node:util reports ERR_PARSE_ARGS_* with a readable message; keep the message, make it a usage error.
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, '.'));
  }
  const options: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(spec)) {
    const raw = parsed.values[name];
    if (raw === undefined) {
      options[name] = def.multiple ? [] : undefined;
      continue;
    }
    const convert = (v: unknown): unknown => (def.type === 'integer' ? toInteger(name, String(v), def) : v);
    options[name] = def.multiple ? (raw as unknown[]).map(convert) : convert(raw);
  }
  const { positionals } = parsed;
  const min = limits.minPositionals ?? 0;
  const what = limits.positionalsName ?? 'argument';
  if (positionals.length < min) {
    throw new UsageError(`missing ${what}: expected at least ${min} positional argument(s), found ${positionals.length}.`);
  }
  if (limits.maxPositionals !== undefined && positionals.length > limits.maxPositionals) {
    throw new UsageError(`too many arguments: expected at most ${limits.maxPositionals} (${what}), ` +
      `found ${positionals.length}: ${positionals.join(' ')}.`);
  }
  return { options: options as ParsedOptions<S>, positionals };
}

function toInteger(name: string, text: string, def: OptionDef): number {
  if (!/^-?\d+$/.test(text.trim())) {
    throw new UsageError(`option --${name}: expected an integer, found '${text}'.`);
  }
  const n = Number(text);
  if (!Number.isSafeInteger(n) || (def.min !== undefined && n < def.min) || (def.max !== undefined && n > def.max)) {
    const range = `${def.min ?? '-∞'}..${def.max ?? '∞'}`;
    throw new UsageError(`option --${name}: expected an integer in ${range}, found ${text}.`);
  }
  return n;
}
