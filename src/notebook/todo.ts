// Placeholders for the student versions of the notebooks (scripts/assignments.mjs, README "For
// teaching assistants"): a TODO cell declares the names an exercise must define, with their types,
// as `fm.todo(...)` values. The notebook still type-checks; the first real use of a name the
// student has not defined yet fails with a message that says which exercise to do, instead of a
// puzzling `undefined` somewhere later.

/** What a TODO placeholder throws when it is used: "TODO (exercise 2): define toFlowTime ...". */
export class TodoError extends Error {
  constructor(
    /** The name the exercise must define. */
    readonly placeholder: string,
    /** The exercise's number, when known. */
    readonly exercise?: number,
  ) {
    super(
      `TODO${exercise !== undefined ? ` (exercise ${exercise})` : ""}: ${placeholder} is still a ` +
        `placeholder; define it in the exercise's TODO cell and run that cell`,
    );
    this.name = "TodoError";
  }
}

/**
 * A stand-in for a value an exercise must define. It has the declared type, so later cells
 * type-check, but any use of it (reading a property, calling it, doing arithmetic, printing it,
 * awaiting it) throws a {@link TodoError} naming the placeholder and the exercise.
 *
 * @param placeholder - the name the student must define (shown in the error)
 * @param exercise - the exercise's number (shown in the error)
 * @example
 * const ex4Order: number = fm.todo("ex4Order", 4);
 * ex4Order > 1.8;   // throws: TODO (exercise 4): ex4Order is still a placeholder; ...
 */
export function todo<T = never>(placeholder: string, exercise?: number): T {
  if (typeof placeholder !== "string" || placeholder.length === 0) {
    throw new Error(`todo: placeholder must be a non-empty name; got ${String(placeholder)}`);
  }
  const fail = (): never => {
    throw new TodoError(placeholder, exercise);
  };
  // A function target, so that calling the placeholder (a helper function left to write) fails too.
  const target = function todoPlaceholder() {};
  return new Proxy(target, {
    get: fail,
    set: fail,
    has: fail,
    apply: fail,
    construct: fail,
    ownKeys: fail,
    getOwnPropertyDescriptor: fail,
    defineProperty: fail,
    deleteProperty: fail,
  }) as unknown as T;
}
