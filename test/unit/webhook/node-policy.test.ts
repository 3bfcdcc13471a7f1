// The node gating ValidatingAdmissionPolicy as built: nodes and nodes/status, CREATE and UPDATE,
// fail closed, the operator exempt, Deny, scoped where asked. What its CEL decides is proven on
// the real API server (test/cluster/webhook.test.ts): only it evaluates CEL.
import assert from 'node:assert/strict';
import { LABEL_RULE, nodeGatingPolicy, TAINT_RULE } from '../../../src/webhook/node-policy.ts';

const OPERATOR = 'system:serviceaccount:attestor-system:attestor-operator';

describe('node gating policy (ValidatingAdmissionPolicy)', function () {
  it('judges nodes and nodes/status on CREATE and UPDATE, and fails closed', function () {
    const { policy } = nodeGatingPolicy({ operatorUsernames: [OPERATOR] });
    assert.equal(policy.metadata!.name, 'node-gating.attestor.dev');
    assert.equal(policy.spec!.failurePolicy, 'Fail');
    assert.deepEqual(policy.spec!.matchConstraints!.resourceRules, [
      {
        apiGroups: [''],
        apiVersions: ['v1'],
        operations: ['CREATE', 'UPDATE'],
        resources: ['nodes', 'nodes/status'],
        scope: 'Cluster',
      },
    ]);
    assert.deepEqual(
      policy.spec!.validations!.map((v) => v.expression),
      [LABEL_RULE, TAINT_RULE],
    );
    assert.ok(policy.spec!.validations!.every((v) => v.reason === 'Forbidden' && v.messageExpression));
  });

  it('exempts exactly the operator identities, quoted as CEL strings', function () {
    const { policy } = nodeGatingPolicy({ operatorUsernames: [OPERATOR, 'system:serviceaccount:x:"odd"'] });
    assert.deepEqual(policy.spec!.matchConditions, [
      {
        name: 'not-the-operator',
        expression: `!(request.userInfo.username in ["${OPERATOR}", "system:serviceaccount:x:\\"odd\\""])`,
      },
    ]);
    assert.throws(() => nodeGatingPolicy({ operatorUsernames: [] }), /at least one operator username/);
  });

  it('binds with Deny to every node, or to the nodes a selector picks', function () {
    const { binding } = nodeGatingPolicy({ operatorUsernames: [OPERATOR] });
    assert.deepEqual(binding.spec, { policyName: 'node-gating.attestor.dev', validationActions: ['Deny'] });
    const scoped = nodeGatingPolicy({
      name: 'x',
      operatorUsernames: [OPERATOR],
      nodeSelector: { matchLabels: { a: 'b' } },
    });
    assert.equal(scoped.policy.metadata!.name, 'x');
    assert.deepEqual(scoped.binding.spec, {
      policyName: 'x',
      validationActions: ['Deny'],
      matchResources: { objectSelector: { matchLabels: { a: 'b' } } },
    });
  });
});
