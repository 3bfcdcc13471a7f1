// Refusals count once per check ID and subject; the collateral gauge keeps the latest nextUpdate per item.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { AppraisalMetrics } from '../../../src/coordinator/appraisal-metrics.ts';
import { value } from '../../harness/prometheus-text.ts';
import { vectorPath } from '../../vectors/paths.ts';

describe('appraisal metrics', () => {
  it('counts a refusal once under each distinct check ID its reasons name', async () => {
    const registry = new Registry();
    const metrics = new AppraisalMetrics(registry);
    metrics.refused([{ check: 'snp.measurement' }, { check: 'gpu.driver' }, { check: 'gpu.driver' }], 'node');
    metrics.refused([{ check: 'gpu.driver' }], 'workload');
    const text = await registry.metrics();
    const refusals = (check: string, subject: string) =>
      value(text, 'attestor_coordinator_refusals_total', { check, subject });
    assert.equal(refusals('snp.measurement', 'node'), 1);
    assert.equal(refusals('gpu.driver', 'node'), 1);
    assert.equal(refusals('gpu.driver', 'workload'), 1);
    assert.equal(refusals('snp.measurement', 'workload'), undefined);
  });

  it('exports the nextUpdate of the collateral an appraisal used, in Unix seconds', async () => {
    const registry = new Registry();
    const metrics = new AppraisalMetrics(registry);
    metrics.collateralUsed({
      tdx: { tcbInfo: readFileSync(vectorPath('tdx/collateral/sample_tcbInfo_response'), 'utf8') },
    });
    assert.equal(
      value(await registry.metrics(), 'attestor_collateral_next_update_timestamp_seconds', {
        kind: 'tdx-tcb-info',
        item: '50806f000000',
      }),
      Date.parse('2023-07-18T08:42:58Z') / 1000,
    );
  });
});
