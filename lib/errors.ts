/**
 * Errors thrown by pixelrts. Every error carries a stable `code` (`ERR_PIXELRTS_*`) that
 * scripts can switch on, and a message that names the file or field, what was expected,
 * what was found and what to do about it.
 */
export class PixelrtsError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PixelrtsError';
    this.code = code;
  }
}

/** A command-line usage mistake: the CLI prints it with the command's usage and exits 2. */
export class UsageError extends PixelrtsError {
  constructor(message: string) {
    super('ERR_PIXELRTS_USAGE', message);
    this.name = 'UsageError';
  }
}

/** True for errors raised by pixelrts itself (JS or native), which carry a `code`. */
export function isPixelrtsError(err: unknown): err is Error & { code: string } {
  if (!(err instanceof Error)) return false;
  const code = (err as Error & { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('ERR_PIXELRTS_');
}
