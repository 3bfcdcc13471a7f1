// The webhook configurations: fail closed, v1 only, both pod entries and bindings (no node
// webhook: a ValidatingAdmissionPolicy carries that rule), for a URL or a Service, with the
// caBundle and the selectors that scope them.
import assert from 'node:assert/strict';
import { allOf, webhookConfigurations, type WebhookConfigurationOptions } from '../../../src/webhook/configuration.ts';

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const options = (more: Partial<WebhookConfigurationOptions> = {}): WebhookConfigurationOptions => ({ endpoint: { url: 'https://127.0.0.1:9443/' }, caBundlePem: CA, ...more });

describe('webhook configurations', function () {
  it('fails closed, speaks v1, has no side effects and waits 10 s by default', function () {
    const { validating, mutating } = webhookConfigurations(options());
    const all = [...validating.webhooks!, ...mutating.webhooks!];
    assert.equal(all.length, 5);
    for (const w of all) {
      assert.equal(w.failurePolicy, 'Fail', w.name);
      assert.equal(w.sideEffects, 'None');
      assert.deepEqual(w.admissionReviewVersions, ['v1']);
      assert.equal(w.matchPolicy, 'Equivalent');
      assert.equal(w.timeoutSeconds, 10);
      assert.equal(Buffer.from(w.clientConfig.caBundle!, 'base64').toString('utf8'), CA);
    }
    assert.equal(validating.metadata!.name, 'attestor');
    assert.equal(webhookConfigurations(options({ timeoutSeconds: 3 })).validating.webhooks![0]!.timeoutSeconds, 3);
    assert.throws(() => webhookConfigurations(options({ timeoutSeconds: 31 })), /timeoutSeconds/);
  });

  it('routes each webhook to its path on the URL', function () {
    const { validating, mutating } = webhookConfigurations(options());
    assert.deepEqual(validating.webhooks!.map((w) => [w.name, w.clientConfig.url]), [
      ['ai-worker-pods.validate.attestor.dev', 'https://127.0.0.1:9443/validate-pods'],
      ['enforced-pods.validate.attestor.dev', 'https://127.0.0.1:9443/validate-pods'],
      ['bindings.validate.attestor.dev', 'https://127.0.0.1:9443/validate-bindings'],
    ]);
    assert.deepEqual(mutating.webhooks!.map((w) => w.clientConfig.url), ['https://127.0.0.1:9443/mutate-pods', 'https://127.0.0.1:9443/mutate-pods']);
  });

  it('routes to a Service for the Helm chart', function () {
    const { validating } = webhookConfigurations(options({ endpoint: { service: { namespace: 'attestor-system', name: 'attestor-webhook', port: 443 } } }));
    assert.deepEqual(validating.webhooks![2]!.clientConfig.service, { namespace: 'attestor-system', name: 'attestor-webhook', path: '/validate-bindings', port: 443 });
    assert.equal(validating.webhooks![2]!.clientConfig.url, undefined);
  });

  it('matches AI worker pods by labels and enforced namespaces by their label', function () {
    const [aiWorkers, enforced, bindings] = webhookConfigurations(options()).validating.webhooks!;
    assert.deepEqual(aiWorkers!.objectSelector, { matchLabels: { 'app.kubernetes.io/managed-by': 'attestor', 'app.kubernetes.io/name': 'ai-worker' } });
    assert.deepEqual(aiWorkers!.namespaceSelector, {});
    assert.deepEqual(enforced!.namespaceSelector, { matchLabels: { 'attestor.dev/enforce': 'true' } });
    assert.deepEqual(enforced!.objectSelector, {});
    assert.deepEqual(aiWorkers!.rules, [
      { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['pods'], scope: 'Namespaced' },
      { apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['pods/ephemeralcontainers'], scope: 'Namespaced' },
    ]);
    assert.deepEqual(bindings!.rules![0]!.resources, ['pods/binding', 'bindings']);
    assert.deepEqual(bindings!.namespaceSelector, { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] }] });
    const mutating = webhookConfigurations(options()).mutating.webhooks!;
    assert.deepEqual(mutating.map((w) => w.rules![0]!.operations), [['CREATE'], ['CREATE']]);
    assert.ok(mutating.every((w) => w.reinvocationPolicy === 'IfNeeded'));
  });

  it('has no node webhook: node registration never waits for the operator (issue 7 item 16)', function () {
    const { validating, mutating } = webhookConfigurations(options());
    for (const w of [...validating.webhooks!, ...mutating.webhooks!]) {
      for (const rule of w.rules ?? []) assert.ok(rule.resources!.every((r) => !r.startsWith('nodes')), `${w.name} matches ${rule.resources}`);
    }
  });

  it('excludes other namespaces from the binding webhook and narrows everything to a scope', function () {
    const scope = { namespaceSelector: { matchLabels: { 'test.attestor.dev/run': 'x' } } };
    const { validating, mutating } = webhookConfigurations(options({ excludedNamespaces: ['kube-system', 'attestor-system'], scope }));
    const [aiWorkers, enforced, bindings] = validating.webhooks!;
    assert.deepEqual(aiWorkers!.namespaceSelector, { matchLabels: { 'test.attestor.dev/run': 'x' } });
    assert.deepEqual(enforced!.namespaceSelector, { matchLabels: { 'attestor.dev/enforce': 'true', 'test.attestor.dev/run': 'x' } });
    assert.deepEqual(bindings!.namespaceSelector, { matchLabels: { 'test.attestor.dev/run': 'x' }, matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'attestor-system'] }] });
    assert.deepEqual(mutating.webhooks![1]!.namespaceSelector, enforced!.namespaceSelector);
  });

  it('keeps conflicting label values as a selector that matches nothing', function () {
    assert.deepEqual(allOf({ matchLabels: { a: '1' } }, { matchLabels: { a: '2' } }), { matchLabels: { a: '1' }, matchExpressions: [{ key: 'a', operator: 'In', values: ['2'] }] });
  });
});
