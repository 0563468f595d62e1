// An undo stack: every effect of a launch registers its undo at the moment it succeeds, and
// unwinding runs them in reverse order. Unwinding never stops at the first failure: a cgroup
// that will not go away must not keep a tap or a changed owner on the host. Failures are
// collected and reported together.

/** One undo that failed while unwinding. */
export interface UndoFailure {
  name: string;
  error: unknown;
}

/** A named undo action. */
export interface UndoEntry {
  name: string;
  run: () => void | Promise<void>;
}

/** LIFO of undo actions for the effects performed so far. */
export class UndoStack {
  readonly #entries: UndoEntry[] = [];
  #unwound = false;
  #failed = 0;

  /** How many undos have failed so far in this unwind (a later undo may keep what gc needs). */
  get failedCount(): number {
    return this.#failed;
  }

  /** Registers the undo of an effect that has just succeeded. */
  push(name: string, run: () => void | Promise<void>): void {
    if (this.#unwound) throw new Error(`undo stack already unwound (pushing ${name})`);
    this.#entries.push({ name, run });
  }

  /** Undo names, oldest first (for logs and tests). */
  names(): string[] {
    return this.#entries.map((e) => e.name);
  }

  get size(): number {
    return this.#entries.length;
  }

  /**
   * Runs every undo, newest first, continuing past failures. Resolves to the failures (empty when
   * all succeeded). Calling it twice runs nothing the second time.
   */
  async unwind(onStep?: (name: string, error?: unknown) => void): Promise<UndoFailure[]> {
    this.#unwound = true;
    const failures: UndoFailure[] = [];
    while (this.#entries.length > 0) {
      const entry = this.#entries.pop()!;
      try {
        await entry.run();
        onStep?.(entry.name);
      } catch (error) {
        failures.push({ name: entry.name, error });
        this.#failed++;
        onStep?.(entry.name, error);
      }
    }
    return failures;
  }
}
