/**
 * Self-checks for notebooks: every notebook ends by asserting what it claimed, and shows at least
 * one negative control (the same test applied to something false, which must fail). This module
 * keeps the ledger of both, so each notebook's closing table lists them.
 *
 * @example
 * const checks = fm.selfChecks(); const { check, mustFail } = checks; check("p_0 is N(0, I)", gap <
 * 1e-5, `max gap ${gap}`); // throws when the claim is false mustFail("a wrong field generates
 * p_t", residual < 1e-3, `${residual}`); // throws when the control passes
 * console.log(checks.report()); // "✓ claim ..." / "✗ control ..." lines
 */

/** One checked statement: a claim that held, or a negative control that was rejected. */
export interface CheckEntry {
  claim: string;
  detail: string;
  kind: "claim" | "negative control";
}

/** A notebook's ledger of checks (the functions are bound: destructure them freely). */
export interface SelfChecks {
  /** Every check so far, in order. */
  entries: CheckEntry[];
  /** Asserts a claim: throws `"<claim>: <detail>"` when `ok` is false, else records it. */
  check(claim: string, ok: boolean, detail: string): void;
  /**
   * A negative control: `passes` is the verdict of the same test applied to a false statement; it
   * must be false. Throws when the test failed to reject it, else records it.
   */
  mustFail(claim: string, passes: boolean, detail: string): void;
  /** How many claims held. */
  claims(): number;
  /** How many negative controls were rejected. */
  controls(): number;
  /** One line per entry, then a count: the notebook's closing table. */
  report(): string;
}

/** A fresh ledger of self-checks for one notebook. */
export function selfChecks(): SelfChecks {
  const entries: CheckEntry[] = [];
  const claims = () => entries.filter((e) => e.kind === "claim").length;
  const controls = () => entries.length - claims();
  return {
    entries,
    check(claim, ok, detail) {
      if (!ok) throw new Error(`${claim}: ${detail}`);
      entries.push({ claim, detail, kind: "claim" });
    },
    mustFail(claim, passes, detail) {
      if (passes)
        throw new Error(`negative control "${claim}" should have failed its test: ${detail}`);
      entries.push({ claim, detail, kind: "negative control" });
    },
    claims,
    controls,
    report() {
      const lines = entries.map(
        (e) => `${e.kind === "claim" ? "✓ claim  " : "✗ control"}  ${e.claim} (${e.detail})`,
      );
      lines.push(
        "",
        `${claims()} claims checked, ${controls()} negative controls rejected as they should be`,
      );
      return lines.join("\n");
    },
  };
}
