/**
 * How long one fuzzed input may take to parse or verify before the fuzzer calls it pathological
 * (backtracking, quadratic loops, huge allocations). A normal input takes well under 10 ms; the
 * bound sits far above that so that a loaded CI machine (the control plane of the cluster tests
 * runs beside the unit tests) does not fail it, and far below what a runaway parser takes.
 */
export const SLOWEST_INPUT_MS = 2_000;
