// Fault 6 of issue 12: the operator's RSS stays flat over a 10-minute churn of node attestations,
// node replacements and AIWorker updates (ATTESTOR_CHURN_MINUTES shortens it for a trial run).
import { describeOperatorMemory } from '../harness/operator-memory-suite.ts';

describeOperatorMemory(Number(process.env.ATTESTOR_CHURN_MINUTES ?? 10));
