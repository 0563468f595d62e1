// The one public error class. Every failure the user can cause or meet carries a stable `code`,
// an exit status class, and where possible a location and a hint. The original error, if any,
// is kept as `cause`.

/** Exit statuses of the CLI, by class of failure. Documented in the README. */
export const ExitCode = {
  ok: 0,
  /** Runtime failure not covered below. */
  runtime: 1,
  /** Bad command line: unknown flag, missing argument. */
  usage: 2,
  /** The vm.toml is malformed, invalid, or names unusable files. */
  config: 3,
  /** A policy fragment is malformed, conflicts, or a config item has no fragment. */
  policy: 4,
  /** The host lacks what the config asks for (kvm, an LSM, a cgroup controller...). */
  host: 5,
  /** Building the jail failed (a helper stage, a mount, a cgroup write). */
  jail: 6,
  /** The jailed process failed: QEMU or a backend exited non-zero or died by a signal. */
  guest: 7,
  /** Another launch of the same VM holds its lock, or it is not running (stop). */
  state: 8,
} as const;

export type ExitClass = keyof typeof ExitCode;

export interface SourceLocation {
  file?: string;
  line?: number;
  column?: number;
  /** Key path in the config or fragment, e.g. "disk[1].format". */
  key?: string;
}

export interface QemuJailErrorOptions {
  exit: ExitClass;
  location?: SourceLocation;
  hint?: string;
  cause?: unknown;
  /** Extra structured detail for logs and --json output. */
  detail?: Record<string, unknown>;
}

export class QemuJailError extends Error {
  override readonly name = "QemuJailError";
  /** Stable, machine-readable: "CONFIG_UNKNOWN_KEY", "SECCOMP_CONFLICT", "HELPER_STAGE_FAILED"... */
  readonly code: string;
  readonly exit: ExitClass;
  readonly location?: SourceLocation;
  readonly hint?: string;
  readonly detail?: Record<string, unknown>;

  constructor(code: string, message: string, options: QemuJailErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.exit = options.exit;
    this.location = options.location;
    this.hint = options.hint;
    this.detail = options.detail;
  }

  get exitCode(): number {
    return ExitCode[this.exit];
  }

  /** One or more lines for a person: "file:line:col: key: message" then "  hint: ...". */
  render(): string {
    const loc = this.location;
    let where = "";
    if (loc?.file) where += loc.file;
    if (loc?.line !== undefined) where += `:${loc.line}${loc.column !== undefined ? `:${loc.column}` : ""}`;
    const head = [where, loc?.key].filter(Boolean).join(": ");
    const text = head ? `${head}: ${this.message}` : this.message;
    return this.hint ? `${text}\n  hint: ${this.hint}` : text;
  }
}

export function isQemuJailError(e: unknown): e is QemuJailError {
  return e instanceof QemuJailError;
}
