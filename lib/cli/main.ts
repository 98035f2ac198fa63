#!/usr/bin/env node
/**
 * The `pixelrts` command line. Exit codes: 0 ok, 1 failure, 2 usage.
 */
import { commands } from './commands/index';
import { isPixelrtsError } from '../errors';

function topUsage(): string {
  const names = Object.keys(commands);
  const width = Math.max(0, ...names.map((n) => n.length));
  const lines = names.map((n) => `  ${n.padEnd(width)}  ${commands[n].summary}`);
  return [
    'Usage: pixelrts <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `pixelrts help <command>` (or `pixelrts <command> --help`) for a command\'s options.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  // `pixelrts help boot` is `pixelrts boot --help`.
  if (name === 'help' && rest.length > 0) return main([rest[0], '--help']);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(topUsage() + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    process.stdout.write(`${(require('../../package.json') as { version: string }).version}\n`);
    return 0;
  }
  const entry = Object.prototype.hasOwnProperty.call(commands, name) ? commands[name] : undefined;
  if (!entry) {
    process.stderr.write(`pixelrts: unknown command '${name}'.\n\n${topUsage()}\n`);
    return 2;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.usage + '\n');
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    // With --json the error is an event too, the last line a script reads (a boot session
    // printed its own already, followed by its exit event).
    // Loaded here, not at start-up: only a failure needs it.
    const { EventWriter, wasReported } = await import('../boot/events');
    if (rest.includes('--json') && !wasReported(err)) {
      new EventWriter().write('error', {
        code: isPixelrtsError(err) ? err.code : 'ERR_PIXELRTS_INTERNAL',
        message: (err as Error)?.message ?? String(err),
      });
    }
    // By code, not class: a usage error from a detached boot's supervisor crossed a process.
    if (isPixelrtsError(err) && err.code === 'ERR_PIXELRTS_USAGE') {
      process.stderr.write(`pixelrts ${name}: ${err.message}\n\n${command.usage}\n`);
      return 2;
    }
    if (isPixelrtsError(err)) {
      process.stderr.write(`pixelrts ${name}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`pixelrts ${name}: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
