/**
 * The summary conditions every attestor kind carries, as kstatus (sigs.k8s.io/cli-utils
 * pkg/kstatus), Argo CD and Flux read them: `Ready` (normal-true: the object does what it should),
 * `Reconciling` (abnormal-true: the controller, or what it waits for, is still working towards it)
 * and `Stalled` (abnormal-true: it cannot get there without someone changing something). Ready is
 * always present; Reconciling and Stalled only while they are True, as kstatus recommends. Pure.
 */
import type { Condition } from './common.ts';
import { setCondition } from './conditions.ts';

export type Readiness =
  | { state: 'Ready'; reason: string; message: string }
  | { state: 'Reconciling'; reason: string; message: string }
  | { state: 'Stalled'; reason: string; message: string };

/** Sets Ready, and Reconciling or Stalled, from one readiness; keeps every other condition. */
export function setReadiness(
  conditions: readonly Condition[] | undefined,
  readiness: Readiness,
  observedGeneration: number | undefined,
  now: Date,
): Condition[] {
  const { reason, message } = readiness;
  let list = setCondition(
    conditions,
    { type: 'Ready', status: readiness.state === 'Ready' ? 'True' : 'False', reason, message, observedGeneration },
    now,
  );
  for (const type of ['Reconciling', 'Stalled'] as const) {
    list =
      readiness.state === type
        ? setCondition(list, { type, status: 'True', reason, message, observedGeneration }, now)
        : list.filter((c) => c.type !== type);
  }
  return list;
}
