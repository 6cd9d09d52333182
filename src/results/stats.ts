/**
 * The statistics of a campaign report: a two-proportion z-test of the treated group's conversion
 * rate against the control group's, and a 95% interval for the difference (docs/results.md).
 */

/** erfc(x), with a fractional error below 1.2e-7 everywhere (Chebyshev fit, Numerical Recipes §6.2). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** P(|Z| >= |z|) for a standard normal Z. */
export const twoSidedP = (z: number): number => Math.min(1, erfc(Math.abs(z) / Math.SQRT2));

export interface ProportionTest {
  /** Treated rate minus control rate. */
  absolute: number;
  /** absolute / control rate; null when the control rate is 0. */
  relative: number | null;
  z: number | null;
  /** Two-sided, pooled standard error; null when it cannot be computed (no variance). */
  pValue: number | null;
  /** 95% interval of `absolute` (unpooled standard error). */
  confidence95: [number, number] | null;
}

/** Compares x1 of n1 (treated) with x2 of n2 (control); both n must be positive. */
export function twoProportionTest(x1: number, n1: number, x2: number, n2: number): ProportionTest {
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const absolute = p1 - p2;
  const pooled = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  const z = se > 0 ? absolute / se : null;
  const unpooled = Math.sqrt((p1 * (1 - p1)) / n1 + (p2 * (1 - p2)) / n2);
  return {
    absolute,
    relative: p2 > 0 ? absolute / p2 : null,
    z,
    pValue: z === null ? null : twoSidedP(z),
    confidence95: unpooled > 0 ? [absolute - 1.959963984540054 * unpooled, absolute + 1.959963984540054 * unpooled] : null,
  };
}
