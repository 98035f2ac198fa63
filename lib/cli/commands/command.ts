/** The shape of one CLI command (one module per command under lib/cli/commands/; its summary is in index.ts). */
export interface Command {
  /** Full usage text for `pixelrts <command> --help`. */
  usage: string;
  /** Runs the command with the arguments after its name; resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}
