// The kstatus summary conditions (Ready, Reconciling, Stalled) of the three kinds: the pure rules
// that set them, and the CRD schemas that describe them to `kubectl explain`.
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import type { AIWorker } from '../../../src/api/aiworker.ts';
import type { Condition } from '../../../src/api/common.ts';
import { crds } from '../../../src/api/crds.ts';
import { setReadiness } from '../../../src/api/kstatus.ts';
import type { Manifest, ManifestSpec } from '../../../src/api/manifest.ts';
import { withNodeReadiness } from '../../../src/api/node-attestation-readiness.ts';
import type { JSONSchemaProps } from '../../../src/api/schema.ts';
import type { NodeClaims } from '../../../src/attestation/node-appraisal.ts';
import { reason } from '../../../src/attestation/verdict.ts';
import { desiredAIWorkerStatus } from '../../../src/controllers/aiworker/status.ts';
import { desiredManifestStatus } from '../../../src/controllers/manifest/status.ts';
import { activatedStatus, manifestChangedStatus, verdictStatus } from '../../../src/coordinator/status.ts';

const now = new Date('2026-06-01T12:00:00Z');
const later = new Date('2026-06-01T12:05:00Z');
const HASH = 'ab'.repeat(32);

const types = (conditions: readonly Condition[] | undefined) => (conditions ?? []).map((c) => c.type).sort();
const find = (conditions: readonly Condition[] | undefined, type: string) => conditions?.find((c) => c.type === type);

describe('kstatus summary conditions', () => {
  it('sets Ready True and removes Reconciling and Stalled once the object is ready', () => {
    const reconciling = setReadiness([], { state: 'Reconciling', reason: 'Progressing', message: '1/2' }, 3, now);
    assert.deepEqual(types(reconciling), ['Ready', 'Reconciling']);
    assert.equal(find(reconciling, 'Ready')!.status, 'False');
    assert.equal(find(reconciling, 'Reconciling')!.observedGeneration, 3);
    const ready = setReadiness(reconciling, { state: 'Ready', reason: 'Available', message: '2/2' }, 3, later);
    assert.deepEqual(types(ready), ['Ready']);
    assert.equal(find(ready, 'Ready')!.status, 'True');
    assert.equal(find(ready, 'Ready')!.lastTransitionTime, '2026-06-01T12:05:00Z');
  });

  it('a Stalled object is not Ready and not Reconciling, and keeps its other conditions', () => {
    const other: Condition = { type: 'Valid', status: 'False', reason: 'X', message: 'x', lastTransitionTime: 'T' };
    const list = setReadiness([other], { state: 'Stalled', reason: 'InvalidSpec', message: 'fix it' }, 1, now);
    assert.deepEqual(types(list), ['Ready', 'Stalled', 'Valid']);
    assert.equal(find(list, 'Ready')!.status, 'False');
    assert.equal(find(list, 'Stalled')!.status, 'True');
    assert.equal(find(list, 'Stalled')!.reason, 'InvalidSpec');
  });
});

describe('AIWorker Ready', () => {
  function worker(replicas = 2, deploymentModel?: 'confidential-node'): AIWorker {
    return {
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'AIWorker',
      metadata: { name: 'llama', namespace: 'ai', generation: 4, uid: 'w' },
      spec: {
        image: `registry.example/llm@sha256:${'0'.repeat(64)}`,
        model: 'm',
        replicas,
        runtimeClassName: 'kata',
        policy: { inline: 'p' },
        ...(deploymentModel ? { deploymentModel } : {}),
      },
    } as AIWorker;
  }
  function pod(uid: string, node = 'gpu-0', unschedulable = false): k8s.V1Pod {
    return {
      metadata: { uid, name: uid },
      spec: { nodeName: unschedulable ? undefined : node, containers: [] },
      status: unschedulable
        ? { conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' }] }
        : { phase: 'Running' },
    };
  }
  function status(
    w: AIWorker,
    o: { ready: number; pods?: k8s.V1Pod[]; certified?: string[]; violations?: boolean; policyError?: string },
  ) {
    return desiredAIWorkerStatus(w, {
      deployment: { status: { replicas: o.pods?.length ?? o.ready, readyReplicas: o.ready } },
      pods: o.pods ?? [],
      nodeLabels: (node): Record<string, string> => (node === 'gpu-0' ? { 'attestor.dev/gpu-attested': 'true' } : {}),
      certified: new Set(o.certified ?? []),
      policyHash: 'aa'.repeat(32),
      policyError: o.policyError,
      violations: o.violations ? [{ reason: 'PolicyNotAllowed', message: 'spec.policy: not allowed' }] : [],
      now,
    });
  }

  it('is not Ready while ready replicas lack a workload certificate (was "Ready=True 2/2 ready, 0 attested")', () => {
    const s = status(worker(), { ready: 2, pods: [pod('a'), pod('b')] });
    const ready = find(s.conditions, 'Ready')!;
    assert.equal(ready.status, 'False');
    assert.equal(ready.reason, 'AwaitingAttestation');
    assert.match(ready.message, /2\/2 replicas ready, but only 0 hold a current workload certificate/);
    assert.equal(find(s.conditions, 'Reconciling')!.status, 'True');
    assert.equal(find(s.conditions, 'Stalled'), undefined);
  });

  it('is Ready once every desired replica is ready and attested, with observedGeneration', () => {
    const s = status(worker(), { ready: 2, pods: [pod('a'), pod('b')], certified: ['a', 'b'] });
    const ready = find(s.conditions, 'Ready')!;
    assert.equal(ready.status, 'True');
    assert.equal(ready.reason, 'Available');
    assert.equal(ready.observedGeneration, 4);
    assert.equal(s.observedGeneration, 4);
    assert.deepEqual(types(s.conditions), ['PolicyCompliant', 'Ready']);
  });

  it('confidential-node: a certified pod off an attested node does not count towards Ready', () => {
    const s = status(worker(2, 'confidential-node'), {
      ready: 2,
      pods: [pod('a'), pod('b', 'gpu-9')],
      certified: ['a', 'b'],
    });
    assert.equal(s.attestedReplicas, 1);
    assert.equal(find(s.conditions, 'Ready')!.reason, 'AwaitingAttestation');
  });

  it('a worker that breaks the Manifest is Stalled, not progressing', () => {
    const s = status(worker(), { ready: 0, violations: true });
    assert.equal(find(s.conditions, 'Ready')!.status, 'False');
    assert.equal(find(s.conditions, 'Ready')!.reason, 'ManifestViolation');
    assert.equal(find(s.conditions, 'Stalled')!.status, 'True');
    assert.equal(find(s.conditions, 'Reconciling'), undefined);
  });

  it('a policy that cannot be read stalls the worker too', () => {
    const s = status(worker(), { ready: 0, policyError: 'ConfigMap ai/p not found' });
    assert.equal(find(s.conditions, 'Stalled')!.reason, 'PolicyNotFound');
  });

  it('pods waiting for an attested node with room: Reconciling, WaitingForAttestedNodes', () => {
    const s = status(worker(2, 'confidential-node'), { ready: 1, pods: [pod('a'), pod('b', '', true)] });
    assert.equal(find(s.conditions, 'Ready')!.reason, 'WaitingForAttestedNodes');
    assert.equal(find(s.conditions, 'Reconciling')!.status, 'True');
  });

  it('scaled to zero is Ready', () => {
    const s = status(worker(0), { ready: 0 });
    assert.equal(find(s.conditions, 'Ready')!.status, 'True');
    assert.equal(find(s.conditions, 'Ready')!.reason, 'ScaledToZero');
  });
});

describe('Manifest Ready', () => {
  const spec = { runtimeClasses: ['kata'] } as unknown as ManifestSpec;
  function manifest(): Manifest {
    return {
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'm', generation: 2 },
      spec,
    };
  }
  const other = { ...manifest(), metadata: { name: 'other' } };

  it('the active Manifest is Ready, with observedGeneration', () => {
    const s = desiredManifestStatus(manifest(), { hash: HASH, problems: [], standing: { active: true }, now });
    const ready = find(s.conditions, 'Ready')!;
    assert.equal(ready.status, 'True');
    assert.equal(ready.reason, 'Active');
    assert.equal(ready.observedGeneration, 2);
    assert.equal(s.observedGeneration, 2);
    assert.equal(find(s.conditions, 'Stalled'), undefined);
  });

  it('a valid superseded Manifest is Ready (kept for roll-back) and names the active one', () => {
    const s = desiredManifestStatus(manifest(), {
      hash: HASH,
      problems: [],
      standing: { active: false, reason: 'Superseded', by: other },
      now,
    });
    assert.equal(find(s.conditions, 'Ready')!.reason, 'Superseded');
    assert.match(find(s.conditions, 'Ready')!.message, /other is active/);
  });

  it('an invalid Manifest is Stalled', () => {
    const s = desiredManifestStatus(manifest(), {
      hash: HASH,
      problems: [{ path: 'spec.policies', message: 'is required' }],
      standing: { active: false, reason: 'Invalid' },
      now,
    });
    assert.equal(find(s.conditions, 'Ready')!.status, 'False');
    assert.equal(find(s.conditions, 'Stalled')!.reason, 'InvalidSpec');
  });

  it('a successor its predecessor’s owners did not sign is Stalled', () => {
    const s = desiredManifestStatus(manifest(), {
      hash: HASH,
      problems: [],
      standing: { active: false, reason: 'NotSignedByOwner', by: other, problems: [] },
      now,
    });
    assert.equal(find(s.conditions, 'Stalled')!.reason, 'NotSignedByOwner');
    assert.match(find(s.conditions, 'Stalled')!.message, /Manifest other lists owners/);
  });
});

describe('NodeAttestation Ready', () => {
  const claims: NodeClaims = {
    cvm: { platform: 'snp', verified: true, reasons: [], details: null },
    gpus: [{ uuid: 'GPU-0', verified: true, measurements: 'matched', reasons: [], details: {} as never }],
  };
  const accepted = () =>
    verdictStatus(undefined, {
      accepted: true,
      claims,
      reasons: [],
      manifestHash: HASH,
      simulated: false,
      now,
      expiresAt: new Date('2026-06-01T13:00:00Z'),
    });

  it('accepted evidence awaiting activation is Reconciling', () => {
    const s = accepted();
    assert.equal(find(s.conditions, 'Ready')!.status, 'False');
    assert.equal(find(s.conditions, 'Ready')!.reason, 'AwaitingActivation');
    assert.equal(find(s.conditions, 'Reconciling')!.status, 'True');
  });

  it('attested and activated is Ready, and says until when', () => {
    const s = activatedStatus(accepted(), ['GPU-0'], true, later);
    const ready = find(s.conditions, 'Ready')!;
    assert.equal(ready.status, 'True');
    assert.equal(ready.reason, 'Attested');
    assert.match(ready.message, /expires at 2026-06-01T13:00:00Z/);
    assert.deepEqual(types(s.conditions), ['Attested', 'GPUsActivated', 'Ready']);
  });

  it('an activated attestation past its expiry is Stalled (Expired), not Ready', () => {
    const active = activatedStatus(accepted(), ['GPU-0'], true, later);
    const expired = withNodeReadiness(active, new Date('2026-06-01T13:00:00Z'));
    assert.equal(find(expired.conditions, 'Ready')!.status, 'False');
    assert.equal(find(expired.conditions, 'Stalled')!.reason, 'Expired');
    assert.match(find(expired.conditions, 'Stalled')!.message, /expired at 2026-06-01T13:00:00Z/);
    const unreadable = withNodeReadiness({ ...active, expiresAt: 'soon' }, later);
    assert.equal(find(unreadable.conditions, 'Stalled')!.reason, 'Expired', 'an unreadable expiry fails closed');
  });

  it('refused evidence is Stalled; a failed read-back too', () => {
    const refused = verdictStatus(undefined, {
      accepted: false,
      claims,
      reasons: [reason('snp.measurement', 'the measurement is not in the Manifest')],
      manifestHash: HASH,
      simulated: false,
      now,
      expiresAt: now,
    });
    assert.equal(find(refused.conditions, 'Stalled')!.reason, 'EvidenceRefused');
    assert.match(find(refused.conditions, 'Stalled')!.message, /snp\.measurement/);
    const failed = activatedStatus(accepted(), ['GPU-0'], false, later);
    assert.equal(find(failed.conditions, 'Stalled')!.reason, 'ActivationFailed');
  });

  it('a new Manifest the node must attest again for is Reconciling, and a refused re-appraisal too', () => {
    const active = activatedStatus(accepted(), ['GPU-0'], true, later);
    const again = manifestChangedStatus(active, 'cd'.repeat(32), undefined, later);
    assert.equal(find(again.conditions, 'Ready')!.status, 'False');
    assert.equal(find(again.conditions, 'Reconciling')!.reason, 'ManifestChanged');
    const kept = manifestChangedStatus(active, 'cd'.repeat(32), [], later);
    assert.equal(find(kept.conditions, 'Ready')!.status, 'True');
    assert.match(find(kept.conditions, 'Ready')!.message, new RegExp(`Manifest ${'cd'.repeat(32)}`));
  });
});

describe('CRD status schemas for kubectl explain', () => {
  function undescribed(schema: JSONSchemaProps, path: string): string[] {
    const missing = schema.description ? [] : [path];
    for (const [key, child] of Object.entries(schema.properties ?? {}))
      missing.push(...undescribed(child, `${path}.${key}`));
    if (schema.items && !Array.isArray(schema.items)) {
      for (const [key, child] of Object.entries(schema.items.properties ?? {}))
        missing.push(...undescribed(child, `${path}[].${key}`));
    }
    return missing;
  }

  for (const crd of crds) {
    it(`${crd.spec.names.kind}: every status field has a description`, () => {
      const status = crd.spec.versions[0]!.schema.openAPIV3Schema.properties!.status!;
      assert.deepEqual(undescribed(status, 'status'), []);
    });
    it(`${crd.spec.names.kind}: status has observedGeneration and documents Ready`, () => {
      const status = crd.spec.versions[0]!.schema.openAPIV3Schema.properties!.status!;
      assert.ok(status.properties!.observedGeneration);
      assert.match(status.properties!.conditions!.description!, /Ready \(/);
    });
  }
});
