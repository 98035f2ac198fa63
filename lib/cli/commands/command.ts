/** The shape of one CLI command (one module per command under lib/cli/commands/). */
export interface Command {
  /** One line for `pixelrts --help`. */
  summary: string;
  /** Full usage text for `pixelrts <command> --help`. */
  usage: string;
  /** Runs the command with the arguments after its name; resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}
